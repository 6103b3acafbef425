"""Checks on a config that JSON Schema cannot express, and the names derived from it (embedding spaces).

Imported when Snakemake parses the workflow, so it imports no torch: parsing stays fast (every cluster job re-parses)."""

from __future__ import annotations

import copy
import math
import re
from pathlib import Path

from .methods import REGISTRY

# The report's backbones; any torchvision classification model name is accepted (its feature size is read from the
# model in the embedding job), these are the ones whose feature size is known at parse time.
ARCHS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")
# Every torchvision classification model with a linear classifier to remove (SqueezeNet's is a convolution): shipped as
# a list so that parsing needs no torch; tests/test_config.py checks it against the installed torchvision.
TORCHVISION_MODELS = tuple((Path(__file__).parent / "data" / "torchvision_models.txt").read_text().split())
# Strings that become paths must match these whole (JSON Schema's "$" also matches before a final newline).
NAME = re.compile(r"[a-z][a-z0-9_]*")
WEIGHTS_NAME = re.compile(r"[A-Z0-9_]+")
DEVICE = re.compile(r"auto|cpu|cuda(:[0-9]+)?|mps")
# Sizes known before any download: classes, and the gallery/query sizes (or the total, split by query_fraction).
KNOWN_SOURCES = {"cifar10": {"classes": 10, "gallery": 50000, "query": 10000},
                 "cifar100": {"classes": 100, "gallery": 50000, "query": 10000},
                 "mnist5k": {"classes": 10, "total": 5000}, "digits": {"classes": 10, "total": 1797}}
FEATURE_DIMS = {"resnet18": 512, "resnet34": 512, "resnet50": 2048, "resnet101": 2048, "resnet152": 2048}


def weights_kind(weights: str) -> str:
    """'random' for none, 'named' for a torchvision weights name (IMAGENET1K_V1, DEFAULT, ...), else 'file'."""
    if weights.lower() == "none":
        return "random"
    if weights.replace("_", "").isalnum() and weights.upper() == weights:
        return "named"
    return "file"


class ConfigError(ValueError):
    """A config value is wrong; the message names the field."""


def pca_space_names(model: dict) -> list[str]:
    """'{model}-pca{dims}' for each configured dimension, '{model}-pcavar{percent}' for each variance target."""
    pca = model.get("pca") or {}
    names = [f"{model['name']}-pca{d}" for d in pca.get("dims", [])]
    names += [f"{model['name']}-pcavar{v * 100:g}" for v in pca.get("variance", [])]
    return names


def parse_pca_space(space: str) -> tuple[str, str, float]:
    """'resnet18-pca248' -> ('resnet18', 'dims', 248); 'resnet18-pcavar95' -> ('resnet18', 'variance', 0.95)."""
    model, _, spec = space.rpartition("-pca")
    if spec.startswith("var"):
        return model, "variance", float(spec[3:]) / 100
    return model, "dims", int(spec)


def split_sizes(dataset: dict, scale: float = 1.0) -> dict[str, int] | None:
    """Gallery and query sizes after the limits, where known before any download (None for Hugging Face and
    ImageFolder sources); a split by query_fraction is scikit-learn's train_test_split (ceil for the test part);
    synthetic sizes are multiplied by the config's scale."""
    if dataset["source"] == "synthetic":
        return {split: max(dataset["classes"], round(dataset[f"{split}_size"] * scale)) for split in ("gallery", "query")}
    known = KNOWN_SOURCES.get(dataset["source"])
    if known is None:
        return None
    if "total" in known:
        query = math.ceil(dataset.get("query_fraction", 0.2) * known["total"])
        sizes = {"gallery": known["total"] - query, "query": query}
    else:
        sizes = {"gallery": known["gallery"], "query": known["query"]}
    for split in sizes:
        limit = dataset.get(f"{split}_limit")
        if limit is not None:
            sizes[split] = min(sizes[split], limit)
    return sizes


