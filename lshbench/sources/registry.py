"""The source registry: everything the workflow knows about where a dataset's data comes from, declared by the
source's own module (``SOURCE = register(Source(...))``).

From the entries alone come: the config schema of ``datasets[]`` (the ``source`` enum, each source's fields and
which of them it requires), the parse-time checks, the sizes known before any download (what the methods' checks
compare K and J against), the workflow's routing (a dataset is downloaded and embedded by each model, imported, or
synthesized in each model's space) and the jobs' dispatch (prepare, open a split, import, synthesize).

Torch-free (source modules import torch, torchvision and datasets lazily): ``lshbench.config`` reads the registry
while Snakemake parses.
"""

from __future__ import annotations

import copy
import hashlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field

# How a source's vectors are produced; the workflow routes each kind to its rules.
EMBEDDED = "embedded"  # images prepared by the download rule, embedded by every model (rules embed, pca)
IMPORTED = "imported"  # the user's feature files, one space of their own (rule import_embeddings)
SYNTHETIC = "synthetic"  # vectors drawn in every model's space, no download (rule synthesize)
KINDS = (EMBEDDED, IMPORTED, SYNTHETIC)

# Fields every source has: they are the schema's own (schemas/config.schema.yaml), not a source's.
COMMON = ("name", "source", "gallery_limit", "query_limit", "grids", "hamming")


@dataclass(frozen=True)
class Source:
    """One source. ``fields``: JSON Schema of the dataset fields that apply to it (a field two sources share is one
    spec, e.g. ``base.QUERY_FRACTION``); ``required``: those a dataset of this source must set.

    ``kind`` says how its vectors are produced (EMBEDDED, IMPORTED, SYNTHETIC) and which callables it has:
    EMBEDDED: ``prepare(cfg, root) -> dict`` (download or check into root; extra manifest entries) and
    ``open_split(cfg, root, split, image_size) -> ImageSplit`` (after gallery_limit/query_limit);
    IMPORTED: ``load(cfg) -> (gallery, query)`` Embeddings, ``inputs(cfg) -> {name: path}`` (the files the import
    rule takes as input) and ``space`` (the field naming its own embedding space);
    SYNTHETIC: ``synthesize(cfg, model, dim, split, scale, out_path) -> metadata``.

    ``checks(dataset, where)`` raises ``ValueError`` for values the schema cannot judge (a missing folder, queries
    that are the gallery); messages start with ``where`` and name the field. ``classes``: the number of classes
    known before any download (None: unknown); ``sizes(dataset, scale)``: gallery and query sizes after the limits
    where known before any download, else None. ``local_data(dataset)``: the user's folders or files its images are
    read from (an ImageFolder's path, a local Hugging Face directory), whose listing is fingerprinted into the download
    job's params: adding, removing or replacing an image re-runs the preparation, the embedding and what follows.
    ``order``: its position in the registry."""

    name: str
    title: str
    module: str
    kind: str
    fields: dict[str, dict] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    checks: Callable[[dict, str], None] = lambda dataset, where: None
    classes: int | None = None
    sizes: Callable[[dict, float], dict | None] = lambda dataset, scale: None
    prepare: Callable | None = None
    open_split: Callable | None = None
    load: Callable | None = None
    inputs: Callable[[dict], dict] = lambda dataset: {}
    space: str | None = None
    synthesize: Callable | None = None
    local_data: Callable[[dict], list[str]] = lambda dataset: []
    order: int = 100  # position in the schema's enum and the docs (images first, then imported and synthetic)

    def own_space(self, dataset: dict) -> str | None:
        """The embedding space of an imported dataset (the value of its ``space`` field); None: the models'."""
        return dataset[self.space] if self.space else None


def fingerprint(paths: list[str]) -> str:
    """SHA-256 (16 hex digits) of every file under ``paths`` (a folder is walked, symbolic links followed): its path
    below the given one, its size and its modification time in ns. Sizes and times only: listing ImageNet's 1.3 million
    files costs seconds, reading them would cost an hour. '' for no paths."""
    if not paths:
        return ""
    digest = hashlib.sha256()
    for top in paths:
        digest.update(f"{top}\0".encode())
        if os.path.isfile(top):
            stat = os.stat(top)
            digest.update(f"{stat.st_size} {stat.st_mtime_ns}\0".encode())
            continue
        for folder, subfolders, files in os.walk(top, followlinks=True):
            subfolders.sort()
            digest.update(f"{os.path.relpath(folder, top)}/\0".encode())  # an empty class folder counts too
            for name in sorted(files):
                stat = os.stat(os.path.join(folder, name))
                digest.update(f"{name} {stat.st_size} {stat.st_mtime_ns}\0".encode())
    return digest.hexdigest()[:16]


