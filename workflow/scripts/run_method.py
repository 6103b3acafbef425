"""Build and evaluate every configuration of one method on one space (lshbench/batch.py), reading the gallery once;
the manifest lists each configuration as kept (current) or built."""

import json

from lshbench import workflow
from lshbench.batch import Configuration, run_batch
from lshbench.device import resolve_device
from lshbench.io import atomic_path, read_embeddings, read_neighbours
from lshbench.methods import method


def main(sm):
    w = sm.wildcards
    device = resolve_device(sm.config["device"])
    gallery, query = read_embeddings(sm.input.gallery), read_embeddings(sm.input.query)
    query_ids, _, exact_scores = read_neighbours(sm.input.exact)
    if not (query_ids == query.ids).all():
        raise RuntimeError(f"{sm.input.exact} was computed for other queries than {sm.input.query}; delete it to rerun")
    entry = method(w.method)
    trained = {}
    if entry.training is not None:
        trained = {path.split("/")[-2]: path for path in sm.input.trained}
    configurations = [Configuration(w.dataset, w.space, w.method, p) for p in sm.params.configurations]
    rows = run_batch(configurations, gallery=gallery, query=query, exact_scores=exact_scores,
                     inputs={"gallery": sm.input.gallery, "query": sm.input.query, "exact": sm.input.exact},
                     settings=json.loads(sm.params.settings), seed=sm.params.seed, device=device,
                     memory_mb=sm.config["evaluation"]["memory_mb"], latency_queries=sm.params.latency_queries,
                     keep_top=sm.params.keep_top, trained=trained, code=sm.params.code,
                     rebuild_when_unchanged=True)
    with atomic_path(sm.output[0]) as tmp:
        tmp.write_text(json.dumps({"dataset": w.dataset, "space": w.space, "method": w.method,
                                   "device": str(device), "configurations": rows}, indent=2))


workflow.run(snakemake, main)  # noqa: F821
