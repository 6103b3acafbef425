"""One evaluation engine for every method: candidates -> cosine re-ranking -> what each query retrieved (its ranking,
lshbench/ranking.py), from which lshbench/metrics.py derives every metric.

Ranking: cosine similarity descending, ties broken by gallery position ascending (a stable sort of each candidate
list, which is ascending).

Queries are processed in blocks as tensors on the device; no block holds more than ``memory_mb`` of scores, so the full
query x gallery matrix never exists (ImageNet: 50k x 1.28M). Each block goes down one of three paths, by the shape of
its candidates, behind one interface (``block(candidates, start, stop, keep_top, budget, dense_step)`` -> the queries
in the order ranked, what each keeps, the next block's size):

* lshbench.rank_dense: every item (exact search) or a dense mask;
* lshbench.rank_lists: CSR candidate lists (k-means' clusters, multi-probe's unions);
* lshbench.rank_buckets: hashing's unions of buckets, bucket by bucket.

All three score with lshbench.scoring's products (each score the bits of one large GEMM however the queries were
grouped) and record with its one ``record`` (the top and the AP terms), but exact search on the CPU, which ranks each
query's relevant items in one pass without sorting (``DensePath.rank_all``: the same bits)."""

from __future__ import annotations

import resource
import time

import numpy as np
import torch
import torch.nn.functional as F

from .candidates import BucketCandidates, Candidates
from .rank_buckets import BucketPath, covers_all
from .rank_dense import DensePath
from .rank_lists import ListPath
from .ranking import Ranking
from .search import Searcher, search_timings

# Columns that measure the machine, not the method: they go to timings.csv, so metrics.csv and every table are
# byte-identical between two runs of the same config (checksums.sha256).
TIMING_COLUMNS = ("build_seconds", "search_seconds", "candidate_seconds", "queries_per_second", "search_p50_ms",
                  "search_p99_ms", "evaluate_seconds", "peak_memory_mb", "device")
BYTES_PER_RANKED_ELEMENT = 48  # scores, sort values and indices, ids, relevance, cumulative counts
FIRST_BLOCK = 256  # queries of the first block: their candidate lists size the next blocks


def exact_top_k(gallery: torch.Tensor, queries: torch.Tensor, k: int = 50, memory_mb: int = 1024
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Cosine top k of every query over the whole gallery: (ids (Q, k), similarities (Q, k)), in blocks."""
    g, q = F.normalize(gallery.float(), dim=1), F.normalize(queries.float(), dim=1)
    k = min(k, len(g))
    step = max(1, (memory_mb << 20) // (8 * len(g)))
    ids, scores = [], []
    for start in range(0, len(q), step):
        s, i = torch.topk(q[start : start + step] @ g.T, k, dim=1)
        ids.append(i)
        scores.append(s)
    return torch.cat(ids), torch.cat(scores)


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


class Evaluator:
    def __init__(self, gallery: torch.Tensor, gallery_labels: torch.Tensor, queries: torch.Tensor,
                 query_labels: torch.Tensor, exact_scores: torch.Tensor | None = None, *,
                 device: str | torch.device = "cpu", memory_mb: int = 1024):
        self.device = torch.device(device)
        # one copy of the gallery on the device: its unit vectors, normalised in place (as F.normalize)
        self.gallery_unit = gallery.to(self.device, torch.float32, copy=True)
        self.gallery_unit.div_(torch.linalg.vector_norm(self.gallery_unit, dim=1, keepdim=True).clamp_min_(1e-12))
        self.queries = queries.to(self.device, torch.float32)
        self.query_unit = F.normalize(self.queries, dim=1)
        self.query_labels = query_labels.to(self.device, torch.int64)
        labels = gallery_labels.to(self.device, torch.int64)
        self.gallery_labels = labels
        self.labels_padded = torch.cat([labels, labels.new_tensor([-1])])  # position N = padding, never relevant
        classes = int(max(labels.max(), self.query_labels.max())) + 1
        self.class_counts = torch.bincount(labels, minlength=classes)
        self.exact_scores = None if exact_scores is None else exact_scores.to(self.device, torch.float32)
        self.memory_mb = memory_mb
        self.n_gallery = len(self.gallery_unit)
        self.dense, self.lists, self.buckets = DensePath(self), ListPath(self), BucketPath(self)

    def rankings(self, index, keep_top: int = 100, latency_queries: int = 200, progress: bool = False,
                 search: bool = True) -> tuple[Ranking, dict]:
        """Run every query: (its ranking, the timings). lshbench.metrics.evaluate derives the metrics from both.

        The ranking pass (candidates, re-ranking and the bookkeeping only a benchmark needs) is ``evaluate_seconds``;
        the search itself (lshbench.search: candidates, re-ranking, the top ``keep_top``), batch and one query at a
        time, is timed after it on the same index and queries, apart from any bookkeeping."""
        from tqdm import tqdm

        n_queries = len(self.queries)
        budget = int(self.memory_mb * 2**20) // BYTES_PER_RANKED_ELEMENT
        dense_step = max(1, min(4096, budget // max(1, self.n_gallery)))  # queries of a block scored densely
        step = min(dense_step, FIRST_BLOCK)  # the first block shows how long the candidate lists are
        kept: dict[str, list[torch.Tensor]] = {}
        positions = []
        candidate_seconds = rank_seconds = 0.0
        start_all = time.perf_counter()
        start = 0
        bar = tqdm(total=n_queries, desc="evaluate", unit="query", disable=not progress)
        lookup = getattr(index, "bucket_candidates", None) or index.candidates
        while start < n_queries:
            stop = min(start + step, n_queries)
            t0 = time.perf_counter()
            candidates = lookup(self.queries[start:stop])
            candidate_seconds += time.perf_counter() - t0
            t2 = time.perf_counter()
            if isinstance(candidates, BucketCandidates) and covers_all(candidates):
                candidates = Candidates.all(stop - start, self.n_gallery)  # a bucket of every item: exact search
            path = (self.buckets if isinstance(candidates, BucketCandidates)
                    else self.lists if candidates.ids is not None else self.dense)
            rows, kept_values, step = path.block(candidates, start, stop, keep_top, budget, dense_step)
            rank_seconds += time.perf_counter() - t2
            for values in kept_values:
                for name, value in values.items():
                    kept.setdefault(name, []).append(value.cpu())
            positions.append(rows.cpu())
            bar.update(stop - start)
            start = stop
        bar.close()
        evaluate_seconds = time.perf_counter() - start_all
        inverse = torch.argsort(torch.cat(positions))  # back to the queries' order
        out = {name: torch.cat(values)[inverse].numpy() for name, values in kept.items()}
        ids = out["ids"]
        # padding is -1 whichever path ranked the block: past a list's end (id N) and, from a dense mask's sort, the
        # non-candidates ranked last at -inf (they were not retrieved)
        ids[(ids == self.n_gallery) | np.isneginf(out["scores"])] = -1
        ranking = Ranking(ids=ids, scores=out["scores"], n_candidates=out["n_candidates"],
                          n_relevant=out["n_relevant"], ap_sum=out["ap_sum"],
                          labels=self.query_labels.cpu().numpy())
        timings = {**(search_timings(Searcher(self.gallery_unit, self.memory_mb, keep_top), index, self.queries,
                                     latency_queries) if search else {}),
                   "evaluate_seconds": evaluate_seconds, "latency_queries": latency_queries, "peak_memory_mb": peak_memory_mb(self.device),
                   "device": str(self.device)}
        return ranking, timings
