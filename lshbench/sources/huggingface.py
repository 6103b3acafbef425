"""Hugging Face datasets (``datasets``): a hub id (e.g. ILSVRC/imagenet-1k, gated) or a local directory of Parquet
files or a save_to_disk folder; the images stay compressed (Arrow bytes) and are decoded in batches."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .base import DatasetUnavailable, EncodedImages, ImageSplit, stratified_limit
from .registry import EMBEDDED, Source, register


def _read_arrow_images(data, index: np.ndarray, column: str, names: list[str]):
    """Image bytes of rows ``index`` of a Hugging Face dataset, one Arrow take per chunk (not one row at a time).

    An Image feature is a struct of ``bytes`` and ``path`` (bytes null: read the file at path); a binary column is
    the bytes themselves."""
    subset = data.select_columns([column])
    if len(index) < len(data) or not np.array_equal(index, np.arange(len(data))):
        subset = subset.select(index)
    arrow = subset.with_format("arrow")

    def read(start: int, stop: int):
        values = arrow[start:stop].column(column).combine_chunks()
        if hasattr(values.type, "get_field_index") and values.type.get_field_index("bytes") >= 0:
            blobs = values.field("bytes").to_pylist()
            paths = values.field("path").to_pylist() if values.type.get_field_index("path") >= 0 else [None] * len(blobs)
        else:
            blobs, paths = values.to_pylist(), [None] * (stop - start)
        errors = []
        for k, (blob, path) in enumerate(zip(blobs, paths)):
            if blob is None and path:
                try:
                    blobs[k] = Path(path).read_bytes()
                except OSError as error:
                    errors.append(f"{names[start + k]}: cannot read {path} ({type(error).__name__})")
                    continue
            errors.append("" if blobs[k] is not None else f"{names[start + k]}: no image bytes")
        return blobs, errors

    return read


def _hf_load(cfg: dict, root: Path):
    import datasets

    source = cfg["hf_id"]
    if Path(source).is_dir() and (Path(source) / "dataset_dict.json").is_file():
        return datasets.load_from_disk(source)
    splits = [cfg["gallery_split"], cfg["query_split"]]
    cache = str(root / "hf-cache")
    return {s: datasets.load_dataset(source, cfg.get("hf_config"), split=s, cache_dir=cache) for s in splits}


def _prepare_huggingface(cfg: dict, root: Path) -> dict:
    root.mkdir(parents=True, exist_ok=True)
    try:
        loaded = _hf_load(cfg, root)
        files = {}
        for split, name in (("gallery", cfg["gallery_split"]), ("query", cfg["query_split"])):
            data = loaded[name]
            for column in (cfg["image_column"], cfg["label_column"]):
                if column not in data.column_names:
                    raise DatasetUnavailable(
                        f"dataset '{cfg['name']}': split '{name}' of {cfg['hf_id']} has no column '{column}' "
                        f"(columns: {data.column_names}); set image_column / label_column in the dataset's config."
                    )
            files[split] = [f["filename"] for f in data.cache_files]
    except DatasetUnavailable:
        raise
    except Exception as error:
        raise DatasetUnavailable(
            f"dataset '{cfg['name']}' (Hugging Face '{cfg['hf_id']}', splits {cfg['gallery_split']}/{cfg['query_split']}): "
            f"could not load it ({type(error).__name__}: {error}). Gated datasets such as ILSVRC/imagenet-1k need the "
            f"licence accepted on the hub and a token (`hf auth login` or HF_TOKEN). Offline, set hf_id to a local "
            f"directory holding its Parquet files (train-*.parquet, validation-*.parquet, ...) or a save_to_disk folder."
        ) from error
    return {"arrow_files": files}


def _open_huggingface(cfg: dict, root: Path, split: str, image_size: int) -> ImageSplit:
    import datasets

    manifest = json.loads((root / "manifest.json").read_text())
    data = datasets.concatenate_datasets([datasets.Dataset.from_file(f) for f in manifest["arrow_files"][split]])
    label_feature = data.features[cfg["label_column"]]
    names = list(getattr(label_feature, "names", []) or [])
    labels = np.asarray(data[cfg["label_column"]], dtype=np.int32)
    if (labels < 0).any():
        raise DatasetUnavailable(
            f"dataset '{cfg['name']}': split '{cfg[split + '_split']}' has unlabelled images (label -1; ImageNet's test "
            f"split is unlabelled); use a labelled split such as 'validation' for {split}_split."
        )
    index = stratified_limit(np.arange(len(labels)), labels, cfg.get(f"{split}_limit"), cfg["seed"], cfg["name"],
                             f"{split}_limit", names)
    where = f"{cfg['hf_id']} split '{cfg[split + '_split']}' row"
    rows = [f"{where} {i}" for i in index]
    encoded = EncodedImages(_read_arrow_images(data, index, cfg["image_column"], rows), rows)
    return ImageSplit(cfg["name"], split, index.astype(np.int64), labels[index], names, encoded=encoded)


def _check_separate_splits(dataset: dict, where: str) -> None:
    """The queries must not be the gallery: each query would find itself at rank 1."""
    if dataset.get("gallery_split", "train") == dataset.get("query_split", "test"):
        raise ValueError(f"{where}.query_split: '{dataset['query_split']}' is also the gallery_split; the queries "
                         f"would find themselves at rank 1. Use another split (ImageNet: validation)")


SOURCE = register(Source(
    name="huggingface",
    title="a Hugging Face dataset: a hub id or a local directory (Parquet files or save_to_disk)",
    module=__name__,
    kind=EMBEDDED,
    fields={
        "hf_id": {"type": "string", "description": "a hub id (e.g. ILSVRC/imagenet-1k) or a local directory "
                                                   "(Parquet files or save_to_disk)."},
        "hf_config": {"type": ["string", "null"], "default": None},
        "image_column": {"type": "string", "default": "image"},
        "label_column": {"type": "string", "default": "label"},
        "gallery_split": {"type": "string", "default": "train"},
        "query_split": {"type": "string", "default": "test"},
    },
    required=("hf_id",),
    checks=_check_separate_splits,
    local_data=lambda dataset: [dataset["hf_id"]] if Path(dataset["hf_id"]).exists() else [],
    prepare=_prepare_huggingface,
    open_split=_open_huggingface,
    order=30,
))
