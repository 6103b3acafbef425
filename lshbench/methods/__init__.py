"""One module per method: its registry entry (``METHOD``, see ``registry``) beside its ``Index`` class.

Importing this package imports every module in it, which registers every method, without importing torch (the modules
import it lazily). To add a method, add its module; nothing else in lshbench or the workflow names a method."""

from __future__ import annotations

import importlib
import json
import pkgutil
from pathlib import Path

from .registry import REGISTRY, Method, ParameterError

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")  # a method module registers its METHOD
for _name in sorted(REGISTRY, key=lambda name: (REGISTRY[name].order, name)):
    REGISTRY[_name] = REGISTRY.pop(_name)  # registry order: tables, summaries and plots follow it
METHODS = tuple(REGISTRY)


def method(name: str) -> Method:
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; registered methods: {', '.join(REGISTRY)}") from None


def load_index(folder: str | Path, device="cpu"):
    """Rebuild a saved index from its folder (index.json plus one .npy file per array)."""
    from .base import load_arrays

    meta = json.loads((Path(folder) / "index.json").read_text())
    try:
        entry = method(meta["method"])
    except ValueError as error:
        raise ValueError(f"{folder}/index.json: {error}") from None
    return entry.index_class().load(meta["params"], load_arrays(folder, device), device=device)


def __getattr__(name: str):
    """The Index classes by name (``from lshbench.methods import KMeans``), imported on first use."""
    for entry in REGISTRY.values():
        if entry.index == name:
            return entry.index_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["METHODS", "REGISTRY", "Method", "ParameterError", "load_index", "method"]
