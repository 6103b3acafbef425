"""Content hashes of lshbench's code, for the keys that decide whether a result is current.

A result depends on the code that computed it: a configuration's key (lshbench/batch.py) and the ``code`` params of
the rules hold the hash of the modules that compute it, so an edit re-runs what it can change and nothing else.
Snakemake itself tracks only a ``script:`` file as a job's code, not the library modules the script imports.

The modules a module builds on are found by reading its ``import`` statements (relative or ``lshbench.*``, at any
depth, inside functions too), not by importing it: torch-free and fast, so Snakemake can call it while it parses.
The method package's ``__init__`` imports every method module through ``pkgutil``, which is not an import statement:
a method's hash covers the modules it imports itself, so an edit of one method module changes only the hashes of the
methods built on it (multi-probe LSH is built on hyperplane LSH).

A workflow job's code (``job_files``, ``job_code``) is the ``script:`` it runs, every lshbench module that script
imports (followed as above), the plug-in modules the job dispatches to through a registry (its method's, its
source's: the rules name them from the job's wildcards) and the package's data files (``lshbench/data/*``) that any of
those modules names: the transcribed report numbers are read by the code that names their file. Nothing is listed by
hand, so no list can drift from the imports."""

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


def _imports(path: Path, module: str | None) -> list[str]:
    """The lshbench modules the file at ``path`` imports (``module``: its name, for relative imports; None for a
    script), with the packages on the way, which Python runs too."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level and module is None:
                raise ValueError(f"{path}: a relative import outside a package")
            names += _resolve(module, node) if module else _resolve(PACKAGE, node)
        elif isinstance(node, ast.Import):
            names += [alias.name for alias in node.names if alias.name.split(".")[0] == PACKAGE]
    with_parents = []
    for name in names:
        parts = name.split(".")
        with_parents += [".".join(parts[: i + 1]) for i in range(len(parts))]
    return sorted(set(with_parents) - {module})


@lru_cache(maxsize=None)
def imported(module: str) -> tuple[str, ...]:
    """The lshbench modules ``module`` imports directly (with the packages on the way, which Python runs too)."""
    return tuple(_imports(module_path(module), module))


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


DATA = ROOT / "data"


def _strings(path: Path) -> tuple[str, ...]:
    """The string constants of a module's code (f-strings' parts too), docstrings left out: what it can open. Parsed
    once per version of the file: every job's ``code`` param asks for the same modules (92 jobs of the edit test's
    config: 2,419 parses, 9 of a `snakemake --summary`'s 12 s, without the cache)."""
    stat = path.stat()
    return _parsed_strings(str(path), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=None)
def _parsed_strings(path: str, mtime_ns: int, size: int) -> tuple[str, ...]:
    tree = ast.parse(Path(path).read_text(), filename=path)
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    return tuple(node.value for node in ast.walk(tree)
                 if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings)


def data_files(module: str) -> list[Path]:
    """The package's data files (lshbench/data/*) whose name a string of the module's code holds (not a comment or a
    docstring that mentions it): the files it reads."""
    if not DATA.is_dir():
        return []
    strings = _strings(module_path(module))
    return [path for path in sorted(DATA.iterdir())
            if path.is_file() and any(path.name in text for text in strings)]


def script_imports(script: str | Path) -> list[str]:
    """The lshbench modules a workflow script imports itself (absolute imports only: a script is not in a package)."""
    return _imports(Path(script), None)


def label(path: Path) -> str:
    """A file's name in code hashes and messages, without the checkout's location: lshbench/io.py,
    lshbench/data/report_figures.csv, workflow/scripts/tables.py."""
    path = Path(path).resolve()
    for top, prefix in ((ROOT, PACKAGE), (ROOT.parent, "")):
        if path.is_relative_to(top):
            return f"{prefix}/{path.relative_to(top).as_posix()}".lstrip("/")
    return path.name


def job_files(script: str | Path | None, *modules: str) -> list[Path]:
    """Every file a job's results come from: the script, the lshbench modules it and ``modules`` (the plug-ins the
    job dispatches to) import, transitively, and the data files those modules read; sorted by label."""
    names = closure(*(script_imports(script) if script else []), *modules)
    files = {module_path(name) for name in names}
    files |= {path for name in names for path in data_files(name)}
    if script:
        files.add(Path(script).resolve())
    return sorted(files, key=label)


def file_digests(files: list[Path]) -> dict[str, str]:
    """{label: SHA-256 (16 hex digits)} of each file: what a record of the code that made a file holds, so a later
    check can name the files that changed."""
    return {label(path): hashlib.sha256(path.read_bytes()).hexdigest()[:16] for path in files}


def job_code(script: str | Path | None, *modules: str) -> str:
    """The code hash of a job (see ``job_files``): equal in every checkout of the same code, different after any edit
    of one of its files."""
    digest = hashlib.sha256()
    for name, sha in file_digests(job_files(script, *modules)).items():
        digest.update(f"{name}\0{sha}\0".encode())
    return digest.hexdigest()[:16]


# The workflow's scripts, beside the package in a checkout (the Snakefile puts its folder first on sys.path, and
# the jobs' PYTHONPATH, so the package and the scripts hashed are the ones that run).
SCRIPTS = ROOT.parent / "workflow" / "scripts"


def rule_files(script: str, *modules: str) -> list[Path]:
    """``job_files`` of a rule's script, named as in its ``script:`` directive's file (workflow/scripts/embed.py ->
    'embed.py')."""
    return job_files(SCRIPTS / script, *modules)


def rule_code(script: str, *modules: str) -> str:
    """``job_code`` of a rule's script (see ``rule_files``): the ``code`` param of a rule, which re-runs its jobs when
    it changes."""
    return job_code(SCRIPTS / script, *modules)


# The jobs that take hours at ImageNet's size (downloads, embeddings, PCA) are not re-run by a code edit; each records
# the code that made its output beside it (a code record), and the workflow says at every start which outputs were
# made by other code (lshbench.code.stale_outputs; `snakemake verify` lists them too).
RECORD = ".code.json"


def record_path(output: str | Path) -> Path:
    """Where the code record of an output lies: results/.../gallery.parquet -> results/.../gallery.parquet.code.json."""
    output = Path(output)
    return output.with_name(output.name + RECORD)


def write_code_record(output: str | Path, files: list[Path]) -> None:
    """Record the code ``files`` (``rule_files``) that made ``output``, written whole or not at all."""
    import json
    import os

    path = record_path(output)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps({"output": Path(output).name, "files": file_digests(files)}, indent=2) + "\n")
    os.replace(tmp, path)


def changed_code(output: str | Path, files: list[Path]) -> list[str]:
    """The code files that differ from those recorded when ``output`` was made (edited, added or no longer imported):
    [] when it is current or absent, ['no code record'] when it was made without one (before records were kept)."""
    import json

    if not Path(output).exists():
        return []
    try:
        recorded = json.loads(record_path(output).read_text())["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return ["no code record"]
    now = file_digests(files)
    return sorted(name for name in set(now) | set(recorded) if now.get(name) != recorded.get(name))
