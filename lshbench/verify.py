"""Checks that the files of a finished run are whole: Parquet footers and row counts against the recorded metadata,
index arrays against the shapes index.json recorded, per-query files against metrics.csv.

A file truncated or overwritten after its job finished keeps its mtime and is not re-run by Snakemake; these checks
find it and name the file to force (``--forcerun <file>``)."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq


def _problem(path: Path, problem: str) -> str:
    return f"{path}: {problem}"


def _force(message: str, path: Path) -> str:
    """The fix of a rule output: re-create it."""
    return f"{message}; re-create it with `--forcerun {path}`"


def _redo(message: str, dataset: str, space: str, method: str, params: str) -> str:
    """The fix of a configuration's file, which is not a rule output: its method job rebuilds it once its provenance
    is gone."""
    provenance = Path("results", dataset, "metrics", space, method, params, "provenance.json")
    manifest = Path("results", dataset, "runs", space, f"{method}.json")
    return (f"{message}; re-create it: delete {provenance} and run with `--forcerun {manifest}` (only that "
            f"configuration is rebuilt)")


def check_embedding(path: Path) -> list[str]:
    try:
        meta = pq.read_metadata(path)
        recorded = json.loads((meta.metadata or {}).get(b"lshbench", b"{}"))
        schema = pq.read_schema(path)
    except Exception as error:  # truncated: no footer, or not Parquet at all
        return [_problem(path, f"unreadable Parquet ({type(error).__name__})")]
    problems = []
    if "rows" in recorded and meta.num_rows != recorded["rows"]:
        problems.append(_problem(path, f"{meta.num_rows} rows, metadata says {recorded['rows']}"))
    dim = schema.field("embedding").type.list_size if "embedding" in schema.names else None
    if "dim" in recorded and dim != recorded["dim"]:
        problems.append(_problem(path, f"embedding size {dim}, metadata says {recorded['dim']}"))
    return problems


def check_rows(path: Path, expected: int | None) -> list[str]:
    try:
        rows = pq.read_metadata(path).num_rows
    except Exception as error:
        return [_problem(path, f"unreadable Parquet ({type(error).__name__})")]
    if expected is not None and rows != expected:
        return [_problem(path, f"{rows} rows, expected {expected}")]
    return []


def check_index(folder: Path) -> list[str]:
    info = folder / "index.json"
    try:
        recorded = json.loads(info.read_text()).get("arrays", {})
    except (OSError, ValueError) as error:
        return [_problem(info, f"unreadable ({type(error).__name__})")]
    problems = []
    for name, spec in recorded.items():
        path = folder / f"{name}.npy"
        try:
            array = np.load(path, mmap_mode="r")
        except Exception as error:  # missing, truncated (mmap of a short file), not .npy
            problems.append(_problem(info, f"{path.name} unreadable ({type(error).__name__})"))
            continue
        if list(array.shape) != spec["shape"] or str(array.dtype) != spec["dtype"]:
            problems.append(_problem(info, f"{path.name} is {array.dtype}{list(array.shape)}, index.json recorded "
                                         f"{spec['dtype']}{spec['shape']}"))
    return problems


def check_npz(path: Path) -> list[str]:
    try:
        with np.load(path) as arrays:
            for name in arrays.files:
                arrays[name]
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        return [_problem(path, f"unreadable ({type(error).__name__})")]
    return []


def verify_results(embeddings: list[str], plan: list, root: str | os.PathLike = ".") -> tuple[list[str], int]:
    """(problems, files checked) for every file of the plan that exists under ``root``."""
    root = Path(root)
    problems: list[str] = []
    checked = 0
    query_rows: dict[tuple[str, str], int] = {}
    for name in embeddings:
        path = root / name
        if path.is_file():
            checked += 1
            problems += [_force(message, path) for message in check_embedding(path)]
            if path.name == "query.parquet" and not problems:
                query_rows[(path.parts[-4], path.parts[-2])] = pq.read_metadata(path).num_rows
    for dataset, space, method, params in plan:
        exact = root / "results" / dataset / "exact" / space / "top50.parquet"
        index = root / "results" / dataset / "index" / space / method / params
        metrics = root / "results" / dataset / "metrics" / space / method / params
        if exact.is_file():
            checked += 1
            problems += [_force(message, exact)
                         for message in check_rows(exact, query_rows.get((dataset, space)))]
        found = []
        if (index / "index.json").is_file():
            checked += 1
            found += check_index(index)
        if (metrics / "metrics.csv").is_file() and (metrics / "per_query.parquet").is_file():
            checked += 2
            try:
                n_queries = int(pd.read_csv(metrics / "metrics.csv")["n_queries"].iloc[0])
            except Exception as error:
                found.append(_problem(metrics / "metrics.csv", f"unreadable ({type(error).__name__})"))
                n_queries = None
            found += check_rows(metrics / "per_query.parquet", n_queries)
        problems += [_redo(problem, dataset, space, method, params) for problem in found]
    for dataset, space in dict.fromkeys((d, s) for d, s, _, _ in plan):
        for networks in sorted((root / "results" / dataset / "train" / space).glob("*/*/model.npz")):
            checked += 1
            problems += [_force(message, networks) for message in check_npz(networks)]
    return problems, checked
