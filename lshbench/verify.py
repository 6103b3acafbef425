"""Checks that the files of a finished run are whole: Parquet footers and row counts against the recorded metadata,
index arrays against the shapes index.json recorded, rankings and per-query files against the queries, every CSV and JSON file
parsed and its rows counted against what produced it (a history's epochs, a manifest's configurations, the collected
metrics against the per-configuration files), each table against the table made again from its metrics files, each
plot's PNG signature and end.

Not checked: logs and benchmark TSVs (records of a run that nothing reads: a broken one changes no result), the HTML
report (made on request, from the files checked here), Snakemake's own .snakemake/ folder.

A file truncated or overwritten after its job finished keeps its mtime and is not re-run by Snakemake; these checks
find it and name the file to force (``--forcerun <file>``)."""

from __future__ import annotations

import csv
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from . import layout
from .config import dataset_spaces, hamming_plan, plan
from .layout import Key


def _problem(path: Path, problem: str) -> str:
    return f"{path}: {problem}"


def _force(message: str, path: Path) -> str:
    """The fix of a rule output: re-create it."""
    return f"{message}; re-create it with `--forcerun {path}`"


def _rederive(message: str, key: Key) -> str:
    """The fix of a configuration's metrics.csv or per_query.parquet: its metrics job derives them again from the
    rankings (no rebuild)."""
    manifest = layout.metrics_manifest(*key.job)
    return f"{message}; re-create it with `--forcerun {manifest}` (derives the metrics again, rebuilds nothing)"


def _redo(message: str, key: Key) -> str:
    """The fix of a configuration's ranking, timings or index, which are not rule outputs: its method job rebuilds
    them once its provenance is gone."""
    provenance = layout.configuration_file(key, "provenance.json")
    manifest = layout.run_manifest(*key.job)
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


def verify_results(config: dict, root: str | os.PathLike = ".") -> tuple[list[str], int]:
    """(problems, files checked) for the embeddings and every configuration's files of ``config`` that exist under
    ``root``."""
    root = Path(root)
    problems: list[str] = []
    checked = 0
    query_rows: dict[tuple[str, str], int] = {}
    for d in config["datasets"]:
        for space in dataset_spaces(config, d):
            for split in layout.SPLITS:
                path = root / layout.embeddings(d["name"], space, split)
                if path.is_file():
                    checked += 1
                    found = check_embedding(path)
                    problems += [_force(message, path) for message in found]
                    if split == "query" and not found:
                        query_rows[(d["name"], space)] = pq.read_metadata(path).num_rows
    keys = plan(config)
    for key in keys:
        dataset, space = key.dataset, key.space
        exact = root / layout.exact_neighbours(dataset, space)
        index = root / layout.index_folder(key)
        metrics = root / layout.configuration_folder(key)
        if exact.is_file():
            checked += 1
            problems += [_force(message, exact)
                         for message in check_rows(exact, query_rows.get((dataset, space)))]
        found, derived = [], []
        if (index / "index.json").is_file():
            checked += 1
            found += check_index(index)
        n_queries = query_rows.get((dataset, space))
        for name, into in (("ranking.parquet", found), ("per_query.parquet", derived)):
            if (metrics / name).is_file():
                checked += 1
                into += check_rows(metrics / name, n_queries)
        records = [metrics / name for name in ("metrics.csv", "timings.csv", "provenance.json")]
        checked += sum(path.is_file() for path in records)
        for problem in check_configuration_records(metrics, key):
            (derived if problem.startswith(str(metrics / "metrics.csv")) else found).append(problem)
        problems += [_redo(problem, key) for problem in found]
        problems += [_rederive(problem, key) for problem in derived]
    trainings = dict.fromkeys((k.job, k.training) for k in [*keys, *(k for _, k in hamming_plan(config))]
                              if k.training)
    for job, training in trainings:
        networks = root / layout.training_file(*job, training, "model.npz")
        if networks.is_file():
            checked += 1
            problems += [_force(message, networks) for message in check_npz(networks)]
    return problems, checked


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"  # the IEND chunk every whole PNG ends with


def check_png(path: Path) -> list[str]:
    with open(path, "rb") as handle:
        head = handle.read(8)
        handle.seek(max(0, path.stat().st_size - len(PNG_END)))
        tail = handle.read()
    if head != PNG_SIGNATURE:
        return [_problem(path, "not a PNG file (no PNG signature)")]
    if tail != PNG_END:
        return [_problem(path, "truncated PNG (no IEND chunk at its end)")]
    return []


def read_csv(path: Path) -> tuple[pd.DataFrame | None, list[str]]:
    try:
        return pd.read_csv(path), []
    except Exception as error:  # empty, cut inside a quoted field, not text
        return None, [_problem(path, f"unreadable CSV ({type(error).__name__})")]


def read_json(path: Path) -> tuple[object, list[str]]:
    try:
        return json.loads(path.read_text()), []
    except (OSError, ValueError) as error:
        return None, [_problem(path, f"unreadable JSON ({type(error).__name__})")]


