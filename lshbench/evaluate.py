"""One evaluation engine for every method: candidates -> cosine re-ranking -> what each query retrieved (its ranking,
lshbench/ranking.py), from which lshbench/metrics.py derives every metric.

Ranking: cosine similarity descending, ties broken by gallery position ascending (a stable sort of each candidate
list, which is ascending).

Queries are processed in blocks as tensors on the device; no block holds more than ``memory_mb`` of scores, so the full
query x gallery matrix never exists (ImageNet: 50k x 1.28M).
"""

from __future__ import annotations

import resource
import time

import numpy as np
import torch
import torch.nn.functional as F

from .candidates import Candidates, gather_ranges
from .ranking import Ranking

# Columns that measure the machine, not the method: they go to timings.csv, so metrics.csv and every table are
# byte-identical between two runs of the same config (checksums.sha256).
TIMING_COLUMNS = ("build_seconds", "candidate_seconds", "query_seconds", "evaluate_seconds", "latency_p50_ms",
                  "latency_p99_ms", "peak_memory_mb", "device")
BYTES_PER_RANKED_ELEMENT = 48  # scores, sort values and indices, ids, relevance, cumulative counts
SPARSE_SUB_BLOCK = 64  # queries ranked together when candidates come as lists


def by_first_candidate(candidates: Candidates) -> tuple[torch.Tensor, Candidates]:
    """The queries of a CSR candidate set reordered by their first candidate (empty lists last): (order, reordered)."""
    counts = candidates.counts()
    first = candidates.ids[candidates.offsets[:-1].clamp_max(max(len(candidates.ids) - 1, 0))] if len(
        candidates.ids) else torch.zeros_like(counts)
    key = torch.where(counts > 0, first, candidates.n_gallery)
    order = torch.argsort(key, stable=True)
    _, ids = gather_ranges(candidates.offsets[:-1][order], counts[order], candidates.ids)
    offsets = torch.zeros_like(candidates.offsets)
    offsets[1:] = torch.cumsum(counts[order], 0)
    return order, Candidates(offsets, ids, candidates.n_queries, candidates.n_gallery)


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

    # ---------------------------------------------------------------------------------------------------------------
    def rank(self, candidates: Candidates, query_unit: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Candidates of a block sorted by similarity: (scores (B, W), ids (B, W)); padding is -inf / N."""
        n = self.n_gallery
        if candidates.is_all or candidates.mask is not None:
            scores = query_unit @ self.gallery_unit.T
            if candidates.mask is not None:
                scores.masked_fill_(~candidates.mask, float("-inf"))
            return torch.sort(scores, dim=1, descending=True, stable=True)
        counts = candidates.counts()
        width = max(1, int(counts.max())) if len(counts) else 1
        ids = candidates.ids
        rows = torch.repeat_interleave(torch.arange(len(counts), device=self.device), counts)
        cols = torch.arange(len(ids), device=self.device) - candidates.offsets[rows]
        present = torch.zeros(n, dtype=torch.bool, device=self.device)
        present[ids] = True
        used = torch.nonzero(present).squeeze(1)
        if len(used) > n // 2:  # most of the gallery: one product with all of it
            flat = (query_unit @ self.gallery_unit.T)[rows, ids]
        else:  # only the gallery rows some query of the block needs
            position = torch.cumsum(present, 0) - 1
            flat = (query_unit @ self.gallery_unit[used].T)[rows, position[ids]]
        scores = torch.full((len(counts), width), float("-inf"), device=self.device)
        scores[rows, cols] = flat
        padded_ids = torch.full((len(counts), width), n, dtype=torch.int64, device=self.device)
        padded_ids[rows, cols] = ids  # ascending within a row, so a stable sort breaks ties by position
        sorted_scores, order = torch.sort(scores, dim=1, descending=True, stable=True)
        return sorted_scores, padded_ids.gather(1, order)

    def record(self, scores: torch.Tensor, ids: torch.Tensor, labels: torch.Tensor, keep_top: int
               ) -> dict[str, torch.Tensor]:
        """What a ranked block keeps (lshbench/ranking.py): the top ``keep_top`` ids and scores (padded with N and
        -inf) and the sums over the whole list, relevant retrieved and sum_i rel_i * P@i."""
        relevant = (self.labels_padded[ids] == labels.unsqueeze(1)) & (scores > float("-inf"))
        width = relevant.shape[1]
        hits = torch.cumsum(relevant, 1, dtype=torch.float32)
        ranks = torch.arange(1, width + 1, device=self.device, dtype=torch.float32)
        out = {"ap_sum": torch.where(relevant, hits / ranks, 0).sum(1, dtype=torch.float64),
               "n_relevant": relevant.sum(1)}
        top_scores, top_ids = scores[:, :keep_top], ids[:, :keep_top]
        if width < keep_top:
            top_scores = F.pad(top_scores, (0, keep_top - width), value=float("-inf"))
            top_ids = F.pad(top_ids, (0, keep_top - width), value=self.n_gallery)
        out["scores"], out["ids"] = top_scores, top_ids
        return out

    # ---------------------------------------------------------------------------------------------------------------
    def rankings(self, index, keep_top: int = 100, latency_queries: int = 200, progress: bool = False
                 ) -> tuple[Ranking, dict]:
        """Run every query: (its ranking, the timings). lshbench.metrics.evaluate derives the metrics from both."""
        from tqdm import tqdm

        n_queries = len(self.queries)
        budget = int(self.memory_mb * 2**20) // BYTES_PER_RANKED_ELEMENT
        step = max(1, min(4096, budget // max(1, self.n_gallery)))
        kept: dict[str, list[torch.Tensor]] = {}
        positions = []
        candidate_seconds = rank_seconds = 0.0
        start_all = time.perf_counter()
        for start in tqdm(range(0, n_queries, step), desc="evaluate", unit="block", disable=not progress):
            stop = min(start + step, n_queries)
            t0 = time.perf_counter()
            candidates = index.candidates(self.queries[start:stop])
            candidate_seconds += time.perf_counter() - t0
            order = torch.arange(stop - start, device=self.device)
            max_queries = stop - start
            if candidates.ids is not None:
                # Queries whose lists start alike (same clusters or buckets) are ranked together in small
                # sub-blocks, so each similarity product needs only the gallery rows those few lists touch.
                order, candidates = by_first_candidate(candidates)
                max_queries = SPARSE_SUB_BLOCK
            for sub_start, sub_stop in self._sub_blocks(candidates, budget, max_queries):
                part = candidates.slice(sub_start, sub_stop)
                rows = start + order[sub_start:sub_stop]
                t2 = time.perf_counter()
                scores, ids = self.rank(part, self.query_unit[rows])
                rank_seconds += time.perf_counter() - t2
                values = self.record(scores, ids, self.query_labels[rows], keep_top)
                values["n_candidates"] = part.counts()
                for name, value in values.items():
                    kept.setdefault(name, []).append(value.cpu())
                positions.append(rows.cpu())
        evaluate_seconds = time.perf_counter() - start_all
        inverse = torch.argsort(torch.cat(positions))  # back to the queries' order
        out = {name: torch.cat(values)[inverse].numpy() for name, values in kept.items()}
        ids = out["ids"]
        ids[ids == self.n_gallery] = -1
        ranking = Ranking(ids=ids, scores=out["scores"], n_candidates=out["n_candidates"],
                          n_relevant=out["n_relevant"], ap_sum=out["ap_sum"],
                          labels=self.query_labels.cpu().numpy())
        latencies = self.latency(index, latency_queries)
        timings = {
            "candidate_seconds": candidate_seconds,
            "query_seconds": candidate_seconds + rank_seconds,
            "evaluate_seconds": evaluate_seconds,
            "latency_p50_ms": float(np.percentile(latencies, 50)) * 1e3,
            "latency_p99_ms": float(np.percentile(latencies, 99)) * 1e3,
            "latency_queries": len(latencies),
            "peak_memory_mb": peak_memory_mb(self.device),
            "device": str(self.device),
        }
        return ranking, timings

    def _sub_blocks(self, candidates: Candidates, budget: int, max_queries: int):
        """Split a block's queries so that (queries x longest candidate list) stays within the budget."""
        counts = candidates.counts().tolist()
        start = 0
        while start < candidates.n_queries:
            stop = start + 1
            widest = counts[start]
            while stop < candidates.n_queries and stop - start < max_queries:
                widest_next = max(widest, counts[stop])
                if (stop + 1 - start) * max(widest_next, 1) > budget:
                    break
                widest, stop = widest_next, stop + 1
            yield start, stop
            start = stop

    def latency(self, index, n: int) -> np.ndarray:
        """Seconds for one query at a time: candidates, cosine re-ranking, top 10 (a Python loop on purpose)."""
        picks = np.linspace(0, len(self.queries) - 1, num=min(n, len(self.queries))).round().astype(int)
        seconds = []
        sync = torch.cuda.synchronize if self.device.type == "cuda" else (lambda: None)
        for i in picks:
            sync()
            t = time.perf_counter()
            candidates = index.candidates(self.queries[i : i + 1])
            if candidates.is_all:  # no id list to gather
                scores = self.gallery_unit @ self.query_unit[i]
                torch.topk(scores, min(10, len(scores)))
            else:
                ids = candidates.row(0)
                if len(ids):
                    scores = torch.index_select(self.gallery_unit, 0, ids) @ self.query_unit[i]
                    ids[torch.topk(scores, min(10, len(ids))).indices]
            sync()
            seconds.append(time.perf_counter() - t)
        return np.asarray(seconds)
