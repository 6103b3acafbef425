"""The Hamming-ranking protocol of one method on one space (lshbench/hamming_protocol.py): every code length and
replicate built, the whole gallery ranked by Hamming distance per query; per_query.parquet, metrics.csv, pr_curve.csv
and timings.csv."""

import json

from lshbench import layout, threads, workflow
from lshbench.config import hamming_builds
from lshbench.device import resolve_device
from lshbench.hamming_protocol import run_hamming
from lshbench.io import atomic_path, read_embeddings


def main(sm):
    w = sm.wildcards
    threads.use(sm.threads)
    device = resolve_device(sm.config["device"])
    gallery, query = read_embeddings(sm.input.gallery), read_embeddings(sm.input.query)
    builds = hamming_builds(sm.config, w.dataset, w.space, w.method, json.loads(sm.params.builds))
    trained = {key.training: layout.training_file(*key.job, key.training, "model.npz") for _, key in builds}
    frames = run_hamming(builds, gallery, query, settings=json.loads(sm.params.settings), trained=trained,
                         device=device, R=sm.params.R, radius=sm.params.radius)
    with atomic_path(sm.output.per_query) as tmp:
        frames["per_query"].to_parquet(tmp, index=False)
    for name in ("metrics", "curves", "timings"):
        with atomic_path(sm.output[name]) as tmp:
            frames[name].to_csv(tmp, index=False)


workflow.run(snakemake, main)  # noqa: F821
