"""Build and evaluate every configuration of one method on one space (lshbench/batch.py), reading the gallery once;
the manifest lists each configuration as kept (current) or built."""

import json

from lshbench import layout, workflow
from lshbench.batch import run_batch
from lshbench.config import job_keys
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
    configurations = job_keys(sm.config, w.dataset, w.space, w.method, sm.params.configurations)
    trained = {}
    if method(w.method).training is not None:
        trained = {k.training: layout.training_file(*k.job, k.training, "model.npz") for k in configurations}
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
