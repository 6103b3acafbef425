"""lshbench's search and its evaluation next to FAISS on the same work (prints tables).

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

* Hamming ranking (``--hamming-gallery``, ``--hamming`` for these rows alone): 64-bit codes of 10,000 queries
  ranked over the whole gallery (50,000 and 200,000 items): ``lshbench.hamming.hamming_ranking`` (every per-query
  value: positional and tie-aware AP, AP@1000, P@N, radius-2 precision and recall, histograms) against FAISS's
  ``IndexBinaryFlat.search`` of the packed codes, k = 1000 (the index built outside the timing). Codes of two kinds:
  random bits, and clustered (signs of 64 random projections of the centred synthetic vectors, 100 classes: ties and
  relevance as real codes have them). ``agree``: for every query, FAISS's 1000 distances equal the first 1000 of
  lshbench's histogram, and FAISS's relevant ids strictly closer than its 1000th distance number what lshbench's
  histogram counts there (the order within the last tie group is free, so that group is left out).

Each row times two things of lshbench against FAISS's search: lshbench's **search** (``lshbench.search.Searcher``:
candidates, cosine re-ranking, top 50; what timings.csv's queries per second times) in the "search against FAISS"
table, and its whole **evaluation** (the same plus the rankings' bookkeeping and every metric) in the first table.
The single-query table times ``Searcher.latencies`` (top 100, one query at a time, as timings.csv's search_p50_ms)
against FAISS one query at a time on the same candidates, for every path.

All are timed at each thread count, interleaved (lshbench, FAISS, lshbench, ...), median of ``--repeats``; recall@10
of both against the exact top 10 (a result counts when its similarity reaches the exact 10th, less 1e-5, as the
Evaluator's). ``--scaling`` adds lshbench's k-means time at more gallery sizes with K = N / 50, so the candidates per
query stay about the same while N grows. Timings drift by 15% or more between runs on shared machines; the ratios far less.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time

import numba
import numpy as np
import torch

from lshbench import threads as lshbench_threads
from lshbench.evaluate import Evaluator, exact_top_k
from lshbench.hamming import hamming_ranking
from lshbench.metrics import RECALL_TOLERANCE, evaluate
from lshbench.search import Searcher
from lshbench.methods import ITQ, Exact, HyperplaneLSH, KMeans, MultiProbeLSH, NeuralLSH
from lshbench.methods.hashing import pack_codes
from lshbench.methods.neural import train_network


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


def our_run(evaluator, index):
    """lshbench's whole evaluation (candidates, cosine re-ranking, rankings, every metric), wall clock."""

    def ours():
        start = time.perf_counter()
        _, summary = evaluate(evaluator, index, latency_queries=0, search=False)
        return time.perf_counter() - start, summary["recall_at_10"], summary["mean_candidates"]

    return ours


def our_search(evaluator, index, k: int = 50):
    """lshbench's search alone (lshbench.search: candidates, cosine re-ranking, top k), as timings.csv times it."""
    searcher = Searcher(evaluator.gallery_unit, evaluator.memory_mb, k)
    exact = None if evaluator.exact_scores is None else evaluator.exact_scores.numpy()

    def run():
        start = time.perf_counter()
        scores, _, _ = searcher.search(index, evaluator.queries)
        seconds = time.perf_counter() - start
        return seconds, recall_at_10(scores.numpy(), exact) if exact is not None else float("nan"), None

    return run


