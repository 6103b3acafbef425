"""The learning-to-hash literature's protocol for one method on one space (rule ``hamming``): for every code length B
of the dataset's ``hamming.bits`` and every replicate, the method is built as its registry entry's ``hamming`` says
(one table of B bits: hyperplane LSH centred, ITQ, PCAH and spectral hashing with H = B, neural LSH's table 0 with
J = B bits drawn from its trained network), its ``hamming_codes`` encode the gallery and the queries, and the whole
gallery is ranked by Hamming distance (lshbench.hamming).

Written per job: ``per_query.parquet`` (one row per code length, build and query: the record), ``metrics.csv`` (the
means over the queries, one row per build), ``pr_curve.csv`` (precision and recall per Hamming radius, one row per
build and radius) and ``timings.csv`` (what the machine measured, apart from the results so they can be checksummed).
"""

from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd
import torch

from .hamming import hamming_ranking, pr_curve
from .layout import Key
from .methods import method as registered

log = logging.getLogger(__name__)
KEYS = ["dataset", "space", "method", "bits", "params", "seed"]


def encode(entry, key: Key, gallery, query, *, settings: dict, trained: dict | None, device) -> tuple:
    """Build the configuration ``key`` on the gallery; its (gallery, query) codes as bool arrays, and seconds."""
    seed = 0 if key.seed is None else key.seed
    index = entry.index_class().build(key.parameters, seed=seed, device=device, trained=trained, **settings)
    x = torch.from_numpy(gallery.vectors).to(device)
    start = time.perf_counter()
    index.fit(x, torch.from_numpy(gallery.labels))
    built = time.perf_counter() - start
    start = time.perf_counter()
    codes = [index.hamming_codes(v).cpu().numpy() for v in (x, torch.from_numpy(query.vectors).to(device))]
    return codes, built, time.perf_counter() - start


def run_hamming(builds: list[tuple[int, Key]], gallery, query, *, settings: dict, trained: dict[str, str], device,
                R: int, radius: int) -> dict[str, pd.DataFrame]:
    """Every (bits, key) build of one method on one space (lshbench.config.hamming_plan); ``trained``: training
    folder -> model.npz (neural LSH). Returns the four frames named in the module's docstring."""
    per_query, metrics, curves, timings = [], [], [], []
    for bits, key in builds:
        entry, name, folder = registered(key.method), key.method, key.folder
        arrays = None
        if entry.training is not None:
            arrays = {k: torch.from_numpy(v) for k, v in np.load(trained[key.training]).items()}
        (gallery_codes, query_codes), built, encoded = encode(entry, key, gallery, query, settings=settings,
                                                              trained=arrays, device=device)
        if gallery_codes.shape[1] != bits:
            raise RuntimeError(f"{name} {folder}: hamming_codes gave {gallery_codes.shape[1]} bits, not {bits}")
        start = time.perf_counter()
        values = hamming_ranking(query_codes, gallery_codes, query.labels, gallery.labels, R=(R,), radius=radius)
        ranked = time.perf_counter() - start
        keys = {"dataset": key.dataset, "space": key.space, "method": name, "bits": bits, "params": folder,
                "seed": key.seed}
        columns = {k: v for k, v in values.items() if k not in ("counts", "relevant_counts")}
        frame = pd.DataFrame({"query_id": query.ids, "label": query.labels, **columns})
        per_query.append(frame.assign(**keys))
        means = frame.drop(columns=["query_id", "label", "n_relevant"]).mean()
        metrics.append({**keys, "n_queries": len(query), "n_gallery": len(gallery), **means.to_dict()})
        curve = pd.DataFrame(pr_curve(values["counts"], values["relevant_counts"]))
        curves.append(curve.assign(**keys))
        timings.append({**keys, "build_seconds": built, "encode_seconds": encoded, "rank_seconds": ranked,
                        "queries_per_second": len(query) / max(ranked, 1e-12)})
        log.info("%s %s (%d bits): mAP@ALL %.4f (tie-aware %.4f), mAP@%d %.4f; ranked %d x %d in %.2f s", name,
                 folder, bits, means["ap_all"], means["ap_all_tie_aware"], R, means[f"ap_at_{R}"], len(query),
                 len(gallery), ranked)

    def ordered(frames: list[pd.DataFrame]) -> pd.DataFrame:
        out = pd.concat(frames, ignore_index=True)
        out["seed"] = out["seed"].astype("Int64")  # empty for a deterministic method (one build, no replicate)
        return out[KEYS + [c for c in out.columns if c not in KEYS]]

    return {"per_query": ordered(per_query), "metrics": ordered([pd.DataFrame(metrics)]), "curves": ordered(curves),
            "timings": ordered([pd.DataFrame(timings)])}
