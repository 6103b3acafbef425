"""Speed and memory of the methods and the evaluation engine on a synthetic gallery (prints a table).

    python benchmarks/methods_benchmark.py --threads 2          # needs the bench extra (faiss-cpu) for FAISS

Gallery: 50,000 non-negative 512-d vectors in 10 classes (ReLU of Gaussian clusters, like ResNet features), 10,000
queries. Part 1: k-means Lloyd seconds per iteration at K=1000 from the same initial centroids (ours, FAISS,
scikit-learn). Part 2: evaluation of one configuration per method next to the exact baseline, single-query latency,
and the evaluation's peak memory (each evaluation in a forked process: peak RSS above the RSS at the fork).
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import time

import numpy as np
import torch

from lshbench.evaluate import Evaluator, exact_top_k
from lshbench.methods import Exact, HyperplaneLSH, KMeans, NeuralLSH
from lshbench.methods.kmeans import assign, kmeans_plus_plus
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
    model._lloyd(x, init.clone(), tol=-1.0, generator=None)
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


def _child(connection, evaluator, index):
    base = _rss_mb()
    _, summary = evaluator.evaluate(index)
    summary["extra_peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - base
    connection.send(summary)


def evaluate_in_child(evaluator, index) -> dict:
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(send, evaluator, index))
    process.start()
    summary = receive.recv()
    process.join()
    return summary


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--gallery", type=int, default=50_000)
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--skip-sklearn", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    gallery, gallery_labels, queries, query_labels = synthetic(args.gallery, args.queries, args.dim, 10)
    print(f"gallery {tuple(gallery.shape)} ({gallery.numel() * 4 / 2**20:.0f} MB float32), queries "
          f"{tuple(queries.shape)}, {torch.get_num_threads()} threads\n")

    init = kmeans_plus_plus(gallery, 1000, torch.Generator().manual_seed(0))
    ours = lloyd_seconds_per_iteration(gallery, init, args.iterations)
    faiss_s = faiss_seconds_per_iteration(gallery.numpy(), init.numpy(), args.iterations)
    sk = None if args.skip_sklearn else sklearn_seconds_per_iteration(gallery.numpy(), init.numpy(), 2)
    print("k-means Lloyd, K=1000, seconds per iteration (same initial centroids)")
    print(f"  lshbench (torch) {ours:8.3f}")
    print(f"  FAISS            {faiss_s:8.3f}   lshbench / FAISS   = {ours / faiss_s:5.2f}x" if faiss_s else
          "  FAISS            not installed (pip install -e '.[bench]')")
    print(f"  scikit-learn     {sk:8.3f}   scikit-learn / lshbench = {sk / ours:5.1f}x\n" if sk else "")

    _, exact_scores = exact_top_k(gallery, queries, 50)
    evaluator = Evaluator(gallery, gallery_labels, queries, query_labels, exact_scores)
    start = time.perf_counter()
    network, _ = train_network(gallery, gallery_labels, H=800, epochs=5, seed=0)
    train_seconds = time.perf_counter() - start
    configurations = [
        ("exact", Exact()),
        ("kmeans K=100", KMeans(100, max_iter=20)),
        ("kmeans K=1000", KMeans(1000, max_iter=20)),
        ("hyperplane H=8 L=6", HyperplaneLSH(8, 6)),
        ("hyperplane H=8 L=6 centred", HyperplaneLSH(8, 6, center=True)),
        ("hyperplane H=16 L=6 centred", HyperplaneLSH(16, 6, center=True)),
        ("neural J=16 L=8 (5 epochs)", NeuralLSH([network], 16, 8)),
    ]
    header = (f"{'configuration':28} {'build s':>8} {'eval s':>7} {'vs exact':>8} {'cand %':>7} {'P@10':>6} "
              f"{'mAP':>6} {'R@10':>6} {'p50 ms':>7} {'p99 ms':>7} {'peak MB':>8}")
    print(header)
    exact_seconds = None
    for name, index in configurations:
        start = time.perf_counter()
        index.fit(gallery, gallery_labels)
        build = time.perf_counter() - start
        summary = evaluate_in_child(evaluator, index)
        exact_seconds = exact_seconds or summary["evaluate_seconds"]
        print(f"{name:28} {build:8.2f} {summary['evaluate_seconds']:7.2f} "
              f"{summary['evaluate_seconds'] / exact_seconds:7.2f}x {100 * summary['candidates_fraction']:7.2f} "
              f"{summary['precision_at_10']:6.3f} {summary['mAP']:6.3f} {summary['recall_at_10']:6.3f} "
              f"{summary['latency_p50_ms']:7.2f} {summary['latency_p99_ms']:7.2f} {summary['extra_peak_mb']:8.0f}")
    print(f"\nneural network training (H=800, 5 epochs): {train_seconds:.1f} s; peak MB = evaluation's peak RSS "
          f"above the process at its start (gallery alone: {gallery.numel() * 4 / 2**20:.0f} MB)")


if __name__ == "__main__":
    main()
