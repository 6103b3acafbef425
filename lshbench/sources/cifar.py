"""CIFAR-10 and CIFAR-100 through torchvision: the python-version archive, downloaded or placed by the user; the
gallery is the train split (50,000 images), the queries the test split (10,000). With ``queries_per_class`` the
learning-to-hash literature's other protocol: the 60,000 images pooled (ids: train 0-49,999, then test 50,000-59,999),
a seeded draw of that many queries per class, the rest the gallery (100 per class: 1,000 queries, 59,000 gallery)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .base import DatasetUnavailable, ImageSplit, fixed_sizes, limit_images, limited
from .registry import EMBEDDED, Source, register

QUERIES_PER_CLASS = {"type": "integer", "minimum": 1,  # no default: absent keeps the split (and old results)
                     "description": "pool train and test and draw this many queries per class (seeded), the rest the "
                                    "gallery: 100 is the hashing literature's 1,000 / 59,000 protocol on CIFAR-10; "
                                    "absent: torchvision's train/test split"}
VERIFY_CHECKSUMS = {"type": "boolean", "default": True,
                    "description": "false accepts a re-packaged archive whose MD5 differs from torchvision's"}


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


def pooled_queries(labels: np.ndarray, per_class: int, seed: int, dataset: str,
                   class_names: list[str] | None = None) -> np.ndarray:
    """Sorted positions of a seeded draw of ``per_class`` items of every class: the queries of a pooled split."""
    rng = np.random.default_rng(seed)
    chosen = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        if len(members) <= per_class:
            name = class_names[label] if class_names is not None and 0 <= label < len(class_names) else label
            raise ValueError(f"dataset '{dataset}': queries_per_class {per_class} leaves class {name!r} (with "
                             f"{len(members)} images) nothing in the gallery; choose fewer than {len(members)}")
        chosen.append(rng.choice(members, per_class, replace=False))
    return np.sort(np.concatenate(chosen))


def _open_cifar(cfg: dict, root: Path, split: str, image_size: int) -> ImageSplit:
    cls = _cifar_class(cfg["source"], cfg["verify_checksums"])
    per_class = cfg.get("queries_per_class")
    if per_class is None:
        data = cls(str(root), train=(split == "gallery"), download=False)
        labels = np.asarray(data.targets, dtype=np.int32)
        ids = np.arange(len(labels), dtype=np.int64)
        return limit_images(cfg, ImageSplit(cfg["name"], split, ids, labels, list(data.classes),
                                            images=np.asarray(data.data)))
    parts = [cls(str(root), train=train, download=False) for train in (True, False)]
    labels = np.concatenate([np.asarray(p.targets, dtype=np.int32) for p in parts])
    images = np.concatenate([np.asarray(p.data) for p in parts])
    query = np.zeros(len(labels), dtype=bool)
    query[pooled_queries(labels, per_class, cfg["seed"], cfg["name"], list(parts[0].classes))] = True
    keep = np.flatnonzero(query if split == "query" else ~query)
    return limit_images(cfg, ImageSplit(cfg["name"], split, keep.astype(np.int64), labels[keep],
                                        list(parts[0].classes), images=images[keep]))


def _check_per_class(classes: int):
    per_class_images = 60000 // classes

    def checks(dataset: dict, where: str) -> None:
        per_class = dataset.get("queries_per_class")
        if per_class is not None and per_class >= per_class_images:
            raise ValueError(f"{where}.queries_per_class: {per_class} leaves nothing in the gallery: CIFAR-{classes} "
                             f"has {per_class_images} images per class; choose fewer")

    return checks


def _cifar_sizes(classes: int):
    """Train/test sizes, or the pooled 60,000 less the queries, after the limits."""
    def sizes(dataset: dict, scale: float) -> dict[str, int]:
        per_class = dataset.get("queries_per_class")
        if per_class is None:
            return fixed_sizes(50000, 10000)(dataset, scale)
        return limited(dataset, {"gallery": 60000 - per_class * classes, "query": per_class * classes})

    return sizes


for _name, _classes in (("cifar10", 10), ("cifar100", 100)):
    register(Source(
        name=_name,
        title=f"CIFAR-{_classes} through torchvision (train: gallery, test: queries; or pooled, queries_per_class)",
        module=__name__,
        kind=EMBEDDED,
        fields={"verify_checksums": VERIFY_CHECKSUMS, "queries_per_class": QUERIES_PER_CLASS},
        classes=_classes,
        sizes=_cifar_sizes(_classes),
        checks=_check_per_class(_classes),
        prepare=_prepare_cifar,
        open_split=_open_cifar,
        order=10 + _classes // 10,
    ))
