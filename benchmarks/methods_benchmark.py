"""Speed and memory of the methods and the evaluation engine on a synthetic gallery (prints a table).

    python benchmarks/methods_benchmark.py --threads 2          # needs the bench extra (faiss-cpu) for FAISS

Gallery: 50,000 non-negative 512-d vectors in 10 classes (ReLU of Gaussian clusters, like ResNet features), 10,000
queries. Part 1: k-means Lloyd seconds per iteration at K=1000 from the same initial centroids (ours, FAISS,
scikit-learn). Part 2: evaluation of one configuration per method next to the exact baseline, single-query latency,
and peak memory (each configuration in its own process: peak RSS above the RSS with the data loaded).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np
import torch

from lshbench.evaluate import Evaluator, exact_top_k
from lshbench.metrics import evaluate
from lshbench.methods import Exact, HyperplaneLSH, KMeans, NeuralLSH
from lshbench.methods.kmeans import kmeans_plus_plus, row_norms
from lshbench.methods.neural import train_network


def synthetic(n_gallery: int, n_queries: int, dim: int, classes: int, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes, dim, generator=generator)
    labels = torch.randint(classes, (n_gallery + n_queries,), generator=generator)
    x = torch.relu(centres[labels] + 1.5 * torch.randn(len(labels), dim, generator=generator))
    return x[:n_gallery], labels[:n_gallery], x[n_gallery:], labels[n_gallery:]


def lloyd_seconds_per_iteration(x: torch.Tensor, init: torch.Tensor, iterations: int) -> float:
    model = KMeans(len(init), max_iter=iterations, tol=0)
    start = time.perf_counter()
    model._lloyd(x, init.clone(), tol=-1.0, x_norms=row_norms(x))
    return (time.perf_counter() - start) / model.iterations


def faiss_seconds_per_iteration(x: np.ndarray, init: np.ndarray, iterations: int) -> float | None:
    try:
        import faiss
    except ImportError:
        return None
    kmeans = faiss.Kmeans(x.shape[1], len(init), niter=iterations, seed=0, max_points_per_centroid=len(x),
                          verbose=False)
    start = time.perf_counter()
    kmeans.train(x, init_centroids=init)
    return (time.perf_counter() - start) / iterations


def sklearn_seconds_per_iteration(x: np.ndarray, init: np.ndarray, iterations: int) -> float:
    from sklearn.cluster import KMeans as SkKMeans

    model = SkKMeans(len(init), init=init, n_init=1, max_iter=iterations, tol=0, algorithm="lloyd")
    start = time.perf_counter()
    model.fit(x)
    return (time.perf_counter() - start) / model.n_iter_


def _rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize() / 2**20


def configurations(gallery, labels):
    def neural():
        network, _ = train_network(gallery, labels, H=800, epochs=5, seed=0)
        return NeuralLSH([network], 16, 8)

    return {
        "exact": Exact,
        "kmeans K=100": lambda: KMeans(100, max_iter=20),
        "kmeans K=1000": lambda: KMeans(1000, max_iter=20),
        "hyperplane H=8 L=6": lambda: HyperplaneLSH(8, 6),
        "hyperplane H=8 L=6 centred": lambda: HyperplaneLSH(8, 6, center=True),
        "hyperplane H=16 L=6 centred": lambda: HyperplaneLSH(16, 6, center=True),
        "neural J=16 L=8 (5 epochs)": neural,
    }


def run_one(name: str, args) -> dict:
    """One configuration in this (fresh) process: build, evaluate; peak RSS above the RSS with the data loaded."""
    gallery, gallery_labels, queries, query_labels = synthetic(args.gallery, args.queries, args.dim, 10)
    _, exact_scores = exact_top_k(gallery, queries, 50)
    evaluator = Evaluator(gallery, gallery_labels, queries, query_labels, exact_scores)
    make = configurations(gallery, gallery_labels)[name]
    base = _rss_mb()
    start = time.perf_counter()
    index = make()
    index.fit(gallery, gallery_labels)
    build = time.perf_counter() - start
    _, summary = evaluate(evaluator, index)
    return {**summary, "build_seconds": build,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - base}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--gallery", type=int, default=50_000)
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--skip-sklearn", action="store_true")
    parser.add_argument("--skip-kmeans", action="store_true")
    parser.add_argument("--only", help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.only:
        print(json.dumps(run_one(args.only, args)))
        return
    gallery, gallery_labels, queries, query_labels = synthetic(args.gallery, args.queries, args.dim, 10)
    print(f"gallery {tuple(gallery.shape)} ({gallery.numel() * 4 / 2**20:.0f} MB float32), queries "
          f"{tuple(queries.shape)}, {torch.get_num_threads()} threads\n")
    if not args.skip_kmeans:
        init = kmeans_plus_plus(gallery, 1000, torch.Generator().manual_seed(0))
        ours = lloyd_seconds_per_iteration(gallery, init, args.iterations)
        faiss_s = faiss_seconds_per_iteration(gallery.numpy(), init.numpy(), args.iterations)
        print("k-means Lloyd, K=1000, seconds per iteration (same initial centroids)")
        print(f"  lshbench (torch) {ours:8.3f}")
        print(f"  FAISS            {faiss_s:8.3f}   lshbench / FAISS = {ours / faiss_s:5.2f}x" if faiss_s else
              "  FAISS            not installed (pip install -e '.[bench]')")
        if not args.skip_sklearn:
            sk = sklearn_seconds_per_iteration(gallery.numpy(), init.numpy(), 2)
            print(f"  scikit-learn     {sk:8.3f}   scikit-learn / lshbench = {sk / ours:5.1f}x")
            from sklearn.cluster import KMeans as SkKMeans

            start = time.perf_counter()
            KMeans(1000, max_iter=10, tol=0).fit(gallery)
            ours_fit = time.perf_counter() - start
            start = time.perf_counter()
            SkKMeans(1000, n_init=1, max_iter=10, tol=0, random_state=0).fit(gallery.numpy())
            sk_fit = time.perf_counter() - start
            print(f"  whole fit (k-means++ init + 10 iterations): lshbench {ours_fit:.1f} s, scikit-learn "
                  f"{sk_fit:.1f} s ({sk_fit / ours_fit:.1f}x)")
        print()
    header = (f"{'configuration':28} {'build s':>8} {'eval s':>7} {'vs exact':>8} {'cand %':>7} {'P@10':>6} "
              f"{'mAP':>6} {'R@10':>6} {'p50 ms':>7} {'p99 ms':>7} {'peak MB':>8}")
    print(header, flush=True)
    exact_seconds = None
    for name in configurations(None, None):
        command = [sys.executable, __file__, "--only", name, "--threads", str(args.threads), "--gallery",
                   str(args.gallery), "--queries", str(args.queries), "--dim", str(args.dim)]
        summary = json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout.splitlines()[-1])
        exact_seconds = exact_seconds or summary["evaluate_seconds"]
        print(f"{name:28} {summary['build_seconds']:8.2f} {summary['evaluate_seconds']:7.2f} "
              f"{summary['evaluate_seconds'] / exact_seconds:7.2f}x {100 * summary['candidates_fraction']:7.2f} "
              f"{summary['precision_at_10']:6.3f} {summary['mAP']:6.3f} {summary['recall_at_10']:6.3f} "
              f"{summary['search_p50_ms']:7.2f} {summary['search_p99_ms']:7.2f} {summary['peak_mb']:8.0f}",
              flush=True)
    print(f"\neval s = all queries (candidates, re-ranking, metrics); peak MB = peak RSS of the configuration's own "
          f"process above its RSS with the data loaded (build and evaluation; gallery alone: "
          f"{gallery.numel() * 4 / 2**20:.0f} MB)")


if __name__ == "__main__":
    main()
