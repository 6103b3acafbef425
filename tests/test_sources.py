"""The source registry: every entry has the parts its kind needs, the config schema's source enum and per-source
fields come from it, and a new source is one module (here: one entry registered by the test)."""

import ast
import copy
import subprocess
import sys
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from lshbench.config import ConfigError, datasets_of_kind, schema, split_sizes, validate
from lshbench.sources import EMBEDDED, IMPORTED, KINDS, REGISTRY, SYNTHETIC, open_split, source
from lshbench.sources.registry import NEEDS, Source, register

SCHEMA = "schemas/config.schema.yaml"
GOOD = {"datasets": [{"name": "digits", "source": "digits"}],
        "models": [{"name": "m", "arch": "resnet18", "weights": "none", "image_size": 32}]}


def config_with(dataset):
    config = copy.deepcopy(GOOD)
    config["datasets"].append(dataset)
    return config


@pytest.mark.parametrize("name", list(REGISTRY))
def test_every_source_has_the_parts_its_kind_needs(repo, name):
    entry = REGISTRY[name]
    assert entry.kind in KINDS and entry.title
    for part in NEEDS[entry.kind]:
        assert getattr(entry, part) is not None, f"{name} lacks {part}"
    for part in ("prepare", "open_split", "load", "synthesize"):
        assert getattr(entry, part) is None or callable(getattr(entry, part))
    assert set(entry.required) <= set(entry.fields)
    for spec in entry.fields.values():
        jsonschema.Draft202012Validator.check_schema(spec)
    assert (repo / (entry.module.replace(".", "/") + ".py")).is_file()


def test_schema_takes_the_source_enum_and_fields_from_the_registry(repo):
    items = schema(repo / SCHEMA)["properties"]["datasets"]["items"]
    assert items["properties"]["source"]["enum"] == list(REGISTRY)
    for name, entry in REGISTRY.items():
        for key in entry.fields:
            assert name in items["properties"][key]["description"].split(" only;")[0]
    required = {rule["if"]["properties"]["source"]["const"]: rule["then"]["required"] for rule in items["allOf"]}
    assert required == {name: list(e.required) for name, e in REGISTRY.items() if e.required}


@pytest.mark.parametrize("name, field", [(n, f) for n, e in REGISTRY.items() for f in e.required])
def test_a_required_field_missing_is_a_parse_time_error_naming_it(repo, tmp_path, name, field):
    dataset = {"name": "other", "source": name, "hf_id": "x/y", "path": str(tmp_path), "space": "feats",
               "gallery_file": str(tmp_path / "g.npy"), "query_file": str(tmp_path / "q.npy")}
    del dataset[field]
    dataset = {k: v for k, v in dataset.items() if k in ("name", "source") or k in REGISTRY[name].fields}
    with pytest.raises(ConfigError, match=rf"datasets\[1\]: '{field}' is a required property"):
        validate(config_with(dataset), repo / SCHEMA)


@pytest.fixture
def toy():
    """A source registered by the test, as a module would: its field, required, in the schema; removed after."""
    entry = register(Source(
        name="toy", title="a test's source", module=__name__, kind=EMBEDDED,
        fields={"shards": {"type": "string", "description": "a folder of tar shards"}}, required=("shards",),
        checks=lambda dataset, where: None if dataset["shards"].endswith("/") else (_ for _ in ()).throw(
            ValueError(f"{where}.shards: {dataset['shards']} must end with /")),
        classes=3, sizes=lambda dataset, scale: {"gallery": 12, "query": 6},
        prepare=lambda cfg, root: {}, open_split=lambda cfg, root, split, image_size: None))
    yield entry
    del REGISTRY["toy"]


