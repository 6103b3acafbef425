"""How config.yaml's grids of the ANN methods were chosen: recall@10 of IVF-PQ, IVF-RaBitQ and HNSW (lshbench's own
classes, FAISS underneath, candidates re-ranked exactly as the evaluation engine does) at every grid point of
config.yaml's CIFAR-10 grids, on a synthetic gallery of CIFAR-10's size (50,000 x 512, non-negative Gaussian clusters
as vs_faiss.py makes them) and 1,000 queries. The grids should span recall@10 from about 0.5 to 0.99.

    .venv/bin/python benchmarks/ann_grids.py            # about 5 minutes on 2 cores
    .venv/bin/python benchmarks/ann_grids.py --gallery 10000 --queries 300   # a quick look
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lshbench import threads  # noqa: E402
from lshbench.methods import REGISTRY  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def synthetic(n_gallery: int, n_queries: int, dim: int = 512, classes: int = 100, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes, dim, generator=generator)
    labels = torch.randint(classes, (n_gallery + n_queries,), generator=generator)
    x = torch.relu(centres[labels] + 1.5 * torch.randn(len(labels), dim, generator=generator))
    return x[:n_gallery], x[n_gallery:]


def recall_at_10(index, gallery_unit: torch.Tensor, queries: torch.Tensor, exact: torch.Tensor) -> tuple[float, float]:
    """(recall@10 of the exact re-ranking of the index's candidates, mean candidates per query)."""
    candidates = index.candidates(queries)
    unit = torch.nn.functional.normalize(queries, dim=1)
    hits, total = 0, 0
    for i in range(len(queries)):
        row = candidates.row(i)
        scores = gallery_unit[row] @ unit[i]
        top = row[torch.topk(scores, min(10, len(row))).indices]
        hits += len(set(top.tolist()) & set(exact[i].tolist()))
        total += len(row)
    return hits / (10 * len(queries)), total / len(queries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gallery", type=int, default=50_000)
    parser.add_argument("--queries", type=int, default=1_000)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    threads.use(args.threads)
    gallery, queries = synthetic(args.gallery, args.queries)
    gallery_unit = torch.nn.functional.normalize(gallery, dim=1)
    exact = torch.topk(torch.nn.functional.normalize(queries, dim=1) @ gallery_unit.T, 10).indices
    grids = yaml.safe_load((ROOT / "config.yaml").read_text())["datasets"][0]["grids"]
    print(f"gallery {args.gallery} x 512, {args.queries} queries, {args.threads} threads; config.yaml's CIFAR-10 grids")
    print("| method | build | query | recall@10 | candidates per query | build s |")
    print("|---|---|---|---|---|---|")
    for name in ("ivfpq", "rabitq", "hnsw"):
        entry = REGISTRY[name]
        grid = grids[name]
        builds = [p for p in entry.plan(grid, {}, seeds=[0])]
        seen = {}
        for params in builds:
            build = {k: v for k, v in params.items() if k not in entry.query}
            key = tuple(build.items())
            if key not in seen:
                start = time.perf_counter()
                seen[key] = (entry.index_class().build(build | {k: params[k] for k in entry.query})
                             .fit(gallery), time.perf_counter() - start)
            index, seconds = seen[key]
            index.set_query(**{k: params[k] for k in entry.query})
            recall, candidates = recall_at_10(index, gallery_unit, queries, exact)
            shown = lambda d: "_".join(f"{k}={v}" for k, v in d.items() if k != "seed")  # noqa: E731
            print(f"| {name} | {shown(build)} | {shown({k: params[k] for k in entry.query})} | {recall:.3f} | "
                  f"{candidates:.0f} | {seconds:.1f} |", flush=True)


if __name__ == "__main__":
    main()
