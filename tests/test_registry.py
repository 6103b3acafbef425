"""The method registry: every method's entry is consistent with its Index class, and what the workflow derives from
the registry (schema, plan, folder names, build/load dispatch, parameters in index.json) holds for every method."""

import json
import subprocess
import sys

import pytest
import torch
import yaml

from lshbench.config import ConfigError, plan, schema, validate
from lshbench.methods import REGISTRY, load_index
from lshbench.methods.base import Index
from lshbench.methods.registry import Method, format_params, register

SCHEMA = "schemas/config.schema.yaml"


def test_config_imports_without_torch(repo):
    code = ("import sys, lshbench.config, lshbench.tables, lshbench.plots; "
            "print(sorted(lshbench.config.REGISTRY)); assert 'torch._C' not in sys.modules, 'torch was imported'")
    result = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "kmeans" in result.stdout


def test_schema_has_every_method_block_and_grid(repo):
    full = schema(repo / SCHEMA)
    methods = full["properties"]["methods"]["properties"]
    grids = full["properties"]["datasets"]["items"]["properties"]["grids"]["properties"]
    assert set(methods) == set(REGISTRY)
    assert set(grids) == {name for name, entry in REGISTRY.items() if entry.grid}
    assert grids["kmeans"]["required"] == ["K"] and grids["neural"]["required"] == ["J"]


def test_validate_fills_defaults_and_names_the_field(repo):
    config = yaml.safe_load((repo / "presets" / "demo.yaml").read_text())
    validate(config, repo / SCHEMA)
    assert config["methods"]["kmeans"]["algorithm"] == "lloyd" and config["methods"]["neural"]["H"] == 800
    config["datasets"][0]["grids"]["hyperplane"]["H"] = ["eight"]
    with pytest.raises(ConfigError, match=r"datasets\[0\].grids.hyperplane.H\[0\]: 'eight' is not of type 'integer'"):
        validate(config, repo / SCHEMA)


def small_config(repo):
    config = yaml.safe_load((repo / "presets" / "demo.yaml").read_text())
    validate(config, repo / SCHEMA)
    return config


@pytest.mark.parametrize("name", [n for n, e in REGISTRY.items() if not e.baseline])
def test_folder_names_round_trip(repo, name):
    entry = REGISTRY[name]
    config = small_config(repo)
    grid = config["datasets"][0]["grids"].get(name)
    if grid is None:
        pytest.skip(f"{name} is not in the demo preset")
    for params in entry.plan(grid, config["methods"][name]):
        folder = entry.folder(params)
        assert "," not in folder and entry.parse(folder) == params
        assert [type(v) for v in entry.parse(folder).values()] == list(entry.params.values())
    with pytest.raises(ValueError, match="does not have the parameters"):
        entry.parse("Q=1")


def test_keys_and_values_may_hold_underscores():
    entry = Method(name="probing", title="x", index="X", module="m",
                   params={"H": int, "probes_radius": int, "networks": str, "center": bool},
                   grid={"H": {}, "probes_radius": {}}, settings={"networks": {}, "center": {}})
    params = {"H": 16, "probes_radius": 2, "networks": "per_table", "center": True}
    assert entry.parse(entry.folder(params)) == params
    with pytest.raises(ValueError, match="center"):
        entry.parse("H=16_probes_radius=2_networks=shared_center=maybe")


def test_plan_lists_every_configured_method(repo):
    config = small_config(repo)
    methods = {m for _, _, m, _ in plan(config)}
    assert methods == {n for n in REGISTRY if any(n in (d.get("grids") or {}) for d in config["datasets"])} | {
        "exact"}


def test_format_params_has_no_commas():
    assert format_params({"H": 8, "L": 6, "center": True}) == "H=8_L=6_center=true"
    assert format_params({}) == "all"


def test_a_name_is_registered_once():
    with pytest.raises(ValueError, match="registered twice"):
        register(Method(name="kmeans", title="x", index="X", module="elsewhere", params={}))


def trained_arrays(name, params, gallery, labels):
    training = REGISTRY[name].training
    if training is None:
        return None
    settings = {key: params[key] for key in training.keys}
    arrays, _ = training.train(gallery, labels, {**settings, "epochs": 1}, seed=0)
    return arrays


@pytest.mark.parametrize("name", list(REGISTRY))
def test_params_travel_once_and_load_rebuilds(repo, name, tmp_path):
    """Build from the folder parameters as the workflow does, save, load: index.json's params contain the folder's
    values unchanged, and the loaded index gives the same candidates."""
    entry = REGISTRY[name]
    config = small_config(repo)
    grid = config["datasets"][1]["grids"].get(name, {})
    if not entry.baseline and not grid:
        pytest.skip(f"{name} is not in the demo preset")
    params = entry.plan(grid, config["methods"][name])[0] if not entry.baseline else {}
    generator = torch.Generator().manual_seed(0)
    gallery, labels = torch.randn(200, 32, generator=generator).relu(), torch.randint(5, (200,), generator=generator)
    queries = torch.randn(20, 32, generator=generator).relu()
    settings = entry.build_settings(config["methods"][name], grid) if not entry.baseline else {}
    cls = entry.index_class()
    assert issubclass(cls, Index) and cls.method == name
    index = cls.build(params, seed=3, device="cpu", trained=trained_arrays(name, params, gallery, labels), **settings)
    index.fit(gallery, labels)
    index.save(tmp_path)
    saved = json.loads((tmp_path / "index.json").read_text())["params"]
    assert {k: saved[k] for k in params} == params
    assert entry.folder({k: saved[k] for k in params}) == entry.folder(params)
    loaded = load_index(tmp_path)
    before, after = index.candidates(queries), loaded.candidates(queries)
    assert torch.equal(before.counts(), after.counts())
    for i in range(len(queries)):
        assert torch.equal(before.row(i), after.row(i))