def check_sizes(dataset: dict, where: str) -> None:
    """Stratified splits and limits need at least one image per class; K needs at least K gallery images."""
    known = KNOWN_SOURCES.get(dataset["source"])
    for split in ("gallery", "query"):
        limit = dataset.get(f"{split}_limit")
        if known and limit is not None and limit < known["classes"]:
            raise ConfigError(f"{where}.{split}_limit: {limit} is below the {known['classes']} classes of "
                              f"{dataset['source']}; a stratified subset needs at least one image per class")
    sizes = split_sizes(dataset)
    if sizes is None:
        return
    if known and "total" in known and sizes["query"] < known["classes"]:
        raise ConfigError(f"{where}.query_fraction: {dataset.get('query_fraction')} gives {sizes['query']} queries, "
                          f"fewer than the {known['classes']} classes; raise it")


def check_imported(config: dict, dataset: dict, where: str) -> None:
    """Precomputed features: the files exist, .npy vectors come with labels, the space name is free."""
    if not NAME.fullmatch(dataset["space"]):
        raise ConfigError(f"{where}.space: {dataset['space']!r} must be lower-case letters, digits and underscores")
    if dataset["space"] in model_spaces(config):
        raise ConfigError(f"{where}.space: '{dataset['space']}' is also a model's space; name the imported features "
                          f"differently")
    for split in ("gallery", "query"):
        path = Path(dataset[f"{split}_file"])
        if not path.is_file():
            raise ConfigError(f"{where}.{split}_file: {path} does not exist")
        labels = dataset.get(f"{split}_labels")
        if path.suffix == ".npy" and not labels:
            raise ConfigError(f"{where}.{split}_labels: .npy vectors need a labels file (.npy or one integer per line)")
        if labels and not Path(labels).is_file():
            raise ConfigError(f"{where}.{split}_labels: {labels} does not exist")


def check_names(config: dict) -> None:
    """Every string that becomes a path (or selects a device) matches its pattern whole."""
    for i, dataset in enumerate(config["datasets"]):
        if not NAME.fullmatch(dataset["name"]):
            raise ConfigError(f"datasets[{i}].name: {dataset['name']!r} must be lower-case letters, digits and "
                              f"underscores, starting with a letter (it becomes results/{{name}}/)")
    for i, model in enumerate(config["models"]):
        if not NAME.fullmatch(model["name"]):
            raise ConfigError(f"models[{i}].name: {model['name']!r} must be lower-case letters, digits and "
                              f"underscores, starting with a letter (it becomes a folder name)")
        if weights_kind(model["weights"]) == "named" and not WEIGHTS_NAME.fullmatch(model["weights"]):
            raise ConfigError(f"models[{i}].weights: {model['weights']!r} is not a torchvision weights name")
    if not DEVICE.fullmatch(config["device"]):
        raise ConfigError(f"device: {config['device']!r} must be auto, cpu, cuda, cuda:N or mps")


def check(config: dict) -> None:
    """Raise ConfigError for what the schema cannot see: duplicate names, missing files, impossible sizes."""
    check_names(config)
    seen: set[str] = set()
    for i, dataset in enumerate(config["datasets"]):
        where = f"datasets[{i}] ('{dataset['name']}')"
        check_sizes(dataset, where)
        if dataset["source"] == "embeddings":
            check_imported(config, dataset, where)
        if dataset["source"] == "synthetic":
            unknown = [m["arch"] for m in config["models"] if m["arch"] not in FEATURE_DIMS]
            if unknown:
                raise ConfigError(f"{where}: synthetic features take their size from the model's arch; {unknown} "
                                  f"has no known feature size (one of {sorted(FEATURE_DIMS)})")
        if dataset["name"] in seen:
            raise ConfigError(f"{where}: name '{dataset['name']}' is used twice; dataset names must be unique")
        seen.add(dataset["name"])
        if dataset["source"] == "imagefolder" and not Path(dataset["path"]).is_dir():
            raise ConfigError(f"{where}.path: {dataset['path']} is not a directory of class sub-folders")
        if dataset.get("query_path") and not Path(dataset["query_path"]).is_dir():
            raise ConfigError(f"{where}.query_path: {dataset['query_path']} is not a directory of class sub-folders")
        check_separate_splits(dataset, where)
    seen = set()
    for i, model in enumerate(config["models"]):
        where = f"models[{i}] ('{model['name']}')"
        check_arch(model["arch"], f"{where}.arch")
        if model["name"] in seen:
            raise ConfigError(f"{where}: name '{model['name']}' is used twice; model names must be unique")
        seen.add(model["name"])
        if weights_kind(model["weights"]) == "file" and not Path(model["weights"]).is_file():
            raise ConfigError(
                f"{where}.weights: '{model['weights']}' is neither a torchvision weights name (e.g. IMAGENET1K_V1), "
                f"'none', nor an existing state-dict file; place the file there or fix the value"
            )
        dims = (model.get("pca") or {}).get("dims", [])
        full = FEATURE_DIMS.get(model["arch"])
        for d in dims:
            if full is not None and d > full:
                raise ConfigError(f"{where}.pca.dims: {d} exceeds the {model['arch']} embedding size {full}")
        names = pca_space_names(model)
        for name in set(names):
            if names.count(name) > 1:
                raise ConfigError(f"{where}.pca: two entries give the same space name '{name}' (variance targets "
                                  f"that round alike); remove one")
    check_methods(config)