def whole_records(paths: list[Path]) -> bool:
    """Every per-configuration metrics/timings file is there and whole (a broken one is reported with its own fix, and
    what is made from it is not compared)."""
    return all(p.is_file() and not check_record(p, {}) for p in paths)


def check_concatenation(path: Path, parts: list[Path]) -> list[str]:
    """results/metrics.csv and timings.csv: the per-configuration files, one row each, in plan order."""
    frame, problems = read_csv(path)
    if frame is None or not whole_records(parts):
        return problems
    try:
        expected = pd.concat([pd.read_csv(p) for p in parts], ignore_index=True).to_csv(index=False)
    except Exception:  # a broken per-configuration file: reported with its own fix
        return problems
    if path.read_text() != expected:
        return [_problem(path, f"{len(frame)} rows, does not match the {len(parts)} per-configuration files it "
                               f"collects")]
    return []


def check_table(csv: Path, entry, root: Path) -> list[str]:
    """A table's CSV and Markdown against the table its entry of the report's registry (lshbench.report) makes
    again from the files it reads."""
    from .tables import to_markdown

    md = csv.with_suffix(".md")
    frame, problems = read_csv(csv)
    if frame is None:
        return problems
    records = [root / p for p in entry.paths("metrics.csv")]
    hamming = [root / p for p in entry.hamming_paths]  # the Hamming jobs' metrics.csv: one row per build
    sources = records + hamming + [root / p for p in entry.histories]
    per_query = [root / p for p in entry.paths("per_query.parquet")]
    whole = whole_records(records) and all(p.is_file() and read_csv(p)[0] is not None for p in hamming)
    if not all(p.is_file() for p in sources + per_query) or not whole:
        return problems
    try:
        table = entry.make(entry, root)
    except Exception:  # a broken metrics or history file: reported with its own fix
        return problems
    if csv.read_text() != table.to_csv(index=False):
        problems.append(_problem(csv, f"{len(frame)} rows, does not match the table made again from its "
                                      f"{len(sources)} metrics/history files ({len(table)} rows)"))
    if md.is_file() and md.read_text() != to_markdown(table):
        problems.append(_problem(md, "does not match the table made again from its metrics/history files"))
    return problems


def check_hamming(folder: Path, builds: list, query: Path) -> dict[str, list[str]]:
    """A Hamming job's files (those that exist) against its builds ([bits, folder] each, in order): metrics.csv and
    timings.csv one row per build naming it, pr_curve.csv bits + 1 rows per build, per_query.parquet one row per
    build and query of the space's query file ``query``."""
    out = {}
    expected = [str(f) for _, f in builds]
    for name in ("metrics.csv", "timings.csv"):
        path = folder / name
        if path.is_file():
            frame, problems = read_csv(path)
            if frame is not None and [str(p) for p in frame.get("params", [])] != expected:
                problems.append(_problem(path, f"{len(frame)} rows, expected one per build ({len(expected)})"))
            out[name] = problems
    path = folder / "pr_curve.csv"
    if path.is_file():
        frame, problems = read_csv(path)
        rows = sum(bits + 1 for bits, _ in builds)
        if frame is not None and len(frame) != rows:
            problems.append(_problem(path, f"{len(frame)} rows, expected {rows} (radii 0..B of each build)"))
        out[path.name] = problems
    path = folder / "per_query.parquet"
    if path.is_file():
        try:
            queries = pq.read_metadata(query).num_rows
        except Exception:  # a broken embedding: reported with its own fix
            queries = None
        out[path.name] = check_rows(path, None if queries is None else queries * len(builds))
    return out


def check_record(path: Path, keys: dict) -> list[str]:
    """A configuration's metrics.csv or timings.csv: one whole row (a row cut short reads as missing values) naming
    the configuration."""
    frame, problems = read_csv(path)
    if frame is None:
        return problems
    text = path.read_text()
    header, *rows = list(csv.reader(text.splitlines()))
    if not text.endswith("\n") or any(len(row) != len(header) for row in rows):  # empty values are legitimate
        return [_problem(path, f"its row is cut short ({len(rows[-1]) if rows else 0} of {len(header)} fields)")]
    if len(frame) != 1:
        return [_problem(path, f"{len(frame)} rows, expected 1 (one configuration)")]
    differ = {k: frame[k].iloc[0] for k, v in keys.items() if k in frame and str(frame[k].iloc[0]) != v}
    if differ or not set(keys) <= set(frame.columns):
        return [_problem(path, f"does not name this configuration {keys}")]
    return []


