"""Train neural LSH's compression network(s) on one space's gallery; reused by every J.

Every training setting comes from the folder name (H, L, networks, standardize, epochs, lr, batch, alpha, beta, gamma).
"""

import logging

import numpy as np
import pandas as pd
import torch

from lshbench import workflow
from lshbench.config import parse_params
from lshbench.embed import resolve_device
from lshbench.io import atomic_path, read_embeddings
from lshbench.methods.neural import network_arrays, train_network


def main(sm):
    p = sm.params
    settings = parse_params(sm.wildcards.params)
    device = resolve_device(sm.config["device"])
    gallery = read_embeddings(sm.input.gallery)
    x, y = torch.from_numpy(gallery.vectors), torch.from_numpy(gallery.labels)
    count = settings["L"] if settings["networks"] == "per_table" else 1
    networks, rows = [], []
    for i in range(count):
        network, history = train_network(x, y, H=settings["H"], epochs=settings["epochs"], lr=settings["lr"],
                                          batch_size=settings["batch"], alpha=settings["alpha"],
                                          beta=settings["beta"], gamma=settings["gamma"], seed=p.seed + i,
                                          standardize=settings["standardize"], device=device, progress=True)
        networks.append(network)
        rows += [{"network": i, **row} for row in history]
        logging.info("network %d: final loss %.4f (%s)", i, history[-1]["total"], history[-1])
    with atomic_path(sm.output.networks) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, **{k: v.detach().cpu().numpy() for k, v in network_arrays(networks).items()})
    frame = pd.DataFrame(rows)
    frame.insert(0, "device", str(device))
    with atomic_path(sm.output.losses) as tmp:
        frame.to_csv(tmp, index=False)


workflow.run(snakemake, main)  # noqa: F821
