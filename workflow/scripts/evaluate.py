"""Evaluate one saved index: metrics.csv (one row, what the method achieved), timings.csv (one row, what the
machine measured: seconds, latency, memory, device) and per_query.parquet."""

import json
from pathlib import Path

import pandas as pd
import torch

from lshbench import workflow
from lshbench.embed import resolve_device
from lshbench.evaluate import TIMING_COLUMNS, Evaluator
from lshbench.io import atomic_path, read_embeddings, read_neighbours
from lshbench.methods import load_index

def main(sm):
    w, p = sm.wildcards, sm.params
    device = resolve_device(sm.config["device"])
    folder = Path(sm.input.index).parent
    built = json.loads(Path(sm.input.index).read_text())
    index = load_index(folder, device)
    gallery, query = read_embeddings(sm.input.gallery), read_embeddings(sm.input.query)
    query_ids, _, exact_scores = read_neighbours(sm.input.exact)
    if not (query_ids == query.ids).all():
        raise RuntimeError(f"{sm.input.exact} was computed for other queries than {sm.input.query}; delete it to rerun")
    evaluator = Evaluator(torch.from_numpy(gallery.vectors), torch.from_numpy(gallery.labels),
                          torch.from_numpy(query.vectors), torch.from_numpy(query.labels),
                          torch.from_numpy(exact_scores), device=device, memory_mb=sm.config["evaluation"]["memory_mb"])
    per_query, summary = evaluator.evaluate(index, latency_queries=p.latency_queries, progress=True)
    # the index's own parameters (index.json), as the tables show them
    row = {"dataset": w.dataset, "space": w.space, "dim": gallery.dim, "method": w.method, "params": w.params,
           **built["params"], **summary,
           "build_seconds": built["build_seconds"], "index_bytes": built["index_bytes"]}
    frame = pd.DataFrame({"query_id": query.ids, "label": query.labels, **per_query})
    with atomic_path(sm.output.per_query) as tmp:
        frame.to_parquet(tmp, index=False)
    keys = {"dataset": w.dataset, "space": w.space, "method": w.method, "params": w.params}
    timings = {**keys, "n_queries": row["n_queries"], **{c: row.pop(c) for c in TIMING_COLUMNS}}
    with atomic_path(sm.output.timings) as tmp:
        pd.DataFrame([timings]).to_csv(tmp, index=False)
    with atomic_path(sm.output.metrics) as tmp:
        pd.DataFrame([row]).to_csv(tmp, index=False)


workflow.run(snakemake, main)  # noqa: F821
