"""Synthetic features (source: synthetic): the sizes of a real study without its images, to measure the
orchestration; vectors are drawn in every model's space (its arch's feature size), sizes times the config's scale."""

from __future__ import annotations

import os

import numpy as np

from .base import SPLITS
from .registry import SYNTHETIC, Source, register


def synthetic_sizes(cfg: dict, scale: float) -> dict[str, int]:
    """Gallery and query sizes of a synthetic dataset after the config's ``scale`` (at least one item per class)."""
    return {split: max(cfg["classes"], round(cfg[f"{split}_size"] * scale)) for split in SPLITS}


def synthesize(cfg: dict, model: str, dim: int, split: str, scale: float, out_path: str | os.PathLike,
               chunk: int = 65536) -> dict:
    """Write a split of non-negative vectors in ``classes`` Gaussian clusters (ResNet-like: post-ReLU, one shared
    offset, classes apart by less than the spread), in chunks, as an embedding file.

    Deterministic for (seed, dataset, model, split): the class centres depend on (seed, model) only, so the gallery
    and queries of one space share them; labels are balanced (item i has class i mod classes, shuffled)."""
    import torch

    from ..io import EmbeddingWriter

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


SOURCE = register(Source(
    name="synthetic",
    title="Gaussian clusters of non-negative vectors in each model's space, sizes times scale (no download)",
    module=__name__,
    kind=SYNTHETIC,
    fields={
        "gallery_size": {"type": "integer", "minimum": 1, "default": 1281167,
                         "description": "gallery vectors before scale (ImageNet-1k's training split)"},
        "query_size": {"type": "integer", "minimum": 1, "default": 50000,
                       "description": "query vectors before scale (ImageNet-1k's validation split)"},
        "classes": {"type": "integer", "minimum": 1, "default": 1000,
                    "description": "balanced classes (Gaussian clusters of non-negative vectors)"},
    },
    sizes=synthetic_sizes,
    synthesize=synthesize,
    order=80,
))