def check_arch(arch, where: str) -> None:
    """``arch`` names a torchvision classification model lshbench can embed with (whole: no stray whitespace)."""
    if arch in TORCHVISION_MODELS:
        return
    import difflib

    close = difflib.get_close_matches(str(arch).strip(), TORCHVISION_MODELS, n=3)
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    raise ConfigError(f"{where}: {arch!r} is not a torchvision classification model with a linear classifier "
                      f"(torchvision.models.list_models(module=torchvision.models), less SqueezeNet){hint} "
                      f"The {len(TORCHVISION_MODELS)} names are listed in lshbench/data/torchvision_models.txt")


def check_separate_splits(dataset: dict, where: str) -> None:
    """The queries must not be the gallery: each query would find itself at rank 1."""
    if dataset["source"] == "huggingface" and dataset.get("gallery_split", "train") == dataset.get("query_split", "test"):
        raise ConfigError(f"{where}.query_split: '{dataset['query_split']}' is also the gallery_split; the queries would "
                          f"find themselves at rank 1. Use another split (ImageNet: validation)")
    if (dataset["source"] == "embeddings"
            and Path(dataset["query_file"]).resolve() == Path(dataset["gallery_file"]).resolve()):
        raise ConfigError(f"{where}.query_file: {dataset['query_file']} is the gallery_file; the queries would find "
                          f"themselves at rank 1. Give the query vectors their own file")
    if (dataset["source"] == "imagefolder" and dataset.get("query_path")
            and Path(dataset["query_path"]).resolve() == Path(dataset["path"]).resolve()):
        raise ConfigError(f"{where}.query_path: {dataset['query_path']} is the gallery's path; the queries would find "
                          f"themselves at rank 1. Give a separate folder, or leave query_path out to draw the queries "
                          f"from path (query_fraction)")


def model_spaces(config: dict) -> list[str]:
    """The spaces the models produce on every image dataset: model names and their PCA variants."""
    return [name for model in config["models"] for name in [model["name"], *pca_space_names(model)]]


def dataset_spaces(config: dict, dataset: dict) -> list[str]:
    """The spaces of one dataset: its own for precomputed features (source: embeddings), else the models'."""
    return [dataset["space"]] if dataset["source"] == "embeddings" else model_spaces(config)


def spaces(config: dict) -> list[str]:
    """Every embedding space the config produces (any dataset)."""
    imported = [d["space"] for d in config["datasets"] if d["source"] == "embeddings"]
    return list(dict.fromkeys(model_spaces(config) + imported))


def build_settings(config: dict, dataset: dict, name: str) -> dict:
    """The settings a method's builds on one dataset take beyond their folder parameters (k-means' algorithm, ...)."""
    entry = REGISTRY[name]
    return entry.build_settings(config["methods"][name], (dataset.get("grids") or {}).get(name) or {})


def training_folder(name: str, params: str) -> str:
    """A configuration's folder name restricted to its method's training keys: the training it uses."""
    return REGISTRY[name].training_folder(params)


