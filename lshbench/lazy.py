"""Import a module on first use: method modules declare their registry entry and their ``Index`` class side by side,
and ``lshbench.config`` reads the entries while Snakemake parses the workflow, which must not pay for importing torch
(about 2 s, in every job of a cluster run). The module is loaded by the first attribute access
(``importlib.util.LazyLoader``), so module-level code of a method may name torch only inside functions."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def lazy_import(name: str) -> ModuleType:
    """``name`` as a module object that imports itself when first used (the module itself when already imported)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module
