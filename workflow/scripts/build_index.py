"""Build one index (one method, one parameter set) on one space's gallery and save it into its folder.

The method comes from the registry; its folder parameters (typed by the registry), build settings and seed make the
index, and the index's own params() go to index.json (checked against the folder name: the parameters travel once)."""

import json
import time
from pathlib import Path

import numpy as np
import torch

from lshbench import workflow
from lshbench.embed import resolve_device
from lshbench.io import read_embeddings
from lshbench.methods import method
from lshbench.methods.registry import format_value


def main(sm):
    entry = method(sm.wildcards.method)
    params = entry.parse(sm.wildcards.params)
    device = resolve_device(sm.config["device"])
    trained = None
    if "trained" in sm.input.keys():
        trained = {k: torch.from_numpy(v) for k, v in np.load(sm.input.trained).items()}
    index = entry.index_class().build(params, seed=sm.params.seed, device=device, trained=trained,
                                      **json.loads(sm.params.settings))
    own = index.params()
    differ = {k: (v, own.get(k)) for k, v in params.items() if format_value(own.get(k)) != format_value(v)}
    if differ:
        raise RuntimeError(f"{entry.name}: the index's params() differ from its folder name {sm.wildcards.params} "
                           f"(folder, index): {differ}")
    gallery = read_embeddings(sm.input.gallery)
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
