"""Search time against candidates scanned, every engine path on one space (prints tables).

    python benchmarks/search_cost.py                                # 50,000 x 10,000, about 35 minutes on 2 cores
    python benchmarks/search_cost.py --gallery 5000 --queries 1000  # a quick look
    python benchmarks/search_cost.py --no-evaluation                 # the search alone: minutes

Data: the non-negative 512-d vectors in 100 classes of ``benchmarks/vs_faiss.py`` (CIFAR-10's size by default). Each
configuration is built once; its search (``lshbench.search``: candidates, cosine re-ranking, top 100, as
``timings.csv``'s ``search_seconds`` and ``search_p50_ms``; the median of ``--repeats``) and its evaluation
(``Evaluator.rankings``: the same plus the bookkeeping, ``evaluate_seconds``, what queries per second used to time;
once, at the first thread count) are timed at each thread count, with the peak resident set of the evaluation and search (``VmHWM``, reset
before each run; the largest).

The same-work rows: the same vectors moved far from the origin (``+ 50``), where uncentred hyperplanes put every item
in one bucket per table, against exact search on those vectors.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time

import numpy as np
import torch

from vs_faiss import reset_peak, resident_mb, set_threads, synthetic

from lshbench.evaluate import Evaluator
from lshbench.methods import Exact, HyperplaneLSH, KMeans, MultiProbeLSH
from lshbench.search import Searcher, search_timings


def kmeans(gallery, K, probes):
    index = KMeans(K, max_iter=5, tol=0).fit(gallery)
    index.set_query(probes=probes)
    return index


def configurations(gallery):
    yield "exact", Exact().fit(gallery)
    for K, probes in ((10, 1), (10, 2), (20, 1), (20, 2), (100, 1), (100, 4), (1000, 1), (1000, 8)):
        yield f"k-means K={K} probes {probes}", kmeans(gallery, K, probes)
    for H, L in ((4, 6), (8, 6), (12, 6), (16, 3)):
        yield f"hyperplane H={H} L={L} centred", HyperplaneLSH(H, L, center=True).fit(gallery)
    yield "multi-probe H=16 L=3 radius 1", MultiProbeLSH(16, 3, probes_radius=1).fit(gallery)


def timed(evaluator, index, repeats, latency_queries, evaluate=True):
    """(search s, search p50 ms: medians of ``repeats``; evaluation s: one run; peak MB: the largest; candidates per
    query)."""
    runs = []
    for repeat in range(repeats):
        evaluation, candidates = float("nan"), float("nan")
        if repeat == 0 and not evaluate:  # counted before the peak is reset: not the search's memory
            candidates = float(hits_count(index, evaluator.queries)) / len(evaluator.queries)
            gc.collect()
        resident = resident_mb("VmRSS")
        tracked = reset_peak()
        if repeat == 0 and evaluate:  # the evaluation once (at the first thread count): the slow part
            start = time.perf_counter()
            ranking, _ = evaluator.rankings(index, keep_top=100, latency_queries=0, search=False)
            evaluation = time.perf_counter() - start
            candidates = float(ranking.n_candidates.mean())
            del ranking
        search = search_timings(Searcher(evaluator.gallery_unit, evaluator.memory_mb, 100), index, evaluator.queries,
                                latency_queries)
        peak = resident_mb("VmHWM") if tracked else float("nan")
        runs.append((search["search_seconds"], search["search_p50_ms"], evaluation, peak - resident, candidates))
    return [statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs), runs[0][2],
            max(r[3] for r in runs), runs[0][4]]


def hits_count(index, queries) -> int:
    """The candidates of all queries (their union per query), without the evaluation."""
    return int(index.candidates(queries).counts().sum())


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gallery", type=int, default=50_000)
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--latency-queries", type=int, default=200)
    parser.add_argument("--memory-mb", type=int, default=2048, help="the evaluation's block budget (memory_mb)")
    parser.add_argument("--same-work", action="store_true", help="the same-work rows alone")
    parser.add_argument("--no-evaluation", action="store_true",
                        help="the search alone in the rows of candidates (minutes, not the evaluations' half hour)")
    args = parser.parse_args()
    gallery, labels, queries, query_labels = synthetic(args.gallery, args.queries)
    print(f"gallery {tuple(gallery.shape)}, queries {tuple(queries.shape)}, median of {args.repeats} runs, "
          f"memory_mb {args.memory_mb}\n")
    print("the same work: exact search against uncentred hyperplanes whose one bucket per table is the whole gallery "
          "(vectors + 50)\n")
    print("| configuration | threads | candidates per query | search s | search p50 ms | evaluation s | "
          "search / exact's | p50 / exact's |")
    print("|---|---|---|---|---|---|---|---|")
    shifted = Evaluator(gallery + 50, labels, queries + 50, query_labels, memory_mb=args.memory_mb)
    one_bucket = next(index for index in (HyperplaneLSH(8, 3, seed=seed).fit(gallery + 50) for seed in range(100))
                      if all(len(k) == 1 for k in index.tables.keys))  # the first seed with no item split off
    pair = {"exact": Exact().fit(gallery + 50), f"hyperplane H=8 L=3 uncentred (seed {one_bucket.seed})": one_bucket}
    for threads in args.threads:
        set_threads(threads, None)
        rows = {name: timed(shifted, index, args.repeats, args.latency_queries) for name, index in pair.items()}
        for name, (search, p50, evaluation, _, candidates) in rows.items():
            print(f"| {name} | {threads} | {candidates:.0f} | {search:.3f} | {p50:.3f} | {evaluation:.3f} | "
                  f"{search / rows['exact'][0]:.2f}x | {p50 / rows['exact'][1]:.2f}x |", flush=True)
    del shifted, pair
    gc.collect()
    if args.same_work:
        return
    evaluator = Evaluator(gallery, labels, queries, query_labels, memory_mb=args.memory_mb)
    print("\nsearch time against candidates scanned, every path (k-means buckets, hashing buckets of several "
          "tables, multi-probe, exact); peak: the evaluation's and search's own memory above what was resident "
          "before (VmHWM - VmRSS)\n")
    print("| configuration | threads | candidates per query | share of gallery | search s | search us per query "
          "| search p50 ms | evaluation s | peak MB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, index in configurations(gallery):
        for threads in args.threads:
            set_threads(threads, None)
            search, p50, evaluation, peak, candidates = timed(evaluator, index, args.repeats, args.latency_queries,
                                                              evaluate=threads == args.threads[0]
                                                              and not args.no_evaluation)
            print(f"| {name} | {threads} | {candidates:.0f} | {candidates / len(gallery):.3f} | {search:.3f} | "
                  f"{1e6 * search / len(queries):.1f} | {p50:.3f} | "
                  f"{'-' if evaluation != evaluation else f'{evaluation:.3f}'} | {peak:.0f} |", flush=True)
        del index
        gc.collect()


if __name__ == "__main__":
    main()
