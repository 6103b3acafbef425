"""A method's training step on one space's gallery (neural LSH's networks), reused by every build of its folder.

The settings come from the folder name, typed by the method's registry entry; the arrays go to model.npz, one row per
epoch to history.csv."""

import numpy as np
import pandas as pd
import torch

from lshbench import workflow
from lshbench.device import resolve_device
from lshbench.io import atomic_path, read_embeddings
from lshbench.methods import method


def main(sm):
    entry = method(sm.wildcards.method)
    settings = entry.parse_training(sm.wildcards.params)
    seed = settings.pop("seed", sm.params.seed)  # the replicate's seed (the folder name's seed=N)
    device = resolve_device(sm.config["device"])
    gallery = read_embeddings(sm.input.gallery)
    x, y = torch.from_numpy(gallery.vectors), torch.from_numpy(gallery.labels)
    arrays, history = entry.training.train(x, y, settings, seed=seed, device=device, progress=True)
    with atomic_path(sm.output.model) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, **{k: v.detach().cpu().numpy() for k, v in arrays.items()})
    frame = pd.DataFrame(history)
    frame.insert(0, "device", str(device))
    with atomic_path(sm.output.history) as tmp:
        frame.to_csv(tmp, index=False)


workflow.run(snakemake, main)  # noqa: F821
