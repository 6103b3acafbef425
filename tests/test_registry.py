"""The method registry: every method's entry is consistent with its Index class, and what the workflow derives from
the registry (schema, plan, folder names, build/load dispatch, parameters in index.json) holds for every method."""

import importlib.util
import inspect
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from lshbench.config import ConfigError, plan, schema, validate
from lshbench.methods import REGISTRY, load_index
from lshbench.methods.base import Index
from lshbench.methods.registry import Method, Training, format_params, register

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


# Registered methods the demo preset runs only in the Hamming-ranking protocol (spaces and hamming.bits, no bucket
# grid, to keep the demo short): the grid the registry tests give them.
HAMMING_ONLY_IN_DEMO = {"pcah": {"H": [8, 16]}, "spectral": {"H": [8, 16]}}


def demo_grid(config, name):
    """The method's grid on the first demo dataset that runs it. Every registered method must be in the demo preset
    (that is how the registry tests reach it) or in HAMMING_ONLY_IN_DEMO, so a method missing there fails here instead of
    being skipped."""
    if REGISTRY[name].baseline:
        return {}
    for dataset in config["datasets"]:
        if name in (dataset.get("grids") or {}):
            return dataset["grids"][name]
    if name in HAMMING_ONLY_IN_DEMO:
        return HAMMING_ONLY_IN_DEMO[name]
    raise AssertionError(f"method '{name}' is registered but presets/demo.yaml gives it no grid: add one under a "
                         f"dataset's grids and methods.{name}.spaces, so the registry tests and the demo run it")


@pytest.mark.parametrize("name", [n for n, e in REGISTRY.items() if not e.baseline])
def test_a_key_names_its_folders_and_types_its_values(repo, name):
    """A configuration's key (lshbench.layout) gives its folder name, distinct per configuration and with no comma,
    and its values typed as the method declares them (the seed last): nothing is read back from a name."""
    from lshbench.layout import Key
    from lshbench.methods.registry import format_params

    entry = REGISTRY[name]
    config = small_config(repo)
    grid = demo_grid(config, name)
    planned = entry.plan(grid, config["methods"][name], [0, 1])
    keys = [Key.of("d", "s", name, params) for params in planned]
    assert [k.folder for k in keys] == [entry.folder(p) for p in planned]
    assert len({k.folder for k in keys}) == len(keys) and not any("," in k.folder for k in keys)
    seed = [int] if entry.seeded else []  # then the replicate's seed, for a randomised method
    for key, params in zip(keys, planned):
        assert key.settings == params and key.seed == params.get("seed")
        assert [type(v) for v in key.settings.values()] == [*entry.params.values(), *seed]
        assert key.configuration == format_params({k: v for k, v in params.items() if k != "seed"})


def test_methods_the_demo_runs_only_in_the_hamming_protocol_have_no_grid_there(repo):
    from lshbench.config import hamming_plan

    config = small_config(repo)
    ranked = {key.method for _, key in hamming_plan(config)}
    for name in HAMMING_ONLY_IN_DEMO:
        assert name in REGISTRY and name in ranked
        assert not any(name in (d.get("grids") or {}) for d in config["datasets"]), \
            f"'{name}' has a grid in presets/demo.yaml now: remove it from HAMMING_ONLY_IN_DEMO"


def test_a_deterministic_method_runs_once_per_configuration():
    """randomised=False (PCAH, spectral hashing): no replicate per seed, no seed in the folder name, as exact search;
    a randomised method gets one folder per seed."""
    deterministic = Method(name="fixed", title="x", index="X", module="m", params={"H": int}, grid={"H": {}},
                           axis="H", randomised=False)
    randomised = Method(name="drawn", title="x", index="X", module="m", params={"H": int}, grid={"H": {}}, axis="H")
    assert not deterministic.seeded and randomised.seeded
    assert deterministic.plan({"H": [4, 8]}, {}, seeds=[0, 1]) == [{"H": 4}, {"H": 8}]
    assert [randomised.folder(p) for p in randomised.plan({"H": [4]}, {}, seeds=[0, 1])] == ["H=4_seed=0",
                                                                                           "H=4_seed=1"]
    assert deterministic.folder({"H": 4}) == "H=4"
    with pytest.raises(ValueError, match="seed"):  # a deterministic method's folder holds no seed
        deterministic.folder({"H": 4, "seed": 0})