def check_configuration_records(metrics: Path, key: Key) -> list[str]:
    """A configuration's metrics.csv and timings.csv (one whole row naming it) and provenance.json (its key)."""
    problems = []
    keys = {"dataset": key.dataset, "space": key.space, "method": key.method, "params": key.folder}
    for name in ("metrics.csv", "timings.csv"):
        if (metrics / name).is_file():
            problems += check_record(metrics / name, keys)
    if (metrics / "provenance.json").is_file():
        recorded, found = read_json(metrics / "provenance.json")
        problems += found
        if recorded is not None and not (isinstance(recorded, dict) and "key" in recorded):
            problems.append(_problem(metrics / "provenance.json", "holds no key"))
    return problems


def verify_outputs(spec: dict, root: str | os.PathLike = ".") -> tuple[list[str], int]:
    """(problems, files checked) for the files after the embeddings that are not a configuration's own: manifests,
    training histories, PCA records, download manifests, the collected metrics and timings, the Hamming jobs' files,
    tables, plots and the checksum list, and the downloads, embeddings and PCA spaces made by other code than this
    checkout's (``stale_code``: the workflow finds them, lshbench.code.changed_code). ``spec`` is what the verify rule
    passes (lshbench.targets.verify_spec)."""
    root = Path(root)
    problems: list[str] = []
    checked = 0

    def found(path: Path, messages: list[str], fix=_force):
        nonlocal checked, problems
        checked += 1
        problems += [fix(message, path) for message in messages]

    def manifest_lists(manifest: str, configurations: list[str], what: str) -> None:
        """A job's manifest: parsed, listing the plan's configurations; ``what`` its forced job does."""
        path = root / manifest
        if path.is_file():
            recorded, messages = read_json(path)
            if recorded is not None:
                listed = [c.get("params") for c in recorded.get("configurations", [])] if isinstance(recorded, dict) \
                    else None
                if listed != configurations:
                    messages.append(_problem(path, f"lists {listed}, the plan has {configurations}"))
            found(path, messages, lambda m, p: f"{m}; re-create it with `--forcerun {p}` ({what})")

    for manifest, configurations in spec["runs"].items():
        manifest_lists(manifest, configurations, "rebuilds that method job's configurations")
    for last_run in spec["last_runs"]:
        record = root / last_run
        if record.is_file():
            recorded, messages = read_json(record)
            if recorded is not None and not (isinstance(recorded, dict) and isinstance(recorded.get("keys"), dict)):
                messages.append(_problem(record, "holds no keys"))
            found(record, messages, lambda m, p: f"{m}; delete it (it only tells a forced method job what its last "
                                                 f"run built)")
    for manifest, configurations in spec.get("derived", {}).items():
        manifest_lists(manifest, configurations, "derives that method job's metrics again")
    for history, settings in spec["histories"].items():
        path = root / history
        if path.is_file():
            frame, messages = read_csv(path)
            if frame is not None and "epochs" in settings and len(frame) != settings["epochs"]:
                messages.append(_problem(path, f"{len(frame)} rows, expected one per epoch ({settings['epochs']})"))
            found(path, messages)
    for info in spec["pca"]:
        path = root / info
        if path.is_file():
            recorded, messages = read_json(path)
            gallery = path.parent / "gallery.parquet"
            if isinstance(recorded, dict) and gallery.is_file() and not messages:
                try:
                    dim = json.loads(pq.read_metadata(gallery).metadata[b"lshbench"])["dim"]
                except Exception:  # a broken embedding: reported with its own fix
                    dim = recorded.get("dims")
                if recorded.get("dims") != dim:
                    messages.append(_problem(path, f"dims {recorded.get('dims')}, its gallery has {dim}"))
            found(path, messages)
    for manifest in spec["downloads"]:
        path = root / manifest
        if path.is_file():
            found(path, read_json(path)[1])
    for combined, parts in spec["collected"].items():
        path = root / combined
        if path.is_file():
            found(path, check_concatenation(path, [root / p for p in parts]))
    for folder, job in spec.get("hamming", {}).items():
        for name, problems_of in check_hamming(root / folder, job["builds"], root / job["query"]).items():
            found(root / folder / name, problems_of)
    for entry in spec["tables"].values():
        path = root / layout.table_file(entry.name)
        if path.is_file():
            found(path, check_table(path, entry, root))
    for plot in spec["plots"]:
        path = root / plot
        if path.is_file():
            found(path, check_png(path))
    for output, stale in spec.get("stale_code", {}).items():
        checked += 1
        problems.append(f"{root / output}: code changed since this file was made ({', '.join(stale['changed'])}); "
                        f"re-make it and what follows with `--forcerun {output}`, or keep it knowingly")
    path = root / spec["checksums"]["path"]
    if path.is_file():
        lines = path.read_text().splitlines()
        bad = [line for line in lines if len(line.split("  ", 1)) != 2 or len(line.split("  ", 1)[0]) != 64]
        messages = [_problem(path, f"line {lines.index(bad[0]) + 1} is not '<sha256>  <path>'")] if bad else []
        if len(lines) != spec["checksums"]["files"]:
            messages.append(_problem(path, f"{len(lines)} lines, expected {spec['checksums']['files']}"))
        found(path, messages)
    return problems, checked
