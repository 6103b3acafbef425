"""One job per (dataset, space, method): every configuration of the method's grid on that space is built and evaluated
in one process, with the gallery read once and its unit vectors kept once on the device.

Each configuration writes its own files: the index folder (one per build: configurations that differ only in a query
parameter, k-means' probes, share it), ``ranking.parquet`` (what each query retrieved, lshbench/ranking.py; the
metrics job derives metrics.csv and per_query.parquet from it), ``timings.csv`` and, last, a ``provenance.json``
holding a key of everything its results depend on: its method and folder parameters, the build settings, the seed,
the evaluation settings, the fingerprints (size, mtime) of the files it reads and the hash of the code that computes
it (the method job's code: its script, what that imports and the method's module, lshbench.code). A configuration
whose files are all there with the same key is kept, not recomputed: adding one K to a grid re-runs the method's job
on each space, which builds and evaluates only the new K. The job's own output is a manifest (one line per
configuration, kept or built), written when all are done; a failure leaves the finished configurations in place.

A job whose configurations are all current, with the keys of its last completed run (``last_run.json`` beside them),
has no reason to run but that it was asked to (``--forcerun``/``--forceall`` of its manifest, or the manifest
deleted): then every configuration is rebuilt, as the user asked. With one configuration's provenance.json deleted
(what ``verify`` advises for a broken file), a forced job rebuilds only that configuration.
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .code import method_code
from .evaluate import TIMING_COLUMNS, Evaluator
from . import layout
from .io import atomic_path
from .layout import Key
from .ranking import Ranking, write_ranking
from .methods import method as registered
from .methods.registry import format_value

log = logging.getLogger(__name__)
OUTPUTS = ("ranking.parquet", "timings.csv")  # the metrics job writes metrics.csv and per_query.parquet


def fingerprint(path: str | os.PathLike) -> list:
    """(size, mtime in ns) of a file: changes when the file is rewritten, costs no read of a 10 GB gallery."""
    stat = os.stat(path)
    return [stat.st_size, stat.st_mtime_ns]


def provenance_key(facts: dict) -> str:
    return hashlib.sha256(json.dumps(facts, sort_keys=True, default=str).encode()).hexdigest()[:24]


def read_last_run(path: str | Path) -> dict | None:
    try:
        return json.loads(Path(path).read_text())["keys"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def is_current(config: Key, key: str) -> bool:
    """Every output of the configuration exists and was computed from the same facts."""
    folder = Path(layout.configuration_folder(config))
    try:
        recorded = json.loads((folder / "provenance.json").read_text())["key"]
    except (OSError, ValueError, KeyError):
        return False
    files = [folder / name for name in OUTPUTS] + [Path(layout.index_folder(config), "index.json")]
    return recorded == key and all(f.is_file() for f in files)


def run_batch(configurations: list[Key], *, gallery, query, exact_scores: np.ndarray, inputs: dict,
              settings: dict, seed: int, device: torch.device, memory_mb: int, latency_queries: int,
              keep_top: int = 100, trained: dict[str, str] | None = None, progress: bool = True,
              code: str | None = None, rebuild_when_unchanged: bool = False) -> list[dict]:
    """Build and evaluate every configuration that is not current; returns the manifest rows (in the given order).

    ``gallery``/``query``: ``lshbench.io.Embeddings``; ``inputs``: name -> path of every file the results depend
    on (fingerprinted into each key); ``trained``: training folder -> model.npz for methods with a training step;
    ``code``: the hash of the code the results come from (the method job's ``code`` param, lshbench.code.rule_code;
    without it, the method's module and this runner's, lshbench.code.method_code).
    Configurations that differ only in query parameters share one build. ``rebuild_when_unchanged``: the method
    job's setting (Snakemake runs it only when something changed, or when forced): with every configuration current
    and as in the last completed run, rebuild them all."""
    evaluator = None
    rows = {}
    planned = []
    for config in configurations:
        entry = registered(config.method)
        used = dict(inputs)
        if entry.training is not None:
            used["trained"] = trained[config.training]
        facts = {"method": config.method, "params": config.folder, "settings": settings, "seed": seed,
                 "latency_queries": latency_queries, "keep_top": keep_top, "code": code or method_code(entry.module),
                 "inputs": {k: fingerprint(v) for k, v in sorted(used.items())}}
        planned.append((config, entry, used, facts, provenance_key(facts)))
    keys = {config.folder: key for config, *_, key in planned}
    current = {config.folder: is_current(config, key) for config, *_, key in planned}
    forced = (rebuild_when_unchanged and bool(planned) and all(current.values())
              and read_last_run(layout.last_run(*planned[0][0].job)) == keys)
    if forced:
        log.info("every configuration is current and as in the last completed run, yet the job runs: it was forced "
                 "(--forcerun/--forceall, or its manifest deleted); rebuilding all %d", len(planned))
    builds: dict[str, list] = {}
    for item in planned:
        builds.setdefault(item[0].build, []).append(item)
    for folder, group in builds.items():
        todo = []
        for config, entry, used, facts, key in group:
            if not forced and current[config.folder]:
                rows[config.folder] = {"params": config.folder, "key": key, "status": "kept"}
                log.info("%s %s: current, kept", config.method, config.folder)
            else:
                todo.append((config, entry, used, facts, key))
        if not todo:
            continue
        config, entry, used, _, _ = todo[0]
        for other, *_ in todo:
            Path(layout.configuration_file(other, "provenance.json")).unlink(missing_ok=True)
        arrays = None
        if entry.training is not None:
            arrays = {k: torch.from_numpy(v) for k, v in np.load(used["trained"]).items()}
        replicate = seed if config.seed is None else config.seed  # a seeded method's replicate
        index = entry.index_class().build(config.parameters, seed=replicate, device=device, trained=arrays, **settings)
        seconds = fit(index, gallery, device)
        size = sum(int(a.numel() * a.element_size()) for a in index.arrays().values())  # the saved arrays' bytes
        save_index(index, config, seconds, size, device, entry.query)
        if evaluator is None:  # after the first build: the raw gallery a build used is freed by then
            evaluator = Evaluator(torch.from_numpy(gallery.vectors), torch.from_numpy(gallery.labels),
                                  torch.from_numpy(query.vectors), torch.from_numpy(query.labels),
                                  torch.from_numpy(exact_scores), device=device, memory_mb=memory_mb)
        for config, entry, used, facts, key in todo:
            params = config.settings
            index.set_query(**{k: params[k] for k in entry.query})
            own = index.params()
            differ = {k: (v, own.get(k)) for k, v in params.items() if format_value(own.get(k)) != format_value(v)}
            if differ:
                raise RuntimeError(f"{config.method}: the index's params() differ from its folder name "
                                   f"{config.folder} (folder, index): {differ}")
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            ranking, timings = evaluator.rankings(index, keep_top=keep_top, latency_queries=latency_queries,
                                                  progress=progress)
            write_ranking_files(config, index, ranking, timings, gallery, query, seconds, size)
            Path(layout.configuration_file(config, "provenance.json")).write_text(
                json.dumps({"key": key, **facts}, indent=2))
            rows[config.folder] = {"params": config.folder, "key": key, "status": "built"}
            log.info("%s %s: built in %.2f s, evaluated in %.2f s", config.method, config.folder, seconds,
                     timings["evaluate_seconds"])
        del index
        gc.collect()
    if planned:
        with atomic_path(layout.last_run(*planned[0][0].job)) as tmp:
            tmp.write_text(json.dumps({"keys": keys}, indent=2))
    return [rows[config.folder] for config, *_ in planned]


def fit(index, gallery, device: torch.device) -> float:
    """Fit on the raw gallery moved to the device for the build only (freed after): seconds."""
    x, labels = torch.from_numpy(gallery.vectors).to(device), torch.from_numpy(gallery.labels)
    start = time.perf_counter()
    index.fit(x, labels)
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    del x
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return seconds


def save_index(index, config: Key, seconds: float, index_bytes: int, device: torch.device,
               query: tuple[str, ...] = ()) -> None:
    folder = Path(layout.index_folder(config))
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.npy"):
        stale.unlink()
    index.save(folder, extra={"dataset": config.dataset, "space": config.space, "build_seconds": seconds,
                              "index_bytes": index_bytes, "device": str(device)}, query=query)


def write_ranking_files(config: Key, index, ranking: Ranking, timings: dict, gallery, query,
                        build_seconds: float, index_bytes: int) -> None:
    """ranking.parquet (what each query retrieved, with what metrics.csv says of the configuration besides its
    metrics: the index's own params()) and timings.csv (what the machine measured), each written atomically."""
    folder = Path(layout.configuration_folder(config))
    folder.mkdir(parents=True, exist_ok=True)
    ranking.query_ids = query.ids
    # what an approximate index evaluated to find its candidates beside them (lshbench.methods.ann), if it says
    statistics = index.search_statistics(torch.from_numpy(query.vectors)) if hasattr(index, "search_statistics") \
        else {}
    ranking.metadata = {
        "row": {"dataset": config.dataset, "space": config.space, "dim": gallery.dim, "method": config.method,
                "params": config.folder, **index.params(), **statistics},
        "n_gallery": len(gallery), "latency_queries": timings["latency_queries"], "index_bytes": index_bytes,
    }
    write_ranking(folder / "ranking.parquet", ranking)
    keys = {"dataset": config.dataset, "space": config.space, "method": config.method, "params": config.folder}
    measured = {**timings, "build_seconds": build_seconds}
    row = {**keys, "n_queries": len(ranking), **{c: measured[c] for c in TIMING_COLUMNS}}
    with atomic_path(folder / "timings.csv") as tmp:
        pd.DataFrame([row]).to_csv(tmp, index=False)