def test_keys_and_values_may_hold_underscores():
    entry = Method(name="probing", title="x", index="X", module="m",
                   params={"H": int, "probes_radius": int, "networks": str, "center": bool},
                   grid={"H": {}, "probes_radius": {}}, settings={"networks": {}, "center": {}})
    params = {"H": 16, "probes_radius": 2, "networks": "per_table", "center": True, "seed": 3}
    assert entry.folder(params) == "H=16_probes_radius=2_networks=per_table_center=true_seed=3"


def test_plan_lists_every_configured_method(repo):
    config = small_config(repo)
    methods = {k.method for k in plan(config)}
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
    grid = demo_grid(config, name)
    params = entry.plan(grid, config["methods"][name])[0] if not entry.baseline else {}
    generator = torch.Generator().manual_seed(0)
    # 300: IVF-PQ's sub-quantisers of 8 bits train 256 centroids each
    gallery, labels = torch.randn(300, 32, generator=generator).relu(), torch.randint(5, (300,), generator=generator)
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
    if cls.load.__func__ is Index.load.__func__:  # the default load calls cls(**params(), device=...)
        arguments = inspect.signature(cls.__init__).parameters
        assert set(saved) <= set(arguments), f"{name}: params() keys {set(saved) - set(arguments)} are not " \
                                             f"arguments of {cls.__name__}.__init__, so the default load fails"
    loaded = load_index(tmp_path)
    before, after = index.candidates(queries), loaded.candidates(queries)
    assert torch.equal(before.counts(), after.counts())
    for i in range(len(queries)):
        assert torch.equal(before.row(i), after.row(i))
        if before.ids is not None:  # CSR: de-duplicated and ascending, the tie-break of the ranking relies on it
            assert bool((before.row(i)[1:] > before.row(i)[:-1]).all()), f"{name}: query {i}'s ids are not ascending"


# --- registration checks: what the tables, plots and folder names rely on fails at register(), naming the field ----

def entry(**fields):
    base = dict(name="broken", title="x", index="X", module="tests.broken", params={"B": int, "L": int},
                grid={"B": {}, "L": {}}, axis="B", table="broken", series=("L",))
    return Method(**{**base, **fields})


@pytest.mark.parametrize("fields, message", [
    ({"axis": None}, "axis= is required"),
    ({"params": {"B": float, "L": int}}, "axis 'B' must be a folder parameter of type int"),
    ({"axis": "Q"}, "axis 'Q' must be a folder parameter of type int"),
    ({"series": ("L", "center")}, r"series \['center'\] are not folder parameters"),
    ({"table": "figure1_kmeans"}, "already the table of method 'kmeans'"),
    ({"table": "my table"}, "table name 'my table'"),
    ({"params": {"B": int, "L": list}}, "are not int, float, bool or str"),
    ({"training": Training(keys=("epochs",), train=None, table="broken_loss", caption="", curves={})},
     r"training keys \['epochs'\] are not folder parameters"),
])
def test_register_rejects_an_entry_the_tables_cannot_use(fields, message):
    with pytest.raises(ValueError, match=message):
        register(entry(**fields))
    assert "broken" not in REGISTRY


# --- the template method (tests/data/template_method.py, docs/methods.md): a complete method, run as the workflow does

TEMPLATE = Path(__file__).parent / "data" / "template_method.py"


@pytest.fixture
def template():
    """Import the template as the workflow imports a method module (which registers it); unregister it after."""
    spec = importlib.util.spec_from_file_location("template_method", TEMPLATE)
    module = importlib.util.module_from_spec(spec)
    sys.modules["template_method"] = module
    try:
        spec.loader.exec_module(module)
        yield REGISTRY["template"]
    finally:
        REGISTRY.pop("template", None)
        sys.modules.pop("template_method", None)


def brute_force_metrics(gallery, gallery_labels, queries, query_labels, candidates, exact):
    """The metrics of docs/evaluation.md, one query at a time in NumPy."""
    import numpy as np

    g = gallery / np.linalg.norm(gallery, axis=1, keepdims=True)
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    out = {k: [] for k in ("precision_at_10", "precision_at_50", "strict_precision_at_10", "average_precision",
                           "average_precision_all", "recall_at_10", "n_candidates")}
    for i, ids in enumerate(candidates):
        ids = np.asarray(sorted(ids), dtype=np.int64)
        scores = (g[ids] @ q[i]).astype(np.float32)
        order = np.lexsort((ids, -scores))  # similarity descending, then gallery position ascending
        rel = (gallery_labels[ids[order]] == query_labels[i]).astype(float)
        n = len(ids)
        for k in (10, 50):
            m = min(k, n)
            out[f"precision_at_{k}"].append(rel[:m].sum() / m if m else 0.0)
        out["strict_precision_at_10"].append(rel[:10].sum() / 10)
        ap_sum = (rel * np.cumsum(rel) / np.arange(1, n + 1)).sum() if n else 0.0
        out["average_precision"].append(ap_sum / rel.sum() if rel.sum() else 0.0)
        out["average_precision_all"].append(ap_sum / (gallery_labels == query_labels[i]).sum())
        out["recall_at_10"].append((scores[order][:10] >= exact[i, 9] - 1e-5).sum() / 10)
        out["n_candidates"].append(n)
    return {k: np.asarray(v) for k, v in out.items()}