def plan(config: dict) -> list[tuple[str, str, str, str]]:
    """Every (dataset, space, method, params) configuration to build and evaluate, in a stable order: per dataset,
    each method's grid on each of its spaces (registry order), then exact search on every space they use."""
    methods = config["methods"]
    rows = []
    for dataset in config["datasets"]:
        grids = dataset.get("grids") or {}
        here = dataset_spaces(config, dataset)
        used = []
        for name, entry in REGISTRY.items():
            if entry.baseline or name not in grids:
                continue
            spaces_here = [s for s in methods[name].get("spaces", []) if s in here]
            configurations = entry.plan(grids[name], methods[name])
            rows += [(dataset["name"], space, name, entry.folder(p)) for space in spaces_here for p in configurations]
            used += spaces_here
        for name, entry in REGISTRY.items():
            if entry.baseline and methods[name]["enabled"]:
                rows += [(dataset["name"], space, name, "all") for space in dict.fromkeys(used)]
    return rows


def schema(path: str | Path) -> dict:
    """The config schema (schemas/config.schema.yaml) with each registered method's ``methods.<name>`` block and
    ``datasets[].grids.<name>`` grid filled in from the registry."""
    import yaml

    full = yaml.safe_load(Path(path).read_text())
    methods = full["properties"]["methods"]["properties"]
    grids = full["properties"]["datasets"]["items"]["properties"]["grids"]["properties"]
    for name, entry in REGISTRY.items():
        methods[name], grid = copy.deepcopy(entry.schema())
        if grid is not None:
            grids[name] = grid
    return full


def validate(config: dict, path: str | Path) -> None:
    """Validate against ``schema(path)`` and fill in its defaults (as snakemake.utils.validate does); a violation is
    a ConfigError naming the field."""
    import jsonschema

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for key, sub in properties.items():
                if "default" in sub:
                    instance.setdefault(key, copy.deepcopy(sub["default"]))
        yield from jsonschema.Draft202012Validator.VALIDATORS["properties"](validator, properties, instance, schema)

    # JSON Schema counts 5.0 as an integer; lshbench does not: a float where a count belongs is refused at parse time,
    # naming the field, rather than failing inside a job (or being cut by int() somewhere).
    checker = jsonschema.Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda _, instance: isinstance(instance, int) and not isinstance(instance, bool))
    Validator = jsonschema.validators.extend(jsonschema.Draft202012Validator, {"properties": set_defaults},
                                             type_checker=checker)
    error = jsonschema.exceptions.best_match(Validator(schema(path)).iter_errors(config))
    if error is not None:
        where = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in error.absolute_path).replace(".[", "[")
        hint = ""
        if error.validator == "type" and isinstance(error.instance, float) and "integer" in str(error.validator_value):
            hint = f" (integer fields take whole numbers written without a decimal point: {error.instance:g}, " \
                   f"not {error.instance!r})"
        raise ConfigError(f"{where or 'config'}: {error.message}{hint}")


def check_methods(config: dict) -> None:
    known = spaces(config)
    for method, settings in config["methods"].items():
        for space in settings.get("spaces", []):
            if space not in known:
                raise ConfigError(f"methods.{method}.spaces: '{space}' is not an embedding space of this config; "
                                  f"known spaces: {known} (models[].name and their pca variants)")
        if "spaces" not in settings:
            continue
        gridded = [d["name"] for d in config["datasets"] if method in (d.get("grids") or {})]
        if gridded and not settings["spaces"]:
            raise ConfigError(f"methods.{method}.spaces is empty but datasets {gridded} have a grids.{method}: "
                              f"name the spaces it runs on (e.g. {known[:1]}) or remove the grids")
        if settings["spaces"] and not gridded:
            raise ConfigError(f"methods.{method}.spaces is set ({settings['spaces']}) but no dataset has a "
                              f"grids.{method}: add one to a dataset or set methods.{method}.spaces: []")
        for i, dataset in enumerate(config["datasets"]):
            here = dataset_spaces(config, dataset)
            if method in (dataset.get("grids") or {}) and settings["spaces"] and not set(settings["spaces"]) & set(here):
                raise ConfigError(f"datasets[{i}] ('{dataset['name']}').grids.{method}: none of methods.{method}.spaces "
                                  f"{settings['spaces']} exists on this dataset (its spaces: {here})")
    for i, dataset in enumerate(config["datasets"]):
        for name, grid in (dataset.get("grids") or {}).items():
            where = f"datasets[{i}] ('{dataset['name']}').grids.{name}"
            try:
                REGISTRY[name].checks(config["methods"][name], grid, split_sizes(dataset, config.get("scale", 1.0)),
                                      where)
            except ValueError as error:
                raise ConfigError(str(error)) from None
