"""One module per source of data: its registry entry (``SOURCE = register(Source(...))``, see ``registry``) beside
the code that prepares and opens it; shared helpers in ``base``.

Importing this package imports every module in it, which registers every source, without importing torch,
torchvision or datasets (the modules import them lazily). To add a source, add its module; nothing else in lshbench
or the workflow names a source. ``prepare`` is what the download rule runs, ``open_split`` the embedding rule,
``load_precomputed`` the import rule and ``synthesize`` the synthesis rule; each dispatches on the dataset's source.
``images_by_id`` gives the images behind an embedding file's ids (for pictures of what was retrieved).
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
from pathlib import Path

import numpy as np

from .base import SPLITS, BadImage, DatasetUnavailable, EncodedImages, ImageSplit, rgb_array
from .registry import EMBEDDED, IMPORTED, KINDS, REGISTRY, SYNTHETIC, Source, fingerprint

for _module in pkgutil.iter_modules(__path__):
    if _module.name not in ("base", "registry"):
        importlib.import_module(f"{__name__}.{_module.name}")  # a source module registers its SOURCE(s)
for _name in sorted(REGISTRY, key=lambda name: (REGISTRY[name].order, name)):
    REGISTRY[_name] = REGISTRY.pop(_name)  # registry order: the schema's enum and the docs follow it


def source(name: str, kind: str | None = None) -> Source:
    """The registry entry of a source (of a kind, where given); an unknown name is an error listing the known."""
    entry = REGISTRY.get(name)
    if entry is None:
        raise ValueError(f"unknown source {name!r}; registered sources: {', '.join(REGISTRY)}")
    if kind is not None and entry.kind != kind:
        raise ValueError(f"source {name!r} is {entry.kind}, not {kind}")
    return entry


def prepare(cfg: dict, root: str | os.PathLike) -> dict:
    """Download (or check) a dataset into ``root`` and return its manifest (also written to root/manifest.json)."""
    root = Path(root)
    extra = source(cfg["source"], EMBEDDED).prepare(cfg, root) or {}
    root.mkdir(parents=True, exist_ok=True)
    manifest = {"dataset": cfg["name"], "source": cfg["source"], **extra}
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2))
    counts = {}
    for split in SPLITS:
        opened = open_split(cfg, root, split, image_size=32)
        counts[split] = {"images": len(opened), "classes": int(len(np.unique(opened.labels)))}
    manifest["splits"] = counts
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest


def open_split(cfg: dict, root: str | os.PathLike, split: str, image_size: int) -> ImageSplit:
    """The ``split`` ('gallery' or 'query') of a prepared dataset, after its gallery_limit/query_limit."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
    return source(cfg["source"], EMBEDDED).open_split(cfg, Path(root), split, image_size)


def data_fingerprint(cfg: dict) -> str:
    """The fingerprint of the user's files a dataset is read from (its source's ``local_data``: an ImageFolder, a
    local Hugging Face directory, feature files); '' for data a source downloads or ships."""
    return fingerprint(source(cfg["source"]).local_data(cfg))


def has_images(cfg: dict) -> bool:
    """Whether a dataset's source has images to show: embedded sources do; imported features and synthetic vectors
    have none."""
    return source(cfg["source"]).kind == EMBEDDED


def images_by_id(cfg: dict, root: str | os.PathLike, split: str, ids) -> list[np.ndarray]:
    """The images of ``split`` with ``ids`` (the split's embedding file's ``id`` column: positions in the source
    split), in the order asked, as uint8 (H, W, 3) at their own size.

    The split is opened as the embedding job opens it (``open_split``, the same dataset settings and seed), so an id
    names the image that was embedded under it; compressed images are read one by one (only those files or rows),
    in-memory ones taken from the source's array."""
    if not has_images(cfg):
        entry = source(cfg["source"])
        raise ValueError(f"dataset '{cfg['name']}': source '{entry.name}' ({entry.kind}) has no images to show")
    opened = open_split(cfg, root, split, image_size=32)  # no source resizes when opening; the size is the model's
    return opened.rgb(opened.positions(ids))


def load_precomputed(cfg: dict):
    """(gallery, query) Embeddings of an imported dataset, checked before anything is written; errors name the file."""
    return source(cfg["source"], IMPORTED).load(cfg)


def synthesize(cfg: dict, model: str, dim: int, split: str, scale: float, out_path: str | os.PathLike) -> dict:
    """Write a split of a synthetic dataset in one model's space; returns its metadata."""
    return source(cfg["source"], SYNTHETIC).synthesize(cfg, model, dim, split, scale, out_path)


__all__ = ["EMBEDDED", "IMPORTED", "KINDS", "REGISTRY", "SPLITS", "SYNTHETIC", "BadImage", "DatasetUnavailable",
           "EncodedImages", "ImageSplit", "Source", "data_fingerprint", "has_images", "images_by_id", "load_precomputed", "open_split",
           "prepare", "rgb_array", "source", "synthesize"]
