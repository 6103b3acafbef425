"""Precomputed features (source: embeddings): the user's gallery and query vectors (lshbench's Parquet layout, or
.npy arrays with label files) imported as one embedding space of their own; no images, no model."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .base import SPLITS, DatasetUnavailable, stratified_limit
from .registry import IMPORTED, Source, register


def _read_labels(path: str) -> np.ndarray:
    if path.endswith(".npy"):
        return np.load(path, allow_pickle=False)
    try:
        return np.loadtxt(path, dtype=np.int64, ndmin=1)
    except ValueError as error:
        raise DatasetUnavailable(f"{path}: labels must be one integer per line ({error})") from error


def _read_split(cfg: dict, split: str):
    from ..io import Embeddings, UnreadableFile, WrongLayout, read_embeddings

    path = cfg[f"{split}_file"]
    try:
        if path.endswith(".npy"):
            vectors = np.load(path, allow_pickle=False)
            ids, labels = None, None
        else:
            found = read_embeddings(path, supplied=True)
            vectors, ids, labels = found.vectors, found.ids, found.labels
    except (UnreadableFile, WrongLayout) as error:
        raise DatasetUnavailable(f"dataset '{cfg['name']}', {split}_file: {error}") from error
    except (ValueError, OSError) as error:
        raise DatasetUnavailable(f"{path}: cannot be read as {split} vectors ({error}); replace {path} with a whole "
                                 f"copy") from error
    if vectors.ndim != 2 or min(vectors.shape) < 1:
        raise DatasetUnavailable(f"{path}: {split} vectors must be a 2-D (images, features) array, not {vectors.shape}")
    if not np.issubdtype(vectors.dtype, np.number):
        raise DatasetUnavailable(f"{path}: {split} vectors must be numbers, not {vectors.dtype}")
    vectors = vectors.astype(np.float32)
    bad = ~np.isfinite(vectors).all(1)
    if bad.any():
        raise DatasetUnavailable(f"{path}: {int(bad.sum())} {split} vector(s) hold NaN or infinity (first at row "
                                 f"{int(np.flatnonzero(bad)[0])}); fix or drop them")
    zero = ~vectors.any(1)
    if zero.any():  # cosine similarity is undefined for them: they would rank by tie-breaks alone
        raise DatasetUnavailable(f"{path}: {int(zero.sum())} {split} vector(s) are all zeros (first at row "
                                 f"{int(np.flatnonzero(zero)[0])}); cosine similarity is undefined for them: fix or "
                                 f"drop them")
    if cfg.get(f"{split}_labels"):
        labels = _read_labels(cfg[f"{split}_labels"])
        where = cfg[f"{split}_labels"]
    else:
        where = path
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) != len(vectors):
        raise DatasetUnavailable(f"{where}: {labels.size} labels for {len(vectors)} {split} vectors in {path}; "
                                 f"there must be one per vector")
    if not np.issubdtype(labels.dtype, np.integer) or (labels < 0).any():
        raise DatasetUnavailable(f"{where}: labels must be non-negative integers")
    ids = np.arange(len(vectors), dtype=np.int64) if ids is None else ids
    meta = {"dataset": cfg["name"], "split": split, "space": cfg["space"], "model": cfg["space"], "source": path,
            "dim": int(vectors.shape[1]), "rows": len(vectors), "device": "none (precomputed)"}
    return Embeddings(ids.astype(np.int64), labels.astype(np.int32), vectors, meta)


def load_precomputed(cfg: dict):
    """(gallery, query) Embeddings of a ``source: embeddings`` dataset, checked before anything is written: 2-D
    finite vectors, one label per vector, the same dimension in both splits; errors name the file."""
    gallery, query = _read_split(cfg, "gallery"), _read_split(cfg, "query")
    if gallery.dim != query.dim:
        raise DatasetUnavailable(f"{cfg['query_file']}: query vectors have {query.dim} features, the gallery's "
                                 f"({cfg['gallery_file']}) {gallery.dim}; both must come from the same model")
    for split, data in (("gallery", gallery), ("query", query)):
        keep = stratified_limit(np.arange(len(data)), data.labels, cfg.get(f"{split}_limit"), cfg["seed"],
                                cfg["name"], f"{split}_limit")
        if len(keep) < len(data):
            data.ids, data.labels, data.vectors = data.ids[keep], data.labels[keep], data.vectors[keep]
            data.metadata["rows"] = len(keep)
    return gallery, query


def _checks(dataset: dict, where: str) -> None:
    """The files exist, .npy vectors come with labels, the queries are not the gallery."""
    for split in SPLITS:
        path = Path(dataset[f"{split}_file"])
        if not path.is_file():
            raise ValueError(f"{where}.{split}_file: {path} does not exist")
        labels = dataset.get(f"{split}_labels")
        if path.suffix == ".npy" and not labels:
            raise ValueError(f"{where}.{split}_labels: .npy vectors need a labels file (.npy or one integer per line)")
        if labels and not Path(labels).is_file():
            raise ValueError(f"{where}.{split}_labels: {labels} does not exist")
    if Path(dataset["query_file"]).resolve() == Path(dataset["gallery_file"]).resolve():
        raise ValueError(f"{where}.query_file: {dataset['query_file']} is the gallery_file; the queries would find "
                         f"themselves at rank 1. Give the query vectors their own file")


def _inputs(dataset: dict) -> dict[str, str]:
    """The feature files (and label files): the import rule's inputs, so editing one re-imports it."""
    files = {"gallery": dataset["gallery_file"], "query": dataset["query_file"]}
    return files | {f"{s}_labels": dataset[f"{s}_labels"] for s in SPLITS if dataset.get(f"{s}_labels")}


SOURCE = register(Source(
    name="embeddings",
    title="precomputed features imported as their own space (Parquet in lshbench's layout, or .npy with labels)",
    module=__name__,
    kind=IMPORTED,
    fields={
        "space": {"type": "string",
                  "description": "the name of the imported features' space (used in paths and methods.*.spaces)"},
        "gallery_file": {"type": "string", "description": "gallery vectors: a Parquet file in lshbench's embedding "
                                                          "layout (id, label, embedding) or a .npy (N, D) array"},
        "query_file": {"type": "string", "description": "query vectors, as gallery_file"},
        "gallery_labels": {"type": ["string", "null"], "default": None,
                           "description": "labels of .npy vectors: a .npy array or a text file with one integer per "
                                          "line"},
        "query_labels": {"type": ["string", "null"], "default": None, "description": "as gallery_labels"},
    },
    required=("space", "gallery_file", "query_file"),
    checks=_checks,
    load=load_precomputed,
    inputs=_inputs,
    space="space",
    order=70,
))
