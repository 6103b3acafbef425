"""lshbench's evaluation engine next to FAISS on the same work (prints a table).

    python benchmarks/vs_faiss.py                      # FAISS from the bench extra: pip install -e '.[bench]'
    python benchmarks/vs_faiss.py --gallery 5000 --queries 1000 --scaling 2500 5000   # a quick look

Data: non-negative 512-d vectors in 100 classes (ReLU of Gaussian clusters, like ResNet features). Each row does the
same work on both sides, with the same buckets:

* k-means buckets (probes 1): lshbench's KMeans fitted once (3 Lloyd iterations; the buckets, not their quality,
  are what is timed), then evaluated by ``Evaluator.evaluate`` (candidates, cosine re-ranking, top 50 and every
  metric). FAISS: ``IndexIVFFlat`` (inner product) holding the gallery's unit vectors in lshbench's clusters
  (``add_core`` with lshbench's assignment), queries assigned by ``IndexFlatL2`` over lshbench's centroids (the
  same nearest centroid), then ``search_preassigned``, top 50.
* exact search: ``Evaluator.evaluate`` with the ``Exact`` index against ``IndexFlatIP.search`` of the unit vectors.

Both are timed at each thread count, interleaved (lshbench, FAISS, lshbench, ...), median of ``--repeats``; recall@10
of both against the exact top 10 (a result counts when its similarity reaches the exact 10th, less 1e-5, as the
Evaluator's). ``--scaling`` adds lshbench's k-means time at more gallery sizes with K = N / 50, so the candidates per
query stay about the same while N grows. Timings drift by 15% or more between runs on shared machines; the ratios far less.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from lshbench.evaluate import Evaluator, exact_top_k
from lshbench.metrics import RECALL_TOLERANCE, evaluate
from lshbench.methods import Exact, KMeans


def synthetic(n_gallery: int, n_queries: int, dim: int = 512, classes: int = 100, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes, dim, generator=generator)
    labels = torch.randint(classes, (n_gallery + n_queries,), generator=generator)
    x = torch.relu(centres[labels] + 1.5 * torch.randn(len(labels), dim, generator=generator))
    return x[:n_gallery], labels[:n_gallery], x[n_gallery:], labels[n_gallery:]


def recall_at_10(scores: np.ndarray, exact_scores: np.ndarray) -> float:
    kth = exact_scores[:, 9:10] - RECALL_TOLERANCE
    return float(((scores[:, :10] >= kth).sum(1) / 10).mean())


def faiss_module():
    try:
        import faiss
    except ImportError:
        return None
    return faiss


def kmeans_work(gallery, labels, queries, query_labels, exact_scores, K: int, faiss):
    """(run lshbench, run FAISS or None, candidates per query) on the same clusters."""
    index = KMeans(K, max_iter=3, tol=0).fit(gallery)
    evaluator = Evaluator(gallery, labels, queries, query_labels, exact_scores)

    def ours():
        _, summary = evaluate(evaluator, index, latency_queries=1)
        return summary["evaluate_seconds"], summary["recall_at_10"], summary["mean_candidates"]

    if faiss is None:
        return ours, None
    g_unit = np.ascontiguousarray(evaluator.gallery_unit.numpy())
    q_unit = np.ascontiguousarray(evaluator.query_unit.numpy())
    q_raw = np.ascontiguousarray(queries.numpy())
    centroids = np.ascontiguousarray(index.centroids.numpy())
    quantizer = faiss.IndexFlatL2(gallery.shape[1])
    quantizer.add(centroids)
    ivf = faiss.IndexIVFFlat(quantizer, gallery.shape[1], K, faiss.METRIC_INNER_PRODUCT)
    ivf.is_trained = True
    assignment = np.ascontiguousarray(index.assignment.numpy().astype(np.int64))
    ivf.add_core(len(g_unit), faiss.swig_ptr(g_unit), None, faiss.swig_ptr(assignment))
    ivf.nprobe = 1

    def theirs():
        start = time.perf_counter()
        coarse_distances, coarse = quantizer.search(q_raw, 1)
        scores, _ = ivf.search_preassigned(q_unit, 50, coarse, coarse_distances)
        seconds = time.perf_counter() - start
        return seconds, recall_at_10(np.where(np.isfinite(scores), scores, -np.inf), exact_scores.numpy()), None

    return ours, theirs


def exact_work(gallery, labels, queries, query_labels, exact_scores, faiss):
    evaluator = Evaluator(gallery, labels, queries, query_labels, exact_scores)
    index = Exact().fit(gallery)

    def ours():
        _, summary = evaluate(evaluator, index, latency_queries=1)
        return summary["evaluate_seconds"], summary["recall_at_10"], summary["mean_candidates"]

    if faiss is None:
        return ours, None
    flat = faiss.IndexFlatIP(gallery.shape[1])
    flat.add(np.ascontiguousarray(evaluator.gallery_unit.numpy()))
    q_unit = np.ascontiguousarray(evaluator.query_unit.numpy())

    def theirs():
        start = time.perf_counter()
        scores, _ = flat.search(q_unit, 50)
        return time.perf_counter() - start, recall_at_10(scores, exact_scores.numpy()), None

    return ours, theirs


def measure(ours, theirs, repeats: int) -> tuple[list, list]:
    mine, peer = [], []
    for _ in range(repeats):  # interleaved: drift hits both sides alike
        mine.append(ours())
        if theirs is not None:
            peer.append(theirs())
    return mine, peer


def row(name: str, threads: int, mine: list, peer: list) -> str:
    seconds = statistics.median(m[0] for m in mine)
    text = f"| {name} | {threads} | {mine[0][2]:.0f} | {seconds:.3f} | {mine[0][1]:.4f} |"
    if not peer:
        return text + " not installed | | |"
    theirs = statistics.median(p[0] for p in peer)
    return text + f" {theirs:.3f} | {peer[0][1]:.4f} | {seconds / theirs:.2f}x |"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gallery", type=int, default=50_000)
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--exact-queries", type=int, default=2_000)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--K", type=int, nargs="+", default=[1000, 100])
    parser.add_argument("--scaling", type=int, nargs="*", default=[12_500, 50_000, 200_000, 800_000],
                        help="gallery sizes for the scaling rows (K = N / 50: the same candidates per query)")
    args = parser.parse_args()
    faiss = faiss_module()
    gallery, labels, queries, query_labels = synthetic(args.gallery, args.queries)
    _, exact_scores = exact_top_k(gallery, queries, 50)
    print(f"gallery {tuple(gallery.shape)}, queries {tuple(queries.shape)}, faiss "
          f"{getattr(faiss, '__version__', 'not installed')}, median of {args.repeats} interleaved runs\n")
    print("| work | threads | candidates per query | lshbench s | lshbench recall@10 | FAISS s | FAISS recall@10 | "
          "lshbench / FAISS |")
    print("|---|---|---|---|---|---|---|---|")
    for K in args.K:
        ours, theirs = kmeans_work(gallery, labels, queries, query_labels, exact_scores, K, faiss)
        for threads in args.threads:
            torch.set_num_threads(threads)
            if faiss is not None:
                faiss.omp_set_num_threads(threads)
            print(row(f"k-means K={K}, probes 1, top 50", threads, *measure(ours, theirs, args.repeats)), flush=True)
    n_exact = min(args.exact_queries, len(queries))
    ours, theirs = exact_work(gallery, labels, queries[:n_exact], query_labels[:n_exact], exact_scores[:n_exact],
                              faiss)
    for threads in args.threads:
        torch.set_num_threads(threads)
        if faiss is not None:
            faiss.omp_set_num_threads(threads)
        print(row(f"exact, {n_exact} queries, top 50", threads, *measure(ours, theirs, args.repeats)), flush=True)
    if args.scaling:
        torch.set_num_threads(1)
        print("\nlshbench's k-means evaluation against the gallery size, 1 thread, K = N / 50\n")
        print("| gallery | K | candidates per query | seconds | seconds per 1k queries |")
        print("|---|---|---|---|---|")
        for n in args.scaling:
            g, gl, q, ql = synthetic(n, args.queries)
            _, exact = exact_top_k(g, q, 50)
            ours, _ = kmeans_work(g, gl, q, ql, exact, max(1, n // 50), None)
            runs = measure(ours, None, args.repeats)[0]
            seconds, candidates = statistics.median(r[0] for r in runs), runs[0][2]
            print(f"| {n} | {max(1, n // 50)} | {candidates:.0f} | {seconds:.3f} | "
                  f"{1000 * seconds / len(q):.3f} |", flush=True)


if __name__ == "__main__":
    main()
