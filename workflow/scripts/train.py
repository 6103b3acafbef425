"""A method's training step on one space's gallery (neural LSH's networks), reused by every build of its folder.

The settings are those of the configurations of the plan that train in this folder (lshbench.config.training_key); the arrays go to model.npz, one row per
epoch to history.csv."""

import numpy as np
import pandas as pd
import torch

from lshbench import workflow
from lshbench.device import resolve_device
from lshbench.io import atomic_path, read_embeddings
from lshbench.config import training_key
from lshbench.methods import method


def main(sm):
    w = sm.wildcards
    entry = method(w.method)
    settings = training_key(sm.config, w.dataset, w.space, w.method, w.params).training_settings
    seed = settings.pop("seed", sm.params.seed)  # the replicate's seed
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