def test_a_new_source_is_one_registration(repo, toy):
    from lshbench.config import check

    with pytest.raises(ConfigError, match=r"datasets\[1\]: 'shards' is a required property"):
        validate(config_with({"name": "mine", "source": "toy"}), repo / SCHEMA)
    config = config_with({"name": "mine", "source": "toy", "shards": "data"})
    validate(config, repo / SCHEMA)
    with pytest.raises(ConfigError, match=r"datasets\[1\] \('mine'\).shards: data must end with /"):
        check(config)
    config["datasets"][1]["shards"] = "data/"
    check(config)
    assert split_sizes(config["datasets"][1]) == {"gallery": 12, "query": 6}
    assert list(datasets_of_kind(config, EMBEDDED)) == ["digits", "mine"]
    config["datasets"][1]["gallery_limit"] = 2
    with pytest.raises(ConfigError, match=r"gallery_limit: 2 is below the 3 classes of toy"):
        check(config)


def test_register_refuses_an_incomplete_or_conflicting_source():
    with pytest.raises(ValueError, match="declares no open_split"):
        register(Source(name="half", title="", module=__name__, kind=EMBEDDED, prepare=lambda cfg, root: {}))
    with pytest.raises(ValueError, match="field 'query_fraction' differs from source"):
        register(Source(name="odd", title="", module=__name__, kind=SYNTHETIC, synthesize=lambda *a: {},
                        fields={"query_fraction": {"type": "number"}}))
    with pytest.raises(ValueError, match="required fields \\['space'\\] are not among its fields"):
        register(Source(name="odd", title="", module=__name__, kind=IMPORTED, load=lambda cfg: None,
                        space="space", required=("space",)))
    assert "half" not in REGISTRY and "odd" not in REGISTRY


@pytest.mark.parametrize("name", [n for n, e in REGISTRY.items() if e.kind == EMBEDDED and n in ("mnist5k", "digits")])
def test_sizes_known_before_download_are_the_opened_sizes(tmp_path, name):
    cfg = {"name": name, "source": name, "seed": 0, "query_fraction": 0.15, "gallery_limit": None,
           "query_limit": 90}
    sizes = split_sizes(cfg)
    assert sizes["query"] == 90
    for split in ("gallery", "query"):
        opened = open_split(cfg, tmp_path, split, image_size=8)
        assert len(opened) == sizes[split] and source(name).classes == len(np.unique(opened.labels))


def test_sources_import_nothing_heavy_and_nothing_above_them(repo):
    code = ("import sys, lshbench.sources; heavy = {'torch', 'torchvision', 'datasets', 'sklearn'} & set(sys.modules); "
            "assert not heavy, heavy")
    result = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    above = {"config", "methods", "embed", "decode", "workflow", "evaluate", "tables", "plots", "pictures", "verify",
             "batch"}
    for path in (repo / "lshbench" / "sources").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 2:
                assert (node.module or "").split(".")[0] not in above, f"{path.name} imports lshbench.{node.module}"
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [node.module] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                assert not any((n or "").startswith("lshbench.") for n in names), f"{path.name}: absolute import"


def test_docs_name_every_source_and_field_and_the_worked_example_registers(repo):
    from lshbench.config import check

    text = (repo / "docs" / "sources.md").read_text()
    for name, entry in REGISTRY.items():
        assert f"`{name}`" in text and f"`{entry.module.rsplit('.', 1)[1]}.py`" in text
        for key in entry.fields:
            assert f"`{key}`" in text, (name, key)
    example = text.split("```python\n")[1].split("```")[0]
    namespace = {"__name__": "lshbench.sources.stl10", "__package__": "lshbench.sources"}
    exec(compile(example, "docs/sources.md", "exec"), namespace)
    try:
        config = config_with({"name": "stl", "source": "stl10", "gallery_limit": 5})
        validate(config, repo / SCHEMA)
        with pytest.raises(ConfigError, match=r"datasets\[1\] \('stl'\).gallery_limit: 5 is below the 10 classes"):
            check(config)
        assert list(datasets_of_kind(config, EMBEDDED)) == ["digits", "stl"]
    finally:
        del REGISTRY["stl10"]
