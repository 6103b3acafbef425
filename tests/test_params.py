from lshbench.config import format_params, parse_params


def test_params_round_trip_without_commas():
    for params in ({"K": 100, "probes": 1}, {"H": 8, "L": 6, "center": False},
                   {"H": 800, "J": 16, "L": 8, "networks": "per_table"}, {}):
        text = format_params(params)
        assert "," not in text  # cluster jobs receive their wildcards comma-separated
        assert parse_params(text) == params
    assert format_params({"H": 8, "L": 6, "center": True}) == "H=8_L=6_center=true"
