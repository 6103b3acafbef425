"""What every source shares: the gallery/query split of images (:class:`ImageSplit`), compressed images read in
chunks (:class:`EncodedImages`), PIL-to-array conversion, seeded stratified splits and limits, the errors, and the
dataset fields two sources share.

An image source turns its data into an :class:`ImageSplit`: ids (position in the source split), labels and either an
in-memory uint8 array of equally sized images (CIFAR, MNIST-5k, digits: batched and resized on the device) or the
compressed images (Hugging Face Arrow/Parquet bytes, ImageFolder files: read in order in large chunks, decoded in
batches by ``lshbench.decode`` on the device or in a pool of threads).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

SPLITS = ("gallery", "query")

# A field two sources share is one spec, declared here (the registry refuses two different specs of one field).
QUERY_FRACTION = {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1, "default": 0.2,
                  "description": "share of images drawn (stratified) as queries (imagefolder: without query_path)"}


from ..errors import BadImage, DatasetUnavailable  # noqa: E402,F401 (raised here, imported from here too)


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

    def positions(self, ids) -> np.ndarray:
        """The rows of this split holding ``ids`` (ids as the embedding file's ``id`` column stores them); an id
        the split does not hold (another split's, or left out by a limit) is an error naming it."""
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        order = np.argsort(self.ids, kind="stable")
        held_ids = self.ids[order]
        at = np.searchsorted(held_ids, ids)
        held = at < len(held_ids)
        held[held] = held_ids[at[held]] == ids[held]
        missing = ids[~held]
        if len(missing):
            raise ValueError(f"dataset '{self.dataset}', {self.split} split: no image with id {int(missing[0])}"
                           f"{f' (and {len(missing) - 1} more)' if len(missing) > 1 else ''}; ids are positions in "
                           f"the source split after its {self.split}_limit, as the embedding file's id column holds "
                           f"them")
        return order[at]

    def rgb(self, positions) -> list[np.ndarray]:
        """The images at rows ``positions`` as uint8 (H, W, 3), as a viewer shows them (grey replicated): in-memory
        images taken from the array, compressed ones read one by one (only those files or rows) and decoded by PIL
        (``rgb_array``); an unreadable one raises BadImage naming it."""
        positions = [int(p) for p in np.asarray(positions).reshape(-1)]
        if self.images is not None:
            return [np.repeat(self.images[p], 3, axis=2) if self.images.shape[-1] == 1 else self.images[p].copy()
                    for p in positions]
        pictures = []
        for p in positions:
            (blob,), (error,) = self.encoded.read(p, p + 1)
            if blob is None:
                raise BadImage(error or f"{self.encoded.names[p]}: cannot read")
            pictures.append(decode_rgb(blob, self.encoded.names[p]))
        return pictures


def decode_rgb(data: bytes, name: str) -> np.ndarray:
    """One image's bytes as uint8 (H, W, 3) at its own size (modes as ``rgb_array``); BadImage names it."""
    import io

    from PIL import Image

    try:
        image = Image.open(io.BytesIO(data))
        image.load()  # decode now: a truncated file fails here
    except Exception as error:  # PIL's OSError (truncated), UnidentifiedImageError, ...
        raise BadImage(f"{name}: cannot decode ({type(error).__name__}: {error})") from None
    return rgb_array(image, name)


def check_stratifiable(labels: np.ndarray, kept: int, left: int, dataset: str, field: str, value,
                       class_names: list[str] | None, what: str) -> None:
    """A stratified split into ``kept`` and ``left`` items needs each part to hold every class and each class two
    items (scikit-learn's train_test_split refuses otherwise, naming neither the dataset nor the field)."""
    classes, counts = np.unique(labels, return_counts=True)
    where = f"dataset '{dataset}'"
    if (counts < 2).any():
        label = int(classes[np.argmax(counts < 2)])
        name = class_names[label] if class_names and label < len(class_names) else str(label)
        raise DatasetUnavailable(
            f"{where}: class '{name}' has only 1 image in {what}; {field}: {value} draws a stratified split, which "
            f"needs at least 2 images per class: add images to that class or remove it")
    for part, size in (("keeps", kept), ("leaves out", left)):
        if size < len(classes):
            raise DatasetUnavailable(
                f"{where}: {field}: {value} {part} {size} of the {len(labels)} images of {what}, fewer than its "
                f"{len(classes)} classes; a stratified split needs at least one image per class on each side "
                f"(at least {len(classes)} and at most {len(labels) - len(classes)} images)")


def stratified_limit(indices: np.ndarray, labels: np.ndarray, limit: int | None, seed: int, dataset: str,
                     field: str, class_names: list[str] | None = None) -> np.ndarray:
    """A seeded, class-stratified subset of ``indices`` of size ``limit`` (sorted), or all of them."""
    if limit is None or limit >= len(indices):
        return indices
    from sklearn.model_selection import train_test_split

    check_stratifiable(labels, limit, len(indices) - limit, dataset, field, limit, class_names,
                       f"the {field.split('_')[0]} split")
    keep, _ = train_test_split(indices, train_size=limit, stratify=labels, random_state=seed)
    return np.sort(keep)


def stratified_split(labels: np.ndarray, query_fraction: float, seed: int, dataset: str,
                     class_names: list[str] | None = None) -> dict[str, np.ndarray]:
    from sklearn.model_selection import train_test_split

    queries = math.ceil(query_fraction * len(labels))  # train_test_split's size of a fractional test part
    check_stratifiable(labels, len(labels) - queries, queries, dataset, "query_fraction", query_fraction,
                       class_names, "the dataset")
    index = np.arange(len(labels))
    gallery, query = train_test_split(index, test_size=query_fraction, stratify=labels, random_state=seed)
    return {"gallery": np.sort(gallery), "query": np.sort(query)}


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


def read_files(paths: list[str]) -> Callable[[int, int], tuple[list[bytes | None], list[str]]]:
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


def limit_images(cfg: dict, opened: ImageSplit) -> ImageSplit:
    """An in-memory split after its gallery_limit/query_limit (a seeded, class-stratified subset)."""
    split = opened.split
    keep = stratified_limit(np.arange(len(opened)), opened.labels, cfg.get(f"{split}_limit"), cfg["seed"],
                            cfg["name"], f"{split}_limit", opened.class_names)
    if len(keep) < len(opened):
        opened.ids, opened.labels, opened.images = opened.ids[keep], opened.labels[keep], opened.images[keep]
    return opened


def limited(dataset: dict, sizes: dict[str, int]) -> dict[str, int]:
    """Split sizes after the dataset's gallery_limit/query_limit."""
    return {split: size if dataset.get(f"{split}_limit") is None else min(size, dataset[f"{split}_limit"])
            for split, size in sizes.items()}


def fixed_sizes(gallery: int, query: int) -> Callable[[dict, float], dict[str, int]]:
    """The sizes of a source whose splits are fixed (CIFAR's train/test), after the limits."""
    return lambda dataset, scale: limited(dataset, {"gallery": gallery, "query": query})


def fraction_sizes(total: int) -> Callable[[dict, float], dict[str, int]]:
    """The sizes of ``total`` images split by query_fraction (scikit-learn's train_test_split: ceil for the test
    part), after the limits."""
    def sizes(dataset: dict, scale: float) -> dict[str, int]:
        query = math.ceil(dataset.get("query_fraction", 0.2) * total)
        return limited(dataset, {"gallery": total - query, "query": query})

    return sizes