def dedup_scores(scores: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """FAISS's top k over buckets of several tables holds an item once per table it shares with the query: keep
    its first (best) occurrence, as lshbench's union does (for recall only; not timed)."""
    out = np.full_like(scores, -np.inf)
    for i in range(len(ids)):
        _, first = np.unique(ids[i], return_index=True)
        first = np.sort(first[ids[i][first] >= 0])
        out[i, : len(first)] = scores[i, first]
    return out


def query_buckets(index, queries: torch.Tensor) -> torch.Tensor:
    """(Q, L x probes) the buckets (numbered across tables, -1 for a code without one) a hashing index visits, by
    lshbench's own code and lookup (multi-probe: every code within the radius)."""
    codes = index.codes(queries)
    probes = 1
    if isinstance(index, MultiProbeLSH):
        probes = len(index.masks)
        codes = [(c[:, None, :] ^ index.masks[None]).reshape(-1, index.H) for c in codes]
    tables = index.tables
    tables._flat(queries.device)
    buckets = tables._search(pack_codes(torch.stack(codes)))  # (L, Q x probes)
    first = torch.tensor([0] + [len(k) for k in tables.keys[:-1]]).cumsum(0).unsqueeze(1)
    buckets = torch.where(buckets >= 0, buckets + first, -1)
    return buckets.reshape(len(codes), len(queries), probes).permute(1, 0, 2).reshape(len(queries), -1)


def hashing_ivf(index, g_unit: np.ndarray, faiss):
    """FAISS's IndexIVFFlat whose inverted lists are the buckets of every table of a hashing index (each gallery
    item once per table)."""
    tables = index.tables
    n_lists = sum(len(k) for k in tables.keys)
    quantizer = faiss.IndexFlatIP(g_unit.shape[1])  # unused: the lists are assigned by lshbench
    ivf = faiss.IndexIVFFlat(quantizer, g_unit.shape[1], n_lists, faiss.METRIC_INNER_PRODUCT)
    ivf.is_trained = True
    positions = np.arange(len(g_unit), dtype=np.int64)
    first = 0
    for t, bucket in enumerate(tables.gallery_buckets()):
        lists = np.ascontiguousarray((bucket + first).numpy().astype(np.int64))
        ivf.add_core(len(g_unit), faiss.swig_ptr(g_unit), faiss.swig_ptr(positions), faiss.swig_ptr(lists))
        first += len(tables.keys[t])
    return ivf


def hashing_work(gallery, labels, queries, query_labels, exact_scores, index, faiss):
    """(run lshbench's evaluation, run its search, run FAISS or None) on the same buckets: FAISS's IndexIVFFlat holds
    each table's buckets as inverted lists (every gallery item once per table), and each query scans the lists of
    its buckets (its codes found by lshbench's lookup, timed on FAISS's side too), top 50."""
    evaluator = Evaluator(gallery, labels, queries, query_labels, exact_scores)
    ours, search = our_run(evaluator, index), our_search(evaluator, index)
    if faiss is None:
        return ours, search, None
    g_unit = np.ascontiguousarray(evaluator.gallery_unit.numpy())
    q_unit = np.ascontiguousarray(evaluator.query_unit.numpy())
    ivf = hashing_ivf(index, g_unit, faiss)
    ivf.nprobe = query_buckets(index, queries[:1]).shape[1]

    def theirs():
        start = time.perf_counter()
        assigned = np.ascontiguousarray(query_buckets(index, queries).numpy())
        scores, ids = ivf.search_preassigned(q_unit, 50, assigned, np.zeros(assigned.shape, dtype=np.float32))
        seconds = time.perf_counter() - start
        scores = dedup_scores(np.where(ids >= 0, scores, -np.inf), ids)
        return seconds, recall_at_10(scores, exact_scores.numpy()), None

    return ours, search, theirs


def latency_work(gallery, labels, queries, query_labels, index, faiss, n: int = 200, k: int = 100):
    """Single-query p50 (ms), top k: lshbench's ``Searcher.latencies`` (candidates, cosine re-ranking, top k, one
    query at a time, as timings.csv's search_p50_ms) and FAISS's one query at a time on the same candidates
    (k-means: IndexFlatL2 over lshbench's centroids, then the cluster's IndexIVFFlat list; hashing: lshbench's
    lookup of the query's buckets, then their lists in an IndexIVFFlat holding every table; exact: IndexFlatIP)."""
    evaluator = Evaluator(gallery, labels, queries, query_labels)
    searcher = Searcher(evaluator.gallery_unit, evaluator.memory_mb, k)
    picks = np.linspace(0, len(queries) - 1, num=min(n, len(queries))).round().astype(int)

    def ours():
        return float(np.percentile(searcher.latencies(index, evaluator.queries, n), 50)) * 1e3, float("nan"), None

    if faiss is None:
        return ours, None
    g_unit = np.ascontiguousarray(evaluator.gallery_unit.numpy())
    q_unit = np.ascontiguousarray(evaluator.query_unit.numpy())
    q_raw = np.ascontiguousarray(queries.numpy())
    if isinstance(index, KMeans):
        quantizer = faiss.IndexFlatL2(gallery.shape[1])
        quantizer.add(np.ascontiguousarray(index.centroids.numpy()))
        ivf = faiss.IndexIVFFlat(quantizer, gallery.shape[1], index.K, faiss.METRIC_INNER_PRODUCT)
        ivf.is_trained = True
        assignment = np.ascontiguousarray(index.assignment.numpy().astype(np.int64))
        ivf.add_core(len(g_unit), faiss.swig_ptr(g_unit), None, faiss.swig_ptr(assignment))
        ivf.nprobe = 1

        def one(i):
            distances, coarse = quantizer.search(q_raw[i : i + 1], 1)
            ivf.search_preassigned(q_unit[i : i + 1], k, coarse, distances)
    elif isinstance(index, Exact):
        flat = faiss.IndexFlatIP(gallery.shape[1])
        flat.add(g_unit)

        def one(i):
            flat.search(q_unit[i : i + 1], k)
    else:
        ivf = hashing_ivf(index, g_unit, faiss)
        ivf.nprobe = query_buckets(index, queries[:1]).shape[1]

        def one(i):
            assigned = np.ascontiguousarray(query_buckets(index, queries[i : i + 1]).numpy())
            ivf.search_preassigned(q_unit[i : i + 1], k, assigned, np.zeros(assigned.shape, dtype=np.float32))

    def theirs():
        seconds = []
        for i in picks:
            start = time.perf_counter()
            one(i)
            seconds.append(time.perf_counter() - start)
        return float(np.percentile(seconds, 50)) * 1e3, float("nan"), None

    return ours, theirs


def cheap_clusters(gallery: torch.Tensor, K: int, seed: int = 0) -> KMeans:
    """A KMeans index with K clusters of about N / K members without Lloyd on N x K (the scaling rows time the
    evaluation, not the fit): 64 coarse cells around random gallery points, each split around random points of its
    own in proportion to its size; centroids = the members' means (queries go to the nearest of all K)."""
    generator = torch.Generator().manual_seed(seed)
    n = len(gallery)
    coarse_n = min(64, K)
    coarse = gallery[torch.randperm(n, generator=generator)[:coarse_n]]
    from lshbench.methods.kmeans import assign

    cell = assign(gallery, coarse)[0][:, 0]
    sizes = torch.bincount(cell, minlength=coarse_n)
    share = sizes.double() / n * K
    fine = share.floor().long().clamp_min(1) * (sizes > 0)
    while int(fine.sum()) != K:  # exactly K clusters: the largest remainders get one more (or the largest one less)
        if int(fine.sum()) < K:
            fine[torch.argmax(torch.where(fine < sizes, share - fine, -1.0))] += 1
        else:
            fine[torch.argmax(torch.where(fine > 1, fine.double(), -1.0))] -= 1
    assignment = torch.empty(n, dtype=torch.int64)
    first = 0
    for c in range(coarse_n):
        members = torch.nonzero(cell == c).squeeze(1)
        k = int(min(fine[c], max(1, len(members))))
        if len(members) == 0:
            continue
        seeds = gallery[members[torch.randperm(len(members), generator=generator)[:k]]]
        assignment[members] = first + assign(gallery[members], seeds)[0][:, 0]
        first += k
    index = KMeans(first, max_iter=0)
    counts = torch.bincount(assignment, minlength=first).clamp_min(1).unsqueeze(1)
    centroids = torch.zeros(first, gallery.shape[1]).index_add_(0, assignment, gallery) / counts
    index.load_arrays({"centroids": centroids, "assignments": assignment})
    return index


def reset_peak() -> bool:
    """Linux: reset this process's peak resident set (VmHWM) so the next reading is the peak from now."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def resident_mb(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def kmeans_work(gallery, labels, queries, query_labels, exact_scores, K: int, faiss):
    """(run lshbench's evaluation, run its search, run FAISS or None) on the same clusters."""
    index = KMeans(K, max_iter=3, tol=0).fit(gallery)
    evaluator = Evaluator(gallery, labels, queries, query_labels, exact_scores)

    ours, search = our_run(evaluator, index), our_search(evaluator, index)
    if faiss is None:
        return ours, search, None
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

    return ours, search, theirs


def exact_work(gallery, labels, queries, query_labels, exact_scores, faiss):
    evaluator = Evaluator(gallery, labels, queries, query_labels, exact_scores)
    index = Exact().fit(gallery)

    ours, search = our_run(evaluator, index), our_search(evaluator, index)
    if faiss is None:
        return ours, search, None
    flat = faiss.IndexFlatIP(gallery.shape[1])
    flat.add(np.ascontiguousarray(evaluator.gallery_unit.numpy()))
    q_unit = np.ascontiguousarray(evaluator.query_unit.numpy())

    def theirs():
        start = time.perf_counter()
        scores, _ = flat.search(q_unit, 50)
        return time.perf_counter() - start, recall_at_10(scores, exact_scores.numpy()), None

    return ours, search, theirs


def measure(runners, repeats: int) -> list[list]:
    """Each runner ``repeats`` times, interleaved (drift hits every side alike); None runners give no runs."""
    runs = [[] for _ in runners]
    for _ in range(repeats):
        for out, run in zip(runs, runners):
            if run is not None:
                out.append(run())
    return runs


SEARCH_ROWS: list[str] = []  # the search-against-search table, printed after the evaluation's


def row(name: str, threads: int, mine: list, search: list, peer: list) -> str:
    """The evaluation's row (printed now); the search's row is kept for the second table."""
    seconds = statistics.median(m[0] for m in mine)
    searched = statistics.median(m[0] for m in search)
    text = f"| {name} | {threads} | {mine[0][2]:.0f} |"
    if not peer:
        SEARCH_ROWS.append(f"{text} {searched:.3f} | {search[0][1]:.4f} | not installed | | |")
        return text + f" {seconds:.3f} | {mine[0][1]:.4f} | not installed | | |"
    theirs = statistics.median(p[0] for p in peer)
    SEARCH_ROWS.append(f"{text} {searched:.3f} | {search[0][1]:.4f} | {theirs:.3f} | {peer[0][1]:.4f} | "
                       f"{searched / theirs:.2f}x |")
    return text + f" {seconds:.3f} | {mine[0][1]:.4f} | {theirs:.3f} | {peer[0][1]:.4f} | {seconds / theirs:.2f}x |"


def set_threads(threads: int, faiss) -> None:
    """Both sides at ``threads``: torch, numba, and through threadpoolctl numpy's and FAISS's OpenBLAS and OpenMP
    (numba's OpenMP layer, started at one thread, otherwise left FAISS on two cores)."""
    if faiss is not None:
        faiss.omp_set_num_threads(threads)
    lshbench_threads.use(threads)


def hamming_codes(n_gallery: int, n_queries: int, kind: str, bits: int = 64, seed: int = 0):
    """(gallery codes, labels, query codes, labels) as bool arrays: uniform random bits (labels of 100 classes at
    random), or the signs of ``bits`` random projections of the centred synthetic vectors (clustered)."""
    generator = torch.Generator().manual_seed(seed + 1)
    if kind == "random":
        codes = torch.rand(n_gallery + n_queries, bits, generator=generator) > 0.5
        labels = torch.randint(100, (n_gallery + n_queries,), generator=generator)
        return (codes[:n_gallery].numpy(), labels[:n_gallery].numpy(), codes[n_gallery:].numpy(),
                labels[n_gallery:].numpy())
    gallery, labels, queries, query_labels = synthetic(n_gallery, n_queries, seed=seed)
    projection = torch.randn(gallery.shape[1], bits, generator=generator)
    centre = gallery.mean(0)
    return (((gallery - centre) @ projection > 0).numpy(), labels.numpy(),
            ((queries - centre) @ projection > 0).numpy(), query_labels.numpy())


def hamming_agree(ours: dict, distances: np.ndarray, ids: np.ndarray, gallery_labels: np.ndarray,
                  query_labels: np.ndarray) -> bool:
    """FAISS's top-k distances are the first k of lshbench's histogram, and the relevant ids FAISS returns at a
    distance below its k-th number what lshbench's histogram counts below it (not timed)."""
    k = distances.shape[1]
    counts = ours["counts"]
    n_queries, bins = counts.shape
    # the k smallest distances, as a histogram: min(items at d, what is left of k after the nearer distances)
    before = np.cumsum(counts, 1) - counts
    expected = np.minimum(counts, np.maximum(k - before, 0))
    theirs = np.bincount((np.arange(n_queries)[:, None] * bins + distances).ravel(), minlength=n_queries * bins)
    if not (np.diff(distances, axis=1) >= 0).all() or not (theirs.reshape(n_queries, bins) == expected).all():
        return False
    kth = distances[:, -1:]
    faiss_relevant = ((gallery_labels[ids] == query_labels[:, None]) & (distances < kth)).sum(1)
    below = np.arange(counts.shape[1])[None, :] < kth
    return bool((faiss_relevant == (ours["relevant_counts"] * below).sum(1)).all())


def hamming_work(n_gallery: int, n_queries: int, kind: str, faiss, k: int = 1000):
    """(run lshbench, run FAISS or None) for the Hamming ranking of the queries' codes over the gallery's."""
    gallery, labels, queries, query_labels = hamming_codes(n_gallery, n_queries, kind)
    last = {}

    def ours():
        start = time.perf_counter()
        last["ours"] = hamming_ranking(queries, gallery, query_labels, labels, R=(k,))
        return time.perf_counter() - start, float(last["ours"][f"ap_at_{k}"].mean()), None

    if faiss is None:
        return ours, None
    index = faiss.IndexBinaryFlat(gallery.shape[1])
    index.add(np.packbits(gallery, axis=1))
    packed = np.packbits(queries, axis=1)

    def theirs():
        start = time.perf_counter()
        distances, ids = index.search(packed, k)
        seconds = time.perf_counter() - start
        return seconds, hamming_agree(last["ours"], distances, ids, labels, query_labels), None

    return ours, theirs


def hamming_rows(sizes, n_queries: int, threads_list, repeats: int, faiss) -> None:
    print(f"\nHamming ranking of {n_queries} queries' 64-bit codes over the whole gallery: lshbench's "
          "hamming_ranking (every per-query value) against FAISS IndexBinaryFlat.search k=1000, median of "
          f"{repeats} interleaved runs\n")
    print("| work | threads | lshbench s | FAISS s | lshbench / FAISS | agree | lshbench mAP@1000 |")
    print("|---|---|---|---|---|---|---|")
    for n in sizes:
        for kind in ("random", "clustered"):
            ours, theirs = hamming_work(n, n_queries, kind, faiss)
            ours()  # compiles (or loads the cache of) the kernels outside the timing
            for threads in threads_list:
                set_threads(threads, faiss)
                mine, peer = measure([ours, theirs], repeats)
                m = statistics.median(x[0] for x in mine)
                title = f"hamming ranking {n_queries} x {n}, 64 bits, {kind} codes"
                if peer:
                    p = statistics.median(x[0] for x in peer)
                    agree = "yes" if all(x[1] for x in peer) else "NO"
                    print(f"| {title} | {threads} | {m:.3f} | {p:.3f} | {m / p:.2f}x | {agree} | {mine[0][1]:.4f} |",
                          flush=True)
                else:
                    print(f"| {title} | {threads} | {m:.3f} | not installed | | | {mine[0][1]:.4f} |", flush=True)
            del ours, theirs
            gc.collect()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gallery", type=int, default=50_000)
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--exact-queries", type=int, default=2_000)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--K", type=int, nargs="*", default=[1000, 100], help="k-means rows (none: no such rows)")
    parser.add_argument("--hashing", nargs="*", default=["hyperplane", "itq", "multiprobe", "neural"],
                        help="hashing rows: hyperplane H=8 L=6 (centred), ITQ H=16 L=3, multi-probe H=16 L=3 radius "
                             "1, neural J=8 L=4 (H=32, one epoch)")
    parser.add_argument("--hamming-gallery", type=int, nargs="*", default=[50_000, 200_000],
                        help="gallery sizes of the Hamming ranking rows (none: no such rows)")
    parser.add_argument("--hamming", action="store_true", help="the Hamming ranking rows alone")
    parser.add_argument("--latency-queries", type=int, default=200)
    parser.add_argument("--scaling", type=int, nargs="*", default=[12_500, 50_000, 200_000, 800_000],
                        help="gallery sizes for the scaling rows (K = N / 50: the same candidates per query)")
    args = parser.parse_args()
    faiss = faiss_module()
    if args.hamming:
        print(f"faiss {getattr(faiss, '__version__', 'not installed')}, numba {numba.__version__}")
        hamming_rows(args.hamming_gallery, args.queries, args.threads, args.repeats, faiss)
        return
    gallery, labels, queries, query_labels = synthetic(args.gallery, args.queries)
    _, exact_scores = exact_top_k(gallery, queries, 50)
    print(f"gallery {tuple(gallery.shape)}, queries {tuple(queries.shape)}, faiss "
          f"{getattr(faiss, '__version__', 'not installed')}, median of {args.repeats} interleaved runs\n")
    print("| work | threads | candidates per query | lshbench s | lshbench recall@10 | FAISS s | FAISS recall@10 | "
          "lshbench / FAISS |")
    print("|---|---|---|---|---|---|---|---|")
    kmeans_indexes = {}
    for K in args.K:
        runners = kmeans_work(gallery, labels, queries, query_labels, exact_scores, K, faiss)
        for threads in args.threads:
            set_threads(threads, faiss)
            print(row(f"k-means K={K}, probes 1, top 50", threads, *measure(runners, args.repeats)), flush=True)
        del runners
        gc.collect()
    set_threads(max(args.threads), faiss)
    builders = {
        "hyperplane": ("hyperplane H=8 L=6 (centred)", lambda: HyperplaneLSH(8, 6, center=True).fit(gallery)),
        "itq": ("ITQ H=16 L=3", lambda: ITQ(16, 3).fit(gallery)),
        "multiprobe": ("multi-probe H=16 L=3 radius 1", lambda: MultiProbeLSH(16, 3, probes_radius=1).fit(gallery)),
        "neural": ("neural J=8 L=4 (H=32)", lambda: NeuralLSH(
            [train_network(gallery, labels, H=32, epochs=1, batch_size=256, seed=0)[0]], J=8, L=4).fit(gallery)),
    }
    hashing_indexes = {}
    for name in args.hashing:
        title, build = builders[name]
        index = build()
        runners = hashing_work(gallery, labels, queries, query_labels, exact_scores, index, faiss)
        hashing_indexes[title] = index
        for threads in args.threads:
            set_threads(threads, faiss)
            print(row(f"{title}, top 50", threads, *measure(runners, args.repeats)), flush=True)
        del runners, index
        gc.collect()
    n_exact = min(args.exact_queries, len(queries))
    runners = exact_work(gallery, labels, queries[:n_exact], query_labels[:n_exact], exact_scores[:n_exact], faiss)
    for threads in args.threads:
        set_threads(threads, faiss)
        print(row(f"exact, {n_exact} queries, top 50", threads, *measure(runners, args.repeats)), flush=True)
    del runners
    print("\nthe same work, lshbench's search alone (lshbench.search: candidates, cosine re-ranking, top 50, as "
          "timings.csv's search_seconds) against FAISS, the same FAISS runs\n")
    print("| work | threads | candidates per query | lshbench search s | lshbench recall@10 | FAISS s | "
          "FAISS recall@10 | lshbench / FAISS |")
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(SEARCH_ROWS), flush=True)
    gc.collect()
    if args.hamming_gallery:
        hamming_rows(args.hamming_gallery, args.queries, args.threads, args.repeats, faiss)
    if args.latency_queries:
        print(f"\nsingle-query latency, p50 of {args.latency_queries} queries one at a time (candidates, cosine "
              "re-ranking, top 100), median of the repeats\n")
        print("| work | threads | lshbench p50 ms | FAISS p50 ms | lshbench / FAISS |")
        print("|---|---|---|---|---|")
        K = max(args.K)
        work = {f"k-means K={K}, probes 1": KMeans(K, max_iter=3, tol=0).fit(gallery), **hashing_indexes,
                "exact": Exact().fit(gallery)}
        for title, index in work.items():
            ours, theirs = latency_work(gallery, labels, queries, query_labels, index, faiss, args.latency_queries)
            for threads in args.threads:
                set_threads(threads, faiss)
                mine, peer = measure([ours, theirs], args.repeats)
                m = statistics.median(x[0] for x in mine)
                if peer:
                    p = statistics.median(x[0] for x in peer)
                    print(f"| {title} | {threads} | {m:.3f} | {p:.3f} | {m / p:.2f}x |", flush=True)
                else:
                    print(f"| {title} | {threads} | {m:.3f} | not installed | |", flush=True)
    if args.scaling:
        del gallery, queries
        gc.collect()
        torch.set_num_threads(1)
        print("\nlshbench's k-means evaluation (rankings: candidates, re-ranking, top 100, the sums) and search "
              "(candidates, re-ranking, top 100) against the gallery size, 1 thread, K = N / 50 (clusters split from "
              "64 coarse cells, see cheap_clusters)\n")
        print("| gallery | K | candidates per query | evaluation s | search s | search candidates s | "
              "search s per 1k queries |")
        print("|---|---|---|---|---|---|---|")
        memory = None
        for n in args.scaling:
            g, gl, q, ql = synthetic(n, args.queries)
            index = cheap_clusters(g, max(1, n // 50))
            evaluator = Evaluator(g, gl, q, ql, None)
            del g
            gc.collect()
            runs = []
            for _ in range(args.repeats):
                resident = resident_mb("VmRSS")
                tracked = reset_peak()
                ranking, timings = evaluator.rankings(index, keep_top=100, latency_queries=0)
                peak = resident_mb("VmHWM") if tracked else float("nan")
                runs.append((timings["evaluate_seconds"], timings["search_seconds"], timings["candidate_seconds"],
                             float(ranking.n_candidates.mean()), resident, peak))
            seconds, searched, candidate = (statistics.median(r[i] for r in runs) for i in range(3))
            print(f"| {n} | {index.K} | {runs[0][3]:.0f} | {seconds:.3f} | {searched:.3f} | {candidate:.3f} | "
                  f"{1000 * searched / len(q):.4f} |", flush=True)
            unit_mb = evaluator.gallery_unit.numel() * 4 / 2**20
            memory = (n, unit_mb, runs[-1][4], runs[-1][5])
            del evaluator, index, ranking, q
            gc.collect()
        if memory is not None:
            n, unit_mb, resident, peak = memory
            print(f"\npeak memory at {n} (resident set, /proc/self/status VmHWM reset before the evaluation): "
                  f"{peak:.0f} MB during the evaluation and search, {resident:.0f} MB resident before it (the process: the "
                  f"gallery's unit vectors {unit_mb:.0f} MB, queries, labels, index, Python and torch), so the "
                  f"evaluation's own working memory peaked at {peak - resident:.0f} MB (block budget: 1024 MB)")


if __name__ == "__main__":
    main()
