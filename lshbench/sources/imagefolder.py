"""A folder of images with one sub-folder per class (torchvision's ImageFolder): the queries from a second folder
(query_path) or drawn from the first by query_fraction; files are read in order and decoded in batches."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .base import QUERY_FRACTION, SPLITS, DatasetUnavailable, EncodedImages, ImageSplit, read_files, stratified_split, \
    stratified_limit
from .registry import EMBEDDED, Source, register


def _imagefolder_splits(cfg: dict) -> dict[str, tuple[Any, np.ndarray]]:
    from torchvision.datasets import ImageFolder

    gallery = ImageFolder(cfg["path"])
    if cfg.get("query_path"):
        query = ImageFolder(cfg["query_path"])
        if query.classes != gallery.classes:
            raise DatasetUnavailable(
                f"dataset '{cfg['name']}': class folders of query_path {cfg['query_path']} {query.classes} differ "
                f"from those of path {cfg['path']} {gallery.classes}."
            )
        return {"gallery": (gallery, np.arange(len(gallery))), "query": (query, np.arange(len(query)))}
    index = stratified_split(np.asarray(gallery.targets), cfg["query_fraction"], cfg["seed"], cfg["name"],
                             [f"{cfg['path']}/{c}" for c in gallery.classes])
    return {split: (gallery, index[split]) for split in SPLITS}


def _open_imagefolder(cfg: dict, root: Path, split: str, image_size: int) -> ImageSplit:
    folder, index = _imagefolder_splits(cfg)[split]
    labels = np.asarray(folder.targets, dtype=np.int32)
    index = stratified_limit(index, labels[index], cfg.get(f"{split}_limit"), cfg["seed"], cfg["name"], f"{split}_limit",
                             [f"{folder.root}/{c}" for c in folder.classes])
    paths = [folder.samples[i][0] for i in index]
    encoded = EncodedImages(read_files(paths), paths)
    return ImageSplit(cfg["name"], split, index.astype(np.int64), labels[index], list(folder.classes), encoded=encoded)


def _prepare_imagefolder(cfg: dict, root: Path) -> dict:
    for key in ("path", "query_path"):
        if cfg.get(key) and not Path(cfg[key]).is_dir():
            raise DatasetUnavailable(
                f"dataset '{cfg['name']}': {key} {cfg[key]} is not a directory; it must hold one sub-folder per class."
            )
    try:
        _imagefolder_splits(cfg)
    except DatasetUnavailable:
        raise
    except (FileNotFoundError, RuntimeError) as error:
        raise DatasetUnavailable(f"dataset '{cfg['name']}': {error}") from error
    return {}


def _checks(dataset: dict, where: str) -> None:
    if not Path(dataset["path"]).is_dir():
        raise ValueError(f"{where}.path: {dataset['path']} is not a directory of class sub-folders")
    query_path = dataset.get("query_path")
    if query_path and not Path(query_path).is_dir():
        raise ValueError(f"{where}.query_path: {query_path} is not a directory of class sub-folders")
    if query_path and Path(query_path).resolve() == Path(dataset["path"]).resolve():
        raise ValueError(f"{where}.query_path: {query_path} is the gallery's path; the queries would find "
                         f"themselves at rank 1. Give a separate folder, or leave query_path out to draw the queries "
                         f"from path (query_fraction)")


SOURCE = register(Source(
    name="imagefolder",
    title="a folder with one sub-folder of images per class (torchvision's ImageFolder)",
    module=__name__,
    kind=EMBEDDED,
    fields={
        "path": {"type": "string", "description": "a directory with one sub-folder per class."},
        "query_path": {"type": ["string", "null"], "default": None,
                       "description": "a separate query directory. Without it the query split is drawn from path."},
        "query_fraction": QUERY_FRACTION,
    },
    required=("path",),
    checks=_checks,
    local_data=lambda dataset: [p for p in (dataset["path"], dataset.get("query_path")) if p],
    prepare=_prepare_imagefolder,
    open_split=_open_imagefolder,
    order=60,
))
