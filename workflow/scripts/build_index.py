"""Build one index (one method, one parameter set) on one space's gallery and save it into its folder."""

import json
import time
from pathlib import Path

import numpy as np
import torch

from lshbench import workflow
from lshbench.config import parse_params
from lshbench.embed import resolve_device
from lshbench.io import read_embeddings
from lshbench.methods import Exact, HyperplaneLSH, KMeans, NeuralLSH
from lshbench.methods.neural import networks_from_arrays


def make_index(sm, method, params, device):
    seed = sm.params.seed
    if method == "exact":
        return Exact(device)
    if method == "kmeans":
        settings = json.loads(sm.params.settings)
        return KMeans(params["K"], probes=params["probes"], **settings, seed=seed, device=device)
    if method == "hyperplane":
        return HyperplaneLSH(params["H"], params["L"], center=params["center"], seed=seed, device=device)
    arrays = {k: torch.from_numpy(v) for k, v in np.load(sm.input.networks).items()}
    return NeuralLSH.from_params(networks_from_arrays(arrays, device), params, seed=seed, device=device)


def main(sm):
    method = sm.wildcards.get("method", "neural")
    params = parse_params(sm.wildcards.params)
    device = resolve_device(sm.config["device"])
    gallery = read_embeddings(sm.input.gallery)
    index = make_index(sm, method, params, device)
    x, labels = torch.from_numpy(gallery.vectors).to(device), torch.from_numpy(gallery.labels)
    start = time.perf_counter()
    index.fit(x, labels)
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    folder = Path(sm.output[0]).parent
    for stale in folder.glob("*.npy"):
        stale.unlink()
    arrays_bytes = sum(int(a.numel() * a.element_size()) for a in index.arrays().values())
    index.save(folder, extra={"dataset": sm.wildcards.dataset, "space": sm.wildcards.space,
                              "build_seconds": seconds, "index_bytes": arrays_bytes, "device": str(device)})


workflow.run(snakemake, main)  # noqa: F821
