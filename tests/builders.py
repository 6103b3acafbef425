"""Small real datasets written by the tests: CIFAR-format archives, a Hugging Face dataset, an ImageFolder."""

from __future__ import annotations

import io
import pickle
import tarfile
from pathlib import Path

import numpy as np


def _rows(images: np.ndarray) -> np.ndarray:
    """(N, 32, 32, 3) uint8 -> CIFAR's (N, 3072) channel-major rows."""
    return images.transpose(0, 3, 1, 2).reshape(len(images), -1)


def _add(tar: tarfile.TarFile, name: str, obj) -> None:
    payload = pickle.dumps(obj)
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    tar.addfile(info, io.BytesIO(payload))


def cifar_images(n: int, classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Images whose colour depends on the class, so nearest neighbours share labels."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % classes
    base = (labels[:, None] * (255 // classes)).astype(np.int64)
    images = np.clip(base[:, None, None, :] + rng.integers(0, 30, (n, 32, 32, 3)), 0, 255).astype(np.uint8)
    return images, labels


def write_cifar10(root: Path, per_batch: int = 6, test: int = 10) -> dict:
    """cifar-10-python.tar.gz with 5 train batches and a test batch, as torchvision expects its layout."""
    root.mkdir(parents=True, exist_ok=True)
    truth = {}
    with tarfile.open(root / "cifar-10-python.tar.gz", "w:gz") as tar:
        train = []
        for b in range(1, 6):
            images, labels = cifar_images(per_batch, 10, seed=b)
            _add(tar, f"cifar-10-batches-py/data_batch_{b}", {"data": _rows(images), "labels": labels.tolist()})
            train.append((images, labels))
        images, labels = cifar_images(test, 10, seed=99)
        _add(tar, "cifar-10-batches-py/test_batch", {"data": _rows(images), "labels": labels.tolist()})
        _add(tar, "cifar-10-batches-py/batches.meta", {"label_names": [f"class{i}" for i in range(10)]})
    truth["gallery"] = (np.concatenate([t[0] for t in train]), np.concatenate([t[1] for t in train]))
    truth["query"] = (images, labels)
    return truth


def write_cifar100(root: Path, train: int = 40, test: int = 12) -> dict:
    root.mkdir(parents=True, exist_ok=True)
    truth = {}
    with tarfile.open(root / "cifar-100-python.tar.gz", "w:gz") as tar:
        for name, n, seed, split in (("train", train, 1, "gallery"), ("test", test, 2, "query")):
            images, labels = cifar_images(n, 4, seed)
            entry = {"data": _rows(images), "fine_labels": labels.tolist(), "coarse_labels": (labels // 2).tolist()}
            _add(tar, f"cifar-100-python/{name}", entry)
            truth[split] = (images, labels)
        _add(tar, "cifar-100-python/meta", {"fine_label_names": [f"fine{i}" for i in range(100)],
                                           "coarse_label_names": [f"coarse{i}" for i in range(20)]})
    return truth


def pil_images(n: int, classes: int, seed: int, size: tuple[int, int] = (20, 24)):
    from PIL import Image

    images, labels = cifar_images(n, classes, seed)
    return [Image.fromarray(im[: size[1], : size[0]]) for im in images], labels


def write_hf_parquet(folder: Path, train: int = 16, test: int = 8) -> None:
    """A Hugging Face dataset as Parquet files (train-*.parquet, test-*.parquet) in a local directory."""
    import datasets

    folder.mkdir(parents=True, exist_ok=True)
    for split, n, seed in (("train", train, 3), ("test", test, 4)):
        images, labels = pil_images(n, 3, seed)
        features = datasets.Features({"img": datasets.Image(), "fine": datasets.ClassLabel(names=["a", "b", "c"])})
        data = datasets.Dataset.from_dict({"img": images, "fine": labels.tolist()}, features=features)
        data.to_parquet(str(folder / f"{split}-00000-of-00001.parquet"))


def write_hf_saved(folder: Path, train: int = 12, test: int = 6) -> None:
    """A Hugging Face DatasetDict written with save_to_disk."""
    import datasets

    splits = {}
    for split, n, seed in (("train", train, 5), ("validation", test, 6)):
        images, labels = pil_images(n, 3, seed)
        features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=["a", "b", "c"])})
        splits[split] = datasets.Dataset.from_dict({"image": images, "label": labels.tolist()}, features=features)
    datasets.DatasetDict(splits).save_to_disk(str(folder))


def write_imagefolder(folder: Path, per_class: int = 5, classes: int = 3) -> None:
    images, labels = pil_images(per_class * classes, classes, seed=7, size=(28, 30))
    for i, (image, label) in enumerate(zip(images, labels)):
        target = folder / f"class_{label}"
        target.mkdir(parents=True, exist_ok=True)
        image.save(target / f"{i:03d}.png")


def write_clustered_space(folder: Path, gallery: int = 400, query: int = 60, dim: int = 16, classes: int = 5):
    """gallery.parquet and query.parquet of one space in ``folder``: Gaussian clusters around seeded centres (seed 0).
    Returns the two Embeddings as read back and each query's exact top-50 cosine similarities (descending)."""
    from lshbench.io import Embeddings, read_embeddings, write_embeddings

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(classes, dim))

    def split(n):
        labels = rng.integers(0, classes, n).astype(np.int32)
        vectors = (centres[labels] + rng.normal(size=(n, dim))).astype(np.float32)
        return Embeddings(ids=np.arange(n), labels=labels, vectors=vectors, metadata={})

    write_embeddings(folder / "gallery.parquet", split(gallery))
    write_embeddings(folder / "query.parquet", split(query))
    g, q = read_embeddings(folder / "gallery.parquet"), read_embeddings(folder / "query.parquet")
    gv = g.vectors / np.linalg.norm(g.vectors, axis=1, keepdims=True)
    qv = q.vectors / np.linalg.norm(q.vectors, axis=1, keepdims=True)
    return g, q, -np.sort(-(qv @ gv.T), axis=1)[:, :50].astype(np.float32)
