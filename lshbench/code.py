"""Content hashes of lshbench's code, for the keys that decide whether a result is current.

A result depends on the code that computed it: a configuration's key (lshbench/batch.py) and the ``code`` params of
the rules hold the hash of the modules that compute it, so an edit re-runs what it can change and nothing else.
Snakemake itself tracks only a ``script:`` file as a job's code, not the library modules the script imports.

The modules a module builds on are found by reading its ``import`` statements (relative or ``lshbench.*``, at any
depth, inside functions too), not by importing it: torch-free and fast, so Snakemake can call it while it parses.
The method package's ``__init__`` imports every method module through ``pkgutil``, which is not an import statement:
a method's hash covers the modules it imports itself, so an edit of one method module changes only the hashes of the
methods built on it (multi-probe LSH is built on hyperplane LSH)."""

from __future__ import annotations

import ast
import hashlib
from functools import lru_cache
from pathlib import Path

PACKAGE = "lshbench"
ROOT = Path(__file__).resolve().parent


def module_path(module: str) -> Path:
    """'lshbench.methods.kmeans' -> .../lshbench/methods/kmeans.py (a package -> its __init__.py). A module outside
    lshbench (a method registered by a plug-in module) is found where Python would import it from."""
    parts = module.split(".")
    if parts[0] != PACKAGE:
        import importlib.util

        spec = importlib.util.find_spec(module)
        if spec is None or not spec.origin or not spec.origin.endswith(".py"):
            raise ValueError(f"{module!r}: no Python source file to hash")
        return Path(spec.origin)
    base = ROOT.joinpath(*parts[1:])
    if base.is_dir():
        return base / "__init__.py"
    path = base.with_suffix(".py")
    if not path.is_file():
        raise ValueError(f"{module!r}: no file {path}")
    return path


def _is_package(module: str) -> bool:
    return module_path(module).name == "__init__.py"


def _resolve(module: str, node: ast.ImportFrom) -> list[str]:
    """The lshbench modules a ``from ... import ...`` statement in ``module`` names."""
    if node.level:
        package = module.split(".") if _is_package(module) else module.split(".")[:-1]
        base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
    else:
        base = node.module or ""
    if base.split(".")[0] != PACKAGE:
        return []
    found = [base]
    for alias in node.names:  # `from . import evaluate` and `from .methods import kmeans` name modules
        candidate = f"{base}.{alias.name}"
        try:
            module_path(candidate)
        except ValueError:
            continue
        found.append(candidate)
    return found


@lru_cache(maxsize=None)
def imported(module: str) -> tuple[str, ...]:
    """The lshbench modules ``module`` imports directly (with the packages on the way, which Python runs too)."""
    tree = ast.parse(module_path(module).read_text(), filename=str(module_path(module)))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            names += _resolve(module, node)
        elif isinstance(node, ast.Import):
            names += [alias.name for alias in node.names if alias.name.split(".")[0] == PACKAGE]
    with_parents = []
    for name in names:
        parts = name.split(".")
        with_parents += [".".join(parts[: i + 1]) for i in range(1, len(parts))]
    return tuple(sorted(set(with_parents) - {module}))


def closure(*modules: str) -> list[str]:
    """The modules given and every lshbench module they import, transitively, sorted."""
    seen: set[str] = set()
    todo = list(modules)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo += imported(name)
    return sorted(seen)


def code_hash(*modules: str) -> str:
    """SHA-256 (16 hex digits) of the source of ``modules`` and all they import from lshbench: equal in every checkout
    of the same code (no paths in it), different after any edit of one of those files, comments included."""
    digest = hashlib.sha256()
    for name in closure(*modules):
        digest.update(name.encode() + b"\0" + module_path(name).read_bytes() + b"\0")
    return digest.hexdigest()[:16]


# What a method job's results depend on beyond the method's own module: the batch runner and the evaluation engine
# (lshbench.batch imports lshbench.evaluate, lshbench.io and the method registry).
RUNNER = ("lshbench.batch",)


def method_code(module: str) -> str:
    """The code hash of a method job's results: the method's module, what it builds on, the runner and evaluator."""
    return code_hash(module, *RUNNER)