NEEDS = {EMBEDDED: ("prepare", "open_split"), IMPORTED: ("load", "space"), SYNTHETIC: ("synthesize",)}

REGISTRY: dict[str, Source] = {}


def register(source: Source) -> Source:
    if source.name in REGISTRY and REGISTRY[source.name].module != source.module:
        raise ValueError(f"source name '{source.name}' is registered twice ({REGISTRY[source.name].module}, "
                         f"{source.module})")
    if not re.fullmatch(r"[a-z][a-z0-9_]*", source.name):
        raise ValueError(f"source name {source.name!r}: lower-case letters, digits and underscores")
    if source.kind not in KINDS:
        raise ValueError(f"source '{source.name}': kind {source.kind!r} is not one of {KINDS}")
    missing = [part for part in NEEDS[source.kind] if getattr(source, part) is None]
    if missing:
        raise ValueError(f"source '{source.name}' ({source.kind}): declares no {', '.join(missing)}")
    for key in (*source.fields, *source.required):
        if key in COMMON:
            raise ValueError(f"source '{source.name}': field '{key}' is common to every source (the schema's own)")
    unknown = [key for key in source.required if key not in source.fields]
    if unknown:
        raise ValueError(f"source '{source.name}': required fields {unknown} are not among its fields")
    if source.space is not None and source.space not in source.fields:
        raise ValueError(f"source '{source.name}': its space field '{source.space}' is not among its fields")
    for key, spec in source.fields.items():
        for other in REGISTRY.values():
            if other.name != source.name and key in other.fields and other.fields[key] != spec:
                raise ValueError(f"source '{source.name}': field '{key}' differs from source '{other.name}''s; "
                                 f"a shared field is one spec (declare it once and use it in both)")
    REGISTRY[source.name] = source
    return source


def foreign_fields(dataset: dict, where: str) -> None:
    """Raise ValueError for a field that is not the dataset's source's nor common to every source (hf_id on a digits
    dataset): the message names the field, the source and the fields it takes. Checked before any default is filled
    in; an unknown source is left to the schema."""
    entry = REGISTRY.get(dataset.get("source")) if isinstance(dataset.get("source"), str) else None
    if entry is None:
        return
    for key in dataset:
        if key in COMMON or key in entry.fields:
            continue
        import difflib

        own = list(entry.fields)
        close = difflib.get_close_matches(str(key), own, n=1)
        others = [name for name, other in REGISTRY.items() if key in other.fields]
        hint = f" (did you mean {close[0]}?)" if close else \
            f" (it is a field of source {' and '.join(others)})" if others else ""
        raise ValueError(f"{where}.{key}: not a field of source '{entry.name}'{hint}; remove it. Source "
                         f"'{entry.name}' takes {', '.join(own) or 'no fields of its own'}, besides every source's "
                         f"{', '.join(COMMON)}")


def fill_source_defaults(dataset: dict) -> None:
    """Fill in the defaults of the dataset's own source's fields (after foreign_fields and the schema's checks)."""
    for key, spec in REGISTRY[dataset["source"]].fields.items():
        if "default" in spec:
            dataset.setdefault(key, copy.deepcopy(spec["default"]))


def dataset_schema(base: dict) -> dict:
    """``datasets[]``'s schema: ``base`` (the schema file's common fields) with the source enum, every source's
    fields (each described with the sources it applies to) and, per source, the fields it requires."""
    items = copy.deepcopy(base)
    items["properties"]["source"] = {"enum": list(REGISTRY), "description": "where the data comes from: "
                                     + "; ".join(f"{name}: {entry.title}" for name, entry in REGISTRY.items())}
    users: dict[str, list[str]] = {}
    for name, entry in REGISTRY.items():
        for key, spec in entry.fields.items():
            users.setdefault(key, []).append(name)
            # a source's defaults are filled in for its own datasets only (fill_source_defaults), not by the schema
            # for every dataset: a digits dataset holds no hf_config
            items["properties"].setdefault(key, {k: copy.deepcopy(v) for k, v in spec.items() if k != "default"})
    for key, names in users.items():
        spec = items["properties"][key]
        spec["description"] = f"{', '.join(names)} only; {spec['description']}" if spec.get("description") else \
            f"{', '.join(names)} only"
    items["allOf"] = [{"if": {"properties": {"source": {"const": name}}}, "then": {"required": list(entry.required)}}
                      for name, entry in REGISTRY.items() if entry.required]
    return items
