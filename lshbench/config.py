"""Checks on a config that JSON Schema cannot express, and the names derived from it (embedding spaces).

Imported when Snakemake parses the workflow, so it imports no torch: parsing stays fast (every cluster job re-parses)."""

from __future__ import annotations

import copy
import re
from pathlib import Path

from .errors import ConfigError  # noqa: F401 (raised here, imported from here too)
from .layout import Key
from .methods import REGISTRY
from .sources import REGISTRY as SOURCES
from .sources import SYNTHETIC
from .models import ARCHS, FEATURE_DIMS, parse_pca_space, pca_space_names, weights_kind  # noqa: F401 (re-exported)
from .sources.registry import dataset_schema, fill_source_defaults, foreign_fields

# Every torchvision classification model with a linear classifier to remove (SqueezeNet's is a convolution): shipped as
# a list so that parsing needs no torch; tests/test_config.py checks it against the installed torchvision.
TORCHVISION_MODELS = tuple((Path(__file__).parent / "data" / "torchvision_models.txt").read_text().split())
# Strings that become paths must match these whole (JSON Schema's "$" also matches before a final newline).
NAME = re.compile(r"[a-z][a-z0-9_]*")
WEIGHTS_NAME = re.compile(r"[A-Z0-9_]+")
DEVICE = re.compile(r"auto|cpu|cuda(:[0-9]+)?|mps")


def split_sizes(dataset: dict, scale: float = 1.0) -> dict[str, int] | None:
    """Gallery and query sizes after the limits, where the dataset's source knows them before any download (None for
    Hugging Face and ImageFolder sources); synthetic sizes are multiplied by the config's scale."""
    return SOURCES[dataset["source"]].sizes(dataset, scale)


def check_sizes(dataset: dict, where: str) -> None:
    """Stratified limits need at least one image per class (where the source knows its classes)."""
    classes = SOURCES[dataset["source"]].classes
    for split in ("gallery", "query"):
        limit = dataset.get(f"{split}_limit")
        if classes is not None and limit is not None and limit < classes:
            raise ConfigError(f"{where}.{split}_limit: {limit} is below the {classes} classes of "
                              f"{dataset['source']}; a stratified subset needs at least one image per class")


def check_own_space(config: dict, dataset: dict, where: str) -> None:
    """An imported dataset's space name is a path segment and must differ from the models' spaces."""
    entry = SOURCES[dataset["source"]]
    space = entry.own_space(dataset)
    if space is None:
        return
    if not NAME.fullmatch(space):
        raise ConfigError(f"{where}.{entry.space}: {space!r} must be lower-case letters, digits and underscores")
    if space in model_spaces(config):
        raise ConfigError(f"{where}.{entry.space}: '{space}' is also a model's space; name the imported features "
                          f"differently")


def datasets_of_kind(config: dict, kind: str) -> dict[str, dict]:
    """The datasets whose source produces its vectors this way (sources.EMBEDDED, IMPORTED, SYNTHETIC), by name:
    what routes a dataset to the download and embedding rules, the import rule or the synthesis rule."""
    return {d["name"]: d for d in config["datasets"] if SOURCES[d["source"]].kind == kind}


def source_inputs(dataset: dict) -> dict[str, str]:
    """The user's files a dataset's vectors are imported from (the import rule's inputs)."""
    return SOURCES[dataset["source"]].inputs(dataset)


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
        check_own_space(config, dataset, where)
        if SOURCES[dataset["source"]].kind == SYNTHETIC:
            unknown = [m["arch"] for m in config["models"] if m["arch"] not in FEATURE_DIMS]
            if unknown:
                raise ConfigError(f"{where}: synthetic features take their size from the model's arch; {unknown} "
                                  f"has no known feature size (one of {sorted(FEATURE_DIMS)})")
        if dataset["name"] in seen:
            raise ConfigError(f"{where}: name '{dataset['name']}' is used twice; dataset names must be unique")
        seen.add(dataset["name"])
        try:
            SOURCES[dataset["source"]].checks(dataset, where)
        except ValueError as error:
            raise ConfigError(str(error)) from None
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
    check_hamming(config)


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


def model_spaces(config: dict) -> list[str]:
    """The spaces the models produce on every image dataset: model names and their PCA variants."""
    return [name for model in config["models"] for name in [model["name"], *pca_space_names(model)]]


def dataset_spaces(config: dict, dataset: dict) -> list[str]:
    """The spaces of one dataset: its own for imported features (source: embeddings), else the models'."""
    own = SOURCES[dataset["source"]].own_space(dataset)
    return [own] if own else model_spaces(config)


def spaces(config: dict) -> list[str]:
    """Every embedding space the config produces (any dataset)."""
    imported = [space for d in config["datasets"] if (space := SOURCES[d["source"]].own_space(d))]
    return list(dict.fromkeys(model_spaces(config) + imported))


