"""One module per method, one interface (``Index``): fit(gallery, labels) and batched candidates(queries)."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from .base import Index, load_arrays
from .exact import Exact
from .hyperplane import HyperplaneLSH
from .kmeans import KMeans
from .neural import NeuralLSH, networks_from_arrays

METHODS = ("exact", "kmeans", "hyperplane", "neural")


def load_index(folder: str | Path, device: str | torch.device = "cpu") -> Index:
    """Rebuild a saved index from its folder (index.json plus one .npy file per array)."""
    meta = json.loads((Path(folder) / "index.json").read_text())
    p, arrays = meta["params"], load_arrays(folder, device)
    method = meta["method"]
    if method == "exact":
        index = Exact(device)
    elif method == "kmeans":
        index = KMeans(**p, device=device)
    elif method == "hyperplane":
        index = HyperplaneLSH(p["H"], p["L"], center=p["center"], seed=p["seed"], device=device)
    elif method == "neural":
        index = NeuralLSH.from_params(networks_from_arrays(arrays, device), p, device=device)
    else:
        raise ValueError(f"{folder}/index.json: unknown method {method!r}; one of {METHODS}")
    index.load_arrays(arrays)
    return index


__all__ = ["METHODS", "Exact", "HyperplaneLSH", "Index", "KMeans", "NeuralLSH", "load_index"]