def test_template_method_runs_through_the_workflow_path(template, tmp_path, monkeypatch):
    """Registered, built and evaluated by run_batch (the run_method job's code), saved, reloaded by load_index; its
    candidates and every metric agree with a brute-force computation; a second run keeps every configuration."""
    import numpy as np
    import pandas as pd

    from builders import write_clustered_space
    from lshbench.batch import run_batch
    from lshbench.layout import Key, configuration_folder, index_folder
    from lshbench.metrics import write_metrics
    from lshbench.split import query_split
    from lshbench.ranking import read_ranking
    from lshbench.tables import figure_cells

    monkeypatch.chdir(tmp_path)
    gallery, query, exact = write_clustered_space(tmp_path)

    grid = {"B": [1, 4, 16], "L": [1, 3]}
    plan = template.plan(grid, {})
    assert [template.folder(p) for p in plan][:2] == ["B=1_L=1_seed=0", "B=1_L=3_seed=0"]
    configs = [Key.of("toy", "raw", "template", p) for p in plan]
    run = lambda: run_batch(configs, gallery=gallery, query=query, exact_scores=exact,  # noqa: E731
                            inputs={"gallery": "gallery.parquet", "query": "query.parquet"}, settings={}, seed=0,
                            device=torch.device("cpu"), memory_mb=64, latency_queries=5, progress=False)
    assert [row["status"] for row in run()] == ["built"] * len(configs)
    for config in configs:  # the metrics job's work
        folder = Path(configuration_folder(config))
        write_metrics(folder, read_ranking(folder / "ranking.parquet"), gallery.labels, exact,
                      query_split(query.ids, query.labels, 0.2))

    rows = []
    for params, config in zip(plan, configs):
        index = load_index(Path(index_folder(config)))
        assert index.params() == {**params, "seed": 0}
        slabs = index.assignment.numpy()  # (L, N): per table, equal shares of the gallery
        for table in slabs:
            sizes = np.bincount(table, minlength=params["B"])
            assert len(sizes) == params["B"] and sizes.max() - sizes.min() <= 1
        query_slabs = np.stack([np.searchsorted(e, p, side="right") for e, p in
                                zip(index.edges.numpy(), (query.vectors @ index.directions.numpy()).T)])
        expected = [{int(j) for t in range(params["L"]) for j in np.flatnonzero(slabs[t] == query_slabs[t, i])}
                    for i in range(len(query))]
        found = index.candidates(torch.from_numpy(query.vectors))
        assert [set(found.row(i).tolist()) for i in range(len(query))] == expected
        brute = brute_force_metrics(gallery.vectors, gallery.labels, query.vectors, query.labels, expected, exact)
        per_query = pd.read_parquet(Path(configuration_folder(config)) / "per_query.parquet")
        for name, values in brute.items():
            np.testing.assert_allclose(per_query[name], values, atol=1e-6, err_msg=f"{config.folder} {name}")
        metrics = pd.read_csv(Path(configuration_folder(config)) / "metrics.csv")
        assert metrics.loc[0, "B"] == params["B"] and metrics.loc[0, "L"] == params["L"]
        assert metrics.loc[0, "mAP"] == pytest.approx(brute["average_precision"].mean(), abs=1e-6)
        rows.append(metrics)
    assert rows[0].loc[0, "mean_candidates"] == 400  # B=1: one slab, the whole gallery
    from lshbench.evidence import read_metrics

    assert read_metrics(configs).drop(columns="configuration").equals(pd.concat(rows, ignore_index=True))
    cells = figure_cells(read_metrics(configs), "template")
    assert sorted(set(cells["value"])) == [1, 4, 16] and set(cells["block"]) == {"#Hashtables = 1", "#Hashtables = 3"}
    assert [row["status"] for row in run()] == ["kept"] * len(configs)  # nothing changed: nothing is rebuilt