def space_dim(config: dict, space: str) -> int | None:
    """The dimension of an embedding space where the config says it (a ResNet's features, a PCA to fixed dims); None
    where only the data will (other architectures, PCA to a share of the variance, imported features)."""
    for model in config["models"]:
        if space == model["name"]:
            return FEATURE_DIMS.get(model["arch"])
        if space in pca_space_names(model):
            _, kind, value = parse_pca_space(space)
            return int(value) if kind == "dims" else None
    return None


def data_settings(config: dict, dataset: dict) -> dict:
    """A dataset's data settings with the global seed: what its download, embedding and pictures depend on. Its method
    grids and Hamming settings are left out: changing them must not re-download or re-embed."""
    return {**{k: v for k, v in dataset.items() if k not in ("grids", "hamming")}, "seed": config["seed"]}


def build_settings(config: dict, dataset: dict, name: str) -> dict:
    """The settings a method's builds on one dataset take beyond their folder parameters (k-means' algorithm, ...)."""
    entry = REGISTRY[name]
    return entry.build_settings(config["methods"][name], (dataset.get("grids") or {}).get(name) or {})


def plan(config: dict) -> list[Key]:
    """Every configuration to build and evaluate, in a stable order: per dataset, each method's grid on each of its
    spaces (registry order, each configuration's replicates side by side), then exact search on every space they
    use."""
    methods = config["methods"]
    keys = []
    for dataset in config["datasets"]:
        grids = dataset.get("grids") or {}
        here = dataset_spaces(config, dataset)
        used = []
        for name, entry in REGISTRY.items():
            if entry.baseline or name not in grids:
                continue
            spaces_here = [s for s in methods[name].get("spaces", []) if s in here]
            configurations = entry.plan(grids[name], methods[name], config["seeds"])
            keys += [Key.of(dataset["name"], space, name, p) for space in spaces_here for p in configurations]
            used += spaces_here
        for name, entry in REGISTRY.items():
            if entry.baseline and methods[name]["enabled"]:
                keys += [Key(dataset["name"], space, name) for space in dict.fromkeys(used)]
    return keys


def hamming_plan(config: dict) -> list[tuple[int, Key]]:
    """Every (bits, key) build of the Hamming-ranking protocol, in a stable order: per dataset with ``hamming.bits``,
    each method that makes codes (its registry entry's ``hamming``) on each of its spaces there, one build per code
    length B and replicate (seeded methods: each of the config's seeds; deterministic ones once). ``key``: the build's
    folder parameters, as a bucket configuration's (its training folder follows from it)."""
    rows = []
    for dataset in config["datasets"]:
        bits = (dataset.get("hamming") or {}).get("bits") or []
        here = dataset_spaces(config, dataset)
        for name, entry in REGISTRY.items():
            if entry.hamming is None or not bits:
                continue
            settings = config["methods"][name]
            for space in [s for s in settings.get("spaces", []) if s in here]:
                for b in bits:
                    params = entry.hamming(b, settings)
                    replicates = [{**params, "seed": seed} for seed in config["seeds"]] if entry.seeded else [params]
                    rows += [(b, Key.of(dataset["name"], space, name, p)) for p in replicates]
    return rows


def job_keys(config: dict, dataset: str, space: str, method: str, folders: list[str] | None = None) -> list[Key]:
    """The keys of one method job's configurations, in plan order: looked up by the job's wildcards (and, given, the
    folder names it was passed, which must be its configurations: a job never guesses a key from a name)."""
    keys = [k for k in plan(config) if k.job == (dataset, space, method)]
    if folders is not None and [k.folder for k in keys] != list(folders):
        raise ValueError(f"{dataset}/{space}/{method}: configurations {list(folders)} are not the plan's "
                         f"{[k.folder for k in keys]} (the config changed while the job waited: run again)")
    return keys


def hamming_builds(config: dict, dataset: str, space: str, method: str, builds: list | None = None
                   ) -> list[tuple[int, Key]]:
    """The (bits, key) builds of one Hamming job, in plan order (given ``builds``, the [bits, folder] pairs it was
    passed, which must be them)."""
    found = [(b, k) for b, k in hamming_plan(config) if k.job == (dataset, space, method)]
    if builds is not None and [[b, k.folder] for b, k in found] != [list(b) for b in builds]:
        raise ValueError(f"{dataset}/{space}/{method}: Hamming builds {builds} are not the plan's "
                         f"{[[b, k.folder] for b, k in found]} (the config changed while the job waited: run again)")
    return found


def training_key(config: dict, dataset: str, space: str, method: str, training: str) -> Key:
    """A key of the plan or the Hamming protocol whose training folder is ``training``: what that training is."""
    for key in [*plan(config), *(k for _, k in hamming_plan(config))]:
        if key.job == (dataset, space, method) and key.training == training:
            return key
    raise ValueError(f"{dataset}/{space}/{method}: no configuration of the config trains in folder '{training}'")


def literature_protocols() -> list[str]:
    """The protocols of the published numbers (lshbench/data/literature_hashing.csv), without pandas."""
    import csv
    from importlib import resources

    text = resources.files("lshbench").joinpath("data/literature_hashing.csv").read_text()
    rows = csv.DictReader(line for line in text.splitlines() if not line.startswith("# "))
    return list(dict.fromkeys(row["protocol"] for row in rows))


def check_hamming(config: dict) -> None:
    protocols = None
    for i, dataset in enumerate(config["datasets"]):
        where = f"datasets[{i}] ('{dataset['name']}').hamming"
        settings = dataset.get("hamming") or {}
        if settings.get("protocol") is not None:
            protocols = protocols or literature_protocols()
            if settings["protocol"] not in protocols:
                raise ConfigError(f"{where}.protocol: '{settings['protocol']}' is not a protocol of "
                                  f"lshbench/data/literature_hashing.csv ({', '.join(protocols)}); use one of them, "
                                  f"or null")
        for name, entry in REGISTRY.items():
            if entry.hamming is None:
                continue
            for b in settings.get("bits", []):
                try:
                    entry.hamming(b, config["methods"][name])  # raises for a length the settings cannot give
                except ValueError as error:
                    raise ConfigError(f"{where}.bits: {b} bits for {name}: {error}") from None


def schema(path: str | Path) -> dict:
    """The config schema (schemas/config.schema.yaml) with each registered method's ``methods.<name>`` block and
    ``datasets[].grids.<name>`` grid filled in from the method registry, and the dataset fields of every source (the
    ``source`` enum, each source's fields and required ones) from the source registry."""
    import yaml

    full = yaml.safe_load(Path(path).read_text())
    full["properties"]["datasets"]["items"] = dataset_schema(full["properties"]["datasets"]["items"])
    methods = full["properties"]["methods"]["properties"]
    grids = full["properties"]["datasets"]["items"]["properties"]["grids"]["properties"]
    for name, entry in REGISTRY.items():
        methods[name], grid = copy.deepcopy(entry.schema())
        if grid is not None:
            grids[name] = grid
    return full


def validate(config: dict, path: str | Path) -> None:
    """Validate against ``schema(path)`` and fill in its defaults (as snakemake.utils.validate does; a source's
    fields only on its own datasets, after a field of another source is refused); a violation is a ConfigError naming
    the field."""
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
    datasets = config.get("datasets") if isinstance(config, dict) else None
    for i, dataset in enumerate(datasets if isinstance(datasets, list) else []):
        if isinstance(dataset, dict):
            try:
                foreign_fields(dataset, f"datasets[{i}] ('{dataset.get('name')}')")
            except ValueError as error:
                raise ConfigError(str(error)) from None
    error = jsonschema.exceptions.best_match(Validator(schema(path)).iter_errors(config))
    if error is not None:
        where = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in error.absolute_path).replace(".[", "[")
        hint = ""
        if error.validator == "type" and isinstance(error.instance, float) and "integer" in str(error.validator_value):
            hint = f" (integer fields take whole numbers written without a decimal point: {error.instance:g}, " \
                   f"not {error.instance!r})"
        raise ConfigError(f"{where or 'config'}: {error.message}{hint}")
    for dataset in config["datasets"]:
        fill_source_defaults(dataset)


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
        coded = REGISTRY[method].hamming is not None and any(
            (d.get("hamming") or {}).get("bits") for d in config["datasets"])
        if settings["spaces"] and not gridded and not coded:
            raise ConfigError(f"methods.{method}.spaces is set ({settings['spaces']}) but no dataset has a "
                              f"grids.{method}{' or hamming.bits' if REGISTRY[method].hamming else ''}: add one to a "
                              f"dataset or set methods.{method}.spaces: []")
        for i, dataset in enumerate(config["datasets"]):
            here = dataset_spaces(config, dataset)
            if method in (dataset.get("grids") or {}) and settings["spaces"] and not set(settings["spaces"]) & set(here):
                raise ConfigError(f"datasets[{i}] ('{dataset['name']}').grids.{method}: none of methods.{method}.spaces "
                                  f"{settings['spaces']} exists on this dataset (its spaces: {here})")
    for i, dataset in enumerate(config["datasets"]):
        for name, grid in (dataset.get("grids") or {}).items():
            where = f"datasets[{i}] ('{dataset['name']}').grids.{name}"
            try:
                here = [sp for sp in config["methods"][name].get("spaces", []) if sp in dataset_spaces(config, dataset)]
                sizes = {**(split_sizes(dataset, config.get("scale", 1.0)) or {}),
                         "dims": {sp: space_dim(config, sp) for sp in here}}
                REGISTRY[name].checks(config["methods"][name], grid, sizes, where)
            except ValueError as error:
                raise ConfigError(str(error)) from None
