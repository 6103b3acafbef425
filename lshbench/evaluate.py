"""One evaluation engine for every method: candidates -> cosine re-ranking -> what each query retrieved (its ranking,
lshbench/ranking.py), from which lshbench/metrics.py derives every metric.

Ranking: cosine similarity descending, ties broken by gallery position ascending (a stable sort of each candidate
list, which is ascending).

Queries are processed in blocks as tensors on the device; no block holds more than ``memory_mb`` of scores, so the full
query x gallery matrix never exists (ImageNet: 50k x 1.28M). Candidate lists (CSR) are scored without any pass over
the gallery: queries sharing a list (k-means, probes 1: ``Candidates.groups``) as one batched product per bucket of
like-shaped groups; hashing unions (``BucketCandidates``, from ``bucket_candidates``) bucket by bucket, each (table,
bucket)'s queries against its members, then merged per query; other lists in sub-blocks of 16 queries against their
union; every product has at least 16 rows and columns, so each score has the bits of one large GEMM however the
queries were grouped. Dense masks: one product per block and a full stable sort. Exact search on the CPU: one product
per block, the ranks of each query's relevant items from one pass over its row (lshbench.kernels) and its top by
``topk``, the same bits as the sort (``rank_all``)."""

from __future__ import annotations

import contextlib
import math
import resource
import time

import numpy as np
import torch
import torch.nn.functional as F

from . import threads
from .candidates import BucketCandidates, Candidates, gather_ranges, ranges_within
from .ranking import Ranking
from .search import Searcher, search_timings

# Columns that measure the machine, not the method: they go to timings.csv, so metrics.csv and every table are
# byte-identical between two runs of the same config (checksums.sha256).
TIMING_COLUMNS = ("build_seconds", "search_seconds", "candidate_seconds", "queries_per_second", "search_p50_ms",
                  "search_p99_ms", "evaluate_seconds", "peak_memory_mb", "device")
BYTES_PER_RANKED_ELEMENT = 48  # scores, sort values and indices, ids, relevance, cumulative counts
MIN_GEMM = 16  # rows and columns of every similarity product at least this (Evaluator.product)
FIRST_BLOCK = 256  # queries of the first block: their candidate lists size the next blocks
MAX_LIST_BLOCK = 1 << 16  # queries of one block when candidates come as lists
EXACT_SUM_WIDTH = 1 << 14  # lists up to this long: the float64 AP sum is exact in any order (record_flat)


def padded(x: torch.Tensor) -> torch.Tensor:
    """Bucket and list sizes rounded up to MIN_GEMM x 1.25^k: groups of like shape share one batched product, and
    padding costs at most a quarter more work."""
    x = x.clamp_min(MIN_GEMM).double()
    return (MIN_GEMM * torch.pow(1.25, torch.ceil(torch.log(x / MIN_GEMM) / math.log(1.25) - 1e-9))).ceil().long()


@contextlib.contextmanager
def one_thread(device: torch.device):
    """One CPU thread for list ranking: its ops are many and mid-sized (a cluster's product and sort), and at two
    threads each waits for the slower thread (measured: 10x slower on a shared 2-core machine, where FAISS's scan
    gains nothing from a second thread either); exact search's large products keep every thread."""
    count = torch.get_num_threads()
    if device.type != "cpu" or count == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(count)


def covers_all(hits: BucketCandidates) -> bool:
    """Whether every query hits a bucket holding the whole gallery (its candidates are every item)."""
    full = torch.zeros(hits.n_queries, dtype=torch.bool, device=hits.length.device)
    full[hits.query[hits.length >= hits.n_gallery]] = True
    return bool(full.all())


def bucket_parts(hits: BucketCandidates, limit: int):
    """``hits`` as consecutive ranges of queries whose hits hold at most ``limit`` members in all (one query's at
    least): (the part's hits, its queries renumbered from 0; its first query)."""
    total = int(hits.length.sum())
    if total <= limit or hits.n_queries <= 1:
        yield hits, 0
        return
    per_query = torch.zeros(hits.n_queries, dtype=torch.int64, device=hits.length.device).index_add_(
        0, hits.query, hits.length)
    ends = torch.cumsum(per_query, 0)
    lo = 0
    while lo < hits.n_queries:
        before = int(ends[lo - 1]) if lo else 0
        hi = int(torch.searchsorted(ends, before + limit, right=True))
        hi = min(hits.n_queries, max(hi, lo + 1))
        mine = (hits.query >= lo) & (hits.query < hi)
        yield BucketCandidates(hits.query[mine] - lo, hits.bucket[mine], hits.begin[mine], hits.length[mine],
                               hits.members, hi - lo, hits.n_gallery), lo
        lo = hi


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
        """Every gallery item (exact search) or a dense mask's, sorted by similarity: (scores (B, N), ids (B, N));
        non-candidates of a mask are -inf (ranked last, by position). Lists go through ``rank_lists``."""
        scores = query_unit @ self.gallery_unit.T
        if candidates.mask is not None:
            scores.masked_fill_(~candidates.mask, float("-inf"))
        return torch.sort(scores, dim=1, descending=True, stable=True)

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
        # copies, not views: a view would keep the block's whole sorted (B, N) scores and ids alive in the kept
        # values (536 MB a block at 50,000 items)
        top_scores, top_ids = scores[:, :keep_top].clone(), ids[:, :keep_top].clone()
        if width < keep_top:
            top_scores = F.pad(top_scores, (0, keep_top - width), value=float("-inf"))
            top_ids = F.pad(top_ids, (0, keep_top - width), value=self.n_gallery)
        out["scores"], out["ids"] = top_scores, top_ids
        return out

    # ---------------------------------------------------------------------------------------------------------------
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
            if isinstance(candidates, BucketCandidates):
                # buckets: each (table, bucket)'s queries scored against its members, then merged per query; the
                # block's queries in parts whose hits hold at most a quarter of the budget's triples (one query's at
                # least), and the next block sized by this one's hits per query
                rows = torch.arange(start, stop, device=self.device)
                kept_values, total = [], 0
                with one_thread(self.device):
                    for part, offset in bucket_parts(candidates, max(1, budget // 4)):
                        values, _ = self.rank_buckets(part, start + offset, keep_top, budget)
                        kept_values.append(values)
                total = int(candidates.length.sum())
                per_query = max(1.0, total / max(1, stop - start))
                step = int(max(1, min(MAX_LIST_BLOCK, budget // (4 * per_query))))
            elif candidates.ids is not None:
                # lists: the block's candidates in one flat ranking (no pass over the gallery), and the next block
                # as large as the budget allows for lists this long
                with one_thread(self.device):
                    order, values = self.rank_lists(candidates, start, keep_top, budget)
                rows = start + order
                kept_values = [values]
                per_query = max(1.0, len(candidates.ids) / max(1, stop - start))
                step = int(max(dense_step, min(MAX_LIST_BLOCK, budget // (4 * per_query))))
            else:
                rows = torch.arange(start, stop, device=self.device)
                kept_values = []
                for sub_start, sub_stop in self._sub_blocks(candidates, budget, stop - start):
                    part = candidates.slice(sub_start, sub_stop)
                    values = self.rank_dense(part, self.query_unit[start + sub_start : start + sub_stop],
                                             self.query_labels[start + sub_start : start + sub_stop], keep_top)
                    kept_values.append(values)
                step = dense_step
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

    # ---------------------------------------------------------------------------------------------------------------
    def product(self, queries: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """queries (m, D) @ items (n, D).T as one GEMM of at least MIN_GEMM rows and columns (zero padding).

        MKL's sgemm gives a dot product the same bits at every shape from about 12 x 12 up (the kernels for fewer
        rows or columns round differently), so padding small products keeps every score independent of how the
        queries were grouped: the same bits as one product over a large block."""
        m, n = len(queries), len(items)
        if m < MIN_GEMM:
            queries = F.pad(queries, (0, 0, 0, MIN_GEMM - m))
        if n < MIN_GEMM:
            items = F.pad(items, (0, 0, 0, MIN_GEMM - n))
        out = queries @ items.T
        return out[:m, :n] if m < MIN_GEMM or n < MIN_GEMM else out

    def rank_lists(self, candidates: Candidates, start: int, keep_top: int, budget: int
                   ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Rank a block of CSR candidate lists: (the block's query order, what each of them keeps).

        Queries that share a list (``candidates.groups``) are scored as one dense product against exactly that list
        and sorted together; other lists in sub-blocks of MIN_GEMM queries against the union of their lists. Either
        way the sorted lists are laid end to end (flat) and recorded at once by ``record_flat``."""
        n = self.n_gallery
        counts = candidates.counts()
        if candidates.groups is not None:
            order, values = self._rank_groups(candidates, start, keep_top, budget)
            values["n_candidates"] = counts[order]
            return order, values
        else:
            order, candidates = by_first_candidate(candidates)
            counts = candidates.counts()
            flat_scores, flat_ids = [], []
            for sub_start in range(0, candidates.n_queries, MIN_GEMM):
                sub_stop = min(sub_start + MIN_GEMM, candidates.n_queries)
                part = candidates.slice(sub_start, sub_stop)
                if len(part.ids) == 0:
                    continue
                part_counts = counts[sub_start:sub_stop]
                rows_local = torch.repeat_interleave(torch.arange(len(part_counts), device=self.device), part_counts)
                union = torch.unique(part.ids)  # sorted
                flat = self.product(self.query_unit[start + order[sub_start:sub_stop]],
                                    self.gallery_unit[union])[rows_local, torch.searchsorted(union, part.ids)]
                width = int(part_counts.max())
                cols = torch.arange(len(part.ids), device=self.device) - part.offsets[rows_local]
                scores = torch.full((len(part_counts), width), float("-inf"), device=self.device)
                scores[rows_local, cols] = flat
                ids = torch.full((len(part_counts), width), n, dtype=torch.int64, device=self.device)
                ids[rows_local, cols] = part.ids  # ascending within a row: a stable sort breaks ties by position
                scores, at = torch.sort(scores, dim=1, descending=True, stable=True)
                valid = torch.arange(width, device=self.device).unsqueeze(0) < part_counts.unsqueeze(1)
                flat_scores.append(scores[valid])
                flat_ids.append(ids.gather(1, at)[valid])
        empty = torch.zeros(0, device=self.device)
        flat_scores = torch.cat(flat_scores) if flat_scores else empty
        flat_ids = torch.cat(flat_ids) if flat_ids else empty.long()
        values = self.record_flat(flat_scores, flat_ids, counts, self.query_labels[start + order], keep_top, budget)
        values["n_candidates"] = counts
        return order, values

    def rank_buckets(self, hits: BucketCandidates, start: int, keep_top: int, budget: int
                     ) -> tuple[dict[str, torch.Tensor], int]:
        """Rank a block of queries given as bucket hits: (what each query keeps, in order, and the candidates in all).

        The queries hitting one bucket are scored as one dense product against exactly its members, like-shaped
        buckets batched (``_score_groups``; every product at least MIN_GEMM x MIN_GEMM, so each score has the bits
        of ``rank_lists``'s). Then per query: the (query, id, score) triples of all its buckets sorted by score
        descending, id ascending (the order of ``rank_lists``'s stable sort of an ascending list) and de-duplicated
        (an id in two buckets of one query has the same score bits twice), and recorded by ``record_flat``."""
        n_queries, device, n = hits.n_queries, self.device, self.n_gallery
        keep = hits.length > 0
        query, bucket, begin, length = hits.query[keep], hits.bucket[keep], hits.begin[keep], hits.length[keep]
        order = torch.argsort(bucket, stable=True)  # the hits of a bucket together, its queries ascending
        query, begin, length = query[order], begin[order], length[order]
        _, sizes = torch.unique_consecutive(bucket[order], return_counts=True)
        firsts = torch.cumsum(sizes, 0) - sizes
        scores, hit_order = self._score_groups(start + query, sizes, firsts, begin[firsts], length[firsts],
                                               hits.members, budget)
        # the triples in the order of the scores: hit by hit (as _score_groups took them), each its bucket's members
        rows, ids = gather_ranges(begin[hit_order], length[hit_order], hits.members)
        rows = query[hit_order][rows]
        # one sort by (query, score descending); equal keys (equal scores, an id twice) then sorted by id
        bits = (scores + 0.0).view(torch.int32).to(torch.int64)  # + 0.0: -0.0 becomes 0.0 (they tie in a sort)
        ascending = torch.where(bits >= 0, bits, bits ^ 0x7FFFFFFF)  # orders as the floats
        key, at = torch.sort(rows * (1 << 32) + ((1 << 31) - 1 - ascending))
        ids, scores = ids[at], scores[at]
        same = key[1:] == key[:-1]
        if bool(same.any()):
            in_run = torch.zeros(len(key), dtype=torch.bool, device=device)
            in_run[1:] |= same
            in_run[:-1] |= same
            at = torch.nonzero(in_run).squeeze(1)
            run = torch.cumsum(~torch.cat([same.new_zeros(1), same])[at], 0)  # runs numbered in order
            _, by_id = torch.sort(run * n + ids[at])
            ids[at], scores[at] = ids[at][by_id], scores[at][by_id]
            first = torch.ones(len(key), dtype=torch.bool, device=device)
            first[1:] = ~same | (ids[1:] != ids[:-1])
            key, ids, scores = key[first], ids[first], scores[first]
        counts = torch.bincount(key >> 32, minlength=n_queries)
        values = self.record_flat(scores, ids, counts, self.query_labels[start : start + n_queries], keep_top, budget)
        values["n_candidates"] = counts
        return values, len(ids)

    def _score_groups(self, queries: torch.Tensor, sizes: torch.Tensor, firsts: torch.Tensor, begins: torch.Tensor,
                      lengths: torch.Tensor, members: torch.Tensor, budget: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Group g, queries[firsts[g] : firsts[g] + sizes[g]] (rows of query_unit), against its list, gallery ids
        members[begins[g] : begins[g] + lengths[g]] (lengths > 0), groups of like shape in one batched
        product (padded to the bucket's size, at least MIN_GEMM, as ``_rank_groups``). Returns every score, query
        by query of each group (its list's scores in order), and the order the (group, query) pairs came in (as
        positions in ``queries``)."""
        device = self.device

        shape = padded(sizes) * (1 << 32) + padded(lengths)
        groups = torch.argsort(shape, stable=True)
        shapes, per_shape = torch.unique_consecutive(shape[groups], return_counts=True)
        dim = self.gallery_unit.shape[1]
        out_scores = []
        done = 0
        for key, count in zip(shapes.tolist(), per_shape.tolist()):
            rows_pad, cols_pad = key >> 32, key & 0xFFFFFFFF
            chunk = max(1, budget // (4 * max(1, (rows_pad + dim) * cols_pad)))
            for lo in range(0, count, chunk):
                g = groups[done + lo : done + min(lo + chunk, count)]
                row_valid = torch.arange(rows_pad, device=device).unsqueeze(0) < sizes[g].unsqueeze(1)
                col_valid = torch.arange(cols_pad, device=device).unsqueeze(0) < lengths[g].unsqueeze(1)
                query_at = torch.where(row_valid, firsts[g].unsqueeze(1) + torch.arange(rows_pad, device=device), 0)
                member_at = torch.where(col_valid, begins[g].unsqueeze(1) + torch.arange(cols_pad, device=device), 0)
                scores = torch.bmm(self.query_unit[queries[query_at]],
                                   self.gallery_unit[members[member_at]].transpose(1, 2))
                out_scores.append(scores[row_valid.unsqueeze(2) & col_valid.unsqueeze(1)])
            done += count
        hit_order = firsts[groups].repeat_interleave(sizes[groups]) + ranges_within(sizes[groups])
        return (torch.cat(out_scores) if out_scores else torch.zeros(0, device=device)), hit_order

    def _rank_groups(self, candidates: Candidates, start: int, keep_top: int, budget: int):
        """Queries sharing a list, scored and sorted per group: groups of like shape go through one batched product
        (queries and lists padded to the bucket's size, at least MIN_GEMM, with gallery row 0: a padding row or
        column changes no other entry of a product), then every row sorted and recorded at once. Returns (query
        order, what each query keeps), the queries of each group consecutive, those without candidates first."""
        order = torch.argsort(candidates.groups, stable=True)
        _, sizes = torch.unique_consecutive(candidates.groups[order], return_counts=True)
        firsts = torch.cumsum(sizes, 0) - sizes
        first_query = order[firsts]
        begins = candidates.offsets[first_query]
        lengths = candidates.offsets[first_query + 1] - begins
        keep = lengths > 0
        shape = padded(sizes) * (1 << 32) + padded(lengths)
        groups = torch.nonzero(keep).squeeze(1)
        groups = groups[torch.argsort(shape[groups], stable=True)]
        shapes, per_shape = torch.unique_consecutive(shape[groups], return_counts=True)
        new_order = [order[firsts[~keep].repeat_interleave(sizes[~keep]) + ranges_within(sizes[~keep])]]
        kept: dict[str, list[torch.Tensor]] = {}
        dim = self.gallery_unit.shape[1]
        done = 0
        for key, count in zip(shapes.tolist(), per_shape.tolist()):
            rows_pad, cols_pad = key >> 32, key & 0xFFFFFFFF
            chunk = max(1, budget // (4 * max(1, (rows_pad + dim) * cols_pad)))
            for lo in range(0, count, chunk):
                g = groups[done + lo : done + min(lo + chunk, count)]
                m, n = sizes[g], lengths[g]
                row_valid = torch.arange(rows_pad, device=self.device).unsqueeze(0) < m.unsqueeze(1)  # (B, rows_pad)
                col_valid = torch.arange(cols_pad, device=self.device).unsqueeze(0) < n.unsqueeze(1)  # (B, cols_pad)
                query_at = torch.where(row_valid, firsts[g].unsqueeze(1) + torch.arange(rows_pad, device=self.device), 0)
                queries = torch.where(row_valid, order[query_at], order[0])
                member_at = torch.where(col_valid, begins[g].unsqueeze(1) + torch.arange(cols_pad, device=self.device), 0)
                members = torch.where(col_valid, candidates.ids[member_at], 0)
                scores = torch.bmm(self.query_unit[start + queries], self.gallery_unit[members].transpose(1, 2))
                scores.masked_fill_(~col_valid.unsqueeze(1), float("-inf"))
                scores, at = torch.sort(scores, dim=2, descending=True, stable=True)
                padded_ids = torch.where(col_valid, members, self.n_gallery)
                ids = padded_ids.unsqueeze(1).expand(-1, rows_pad, -1).gather(2, at)
                # the padded rows of each group as record's rows (padding columns: -inf and N, as rank's)
                keep_rows = row_valid.reshape(-1)
                picked = queries[row_valid]
                values = self.record(scores.reshape(-1, cols_pad)[keep_rows], ids.reshape(-1, cols_pad)[keep_rows],
                                     self.query_labels[start + picked], keep_top)
                for name, value in values.items():
                    kept.setdefault(name, []).append(value)
                new_order.append(picked)
            done += count
        values = {name: torch.cat(value) for name, value in kept.items()}
        n_empty = len(new_order[0])
        if n_empty:  # queries without candidates: nothing retrieved
            values["ap_sum"] = torch.cat([torch.zeros(n_empty, dtype=torch.float64, device=self.device),
                                          values["ap_sum"]]) if kept else torch.zeros(n_empty, dtype=torch.float64)
            values["n_relevant"] = torch.cat([torch.zeros(n_empty, dtype=torch.int64, device=self.device),
                                              values["n_relevant"]]) if kept else torch.zeros(n_empty, dtype=torch.int64)
            for name, fill in (("scores", float("-inf")), ("ids", self.n_gallery)):
                pad = torch.full((n_empty, keep_top), fill, device=self.device,
                                 dtype=torch.float32 if name == "scores" else torch.int64)
                values[name] = torch.cat([pad, values[name]]) if kept else pad
        return torch.cat(new_order), values

    def record_flat(self, scores: torch.Tensor, ids: torch.Tensor, counts: torch.Tensor, labels: torch.Tensor,
                    keep_top: int, budget: int) -> dict[str, torch.Tensor]:
        """``record`` for sorted lists laid end to end (query j's are the next counts[j]): the same arithmetic
        (hits cumulated, divided by the float32 rank, summed in float64 over a row with each term at its rank, so
        that the float64 sum adds in the same order as ``record``'s) without padding the lists to one width."""
        n_queries, device = len(counts), self.device
        ends = torch.cumsum(counts, 0)
        begins = ends - counts
        owner = torch.repeat_interleave(torch.arange(n_queries, device=device), counts)
        position = torch.arange(len(ids), device=device) - begins[owner]
        relevant = (self.labels_padded[ids] == labels[owner]) & (scores > float("-inf"))
        total = torch.cumsum(relevant, 0)
        def through(at):  # relevant candidates among the first ``at`` of the block
            return torch.where(at > 0, total[(at - 1).clamp_min(0)], 0) if len(total) else torch.zeros_like(at)

        before = through(begins)
        n_relevant = through(ends) - before
        hits = (total - before[owner]).to(torch.float32)
        terms = torch.where(relevant, hits / (position + 1).to(torch.float32), 0)
        ap_sum = torch.zeros(n_queries, dtype=torch.float64, device=device)
        width = max(1, int(counts.max())) if n_queries else 1
        if width <= EXACT_SUM_WIDTH:
            # every term is a float32 >= 1/width >= 2^-14 (so a multiple of 2^-37) and every partial sum is at most
            # width <= 2^14: all are exact in float64 (51 bits), so any order of addition gives record's bits
            ap_sum.index_add_(0, owner, terms.to(torch.float64))
            step = n_queries  # done
        else:
            step = max(1, budget // (4 * width))
        for lo in range(0 if step < n_queries else n_queries, n_queries, step):  # a padded row per query: the
            # float64 sum adds in record's order
            hi = min(lo + step, n_queries)
            a, b = int(begins[lo]) if hi > lo else 0, int(ends[hi - 1])
            row = torch.zeros(hi - lo, width, device=device)
            row[owner[a:b] - lo, position[a:b]] = terms[a:b]
            ap_sum[lo:hi] = row.sum(1, dtype=torch.float64)
        top_scores = torch.full((n_queries, keep_top), float("-inf"), device=device)
        top_ids = torch.full((n_queries, keep_top), self.n_gallery, dtype=torch.int64, device=device)
        take = position < keep_top
        top_scores[owner[take], position[take]] = scores[take]
        top_ids[owner[take], position[take]] = ids[take]
        return {"ap_sum": ap_sum, "n_relevant": n_relevant, "scores": top_scores, "ids": top_ids}

    def rank_dense(self, candidates: Candidates, query_unit: torch.Tensor, labels: torch.Tensor, keep_top: int
                   ) -> dict[str, torch.Tensor]:
        """Every gallery item (exact search) or a dense mask: ranked and recorded (the full stable sort; exact search
        on the CPU without it, ``rank_all``)."""
        if self.device.type == "cpu" and (candidates.is_all or (candidates.mask is not None
                                                               and bool(candidates.mask.all()))):
            return self.rank_all(query_unit, labels, keep_top)  # a mask of every item (a bucket holding the
            # whole gallery): exact search, whose rankings rank_all gives bit for bit without the sort
        scores, ids = self.rank(candidates, query_unit)
        values = self.record(scores, ids, labels, keep_top)
        values["n_candidates"] = candidates.counts()
        return values

    def rank_all(self, query_unit: torch.Tensor, labels: torch.Tensor, keep_top: int) -> dict[str, torch.Tensor]:
        """``record(*rank(...))`` for exact search without sorting the rows: the ranks of each query's relevant items
        from one pass over its row (lshbench.kernels.relevant_ranks), the top ``keep_top`` by ``topk`` ordered by
        (score descending, id ascending). Rows where the top's last score ties the next one (a tie that may continue
        past what topk returned) take the full stable sort. The same bits as ``record``: its AP terms are the same
        float32 quotients hits / rank, and their float64 sum is exact in any order while relevant items x 2^ceil(log2
        N) <= 2^30 (every term a multiple of 2^-(ceil(log2 N) + 23), every partial sum at most the relevant count);
        beyond that the terms are summed laid out at their ranks, as ``record`` sums them."""
        from .kernels import relevant_ranks

        threads.follow_torch()
        scores = query_unit @ self.gallery_unit.T
        if not getattr(self, "_finite", False):  # finite unit vectors give finite scores in [-1, 1]
            for name, x in (("gallery", self.gallery_unit), ("query", self.query_unit)):
                if not bool(torch.isfinite(x).all()):
                    raise ValueError(f"exact search: the {name} embeddings hold NaN or infinite values; check the "
                                     "embeddings' Parquet file (rerun the embed rule)")
            self._finite = True
        n, device = self.n_gallery, self.device
        members, offsets = self._class_members()
        width = max(1, int(self.class_counts.max()))
        ranks = torch.from_numpy(relevant_ranks(scores.numpy(), labels.numpy(), members, offsets, width))
        n_relevant = (ranks > 0).sum(1)
        hits = torch.arange(1, width + 1, dtype=torch.float32).expand_as(ranks)
        terms = torch.where(ranks > 0, hits / ranks.clamp_min(1).to(torch.float32), 0)
        if width << max(0, math.ceil(math.log2(max(n, 1)))) <= 1 << 30:
            ap_sum = terms.sum(1, dtype=torch.float64)
        else:
            row = torch.zeros(len(ranks), n + 1)
            row.scatter_(1, torch.where(ranks > 0, ranks - 1, n), terms)
            ap_sum = row[:, :n].sum(1, dtype=torch.float64)
        k = min(keep_top, n)
        top_scores, top_ids = torch.topk(scores, min(k + 1, n), dim=1)
        if k < n:
            tied = torch.nonzero(top_scores[:, k - 1] == top_scores[:, k]).flatten()
            top_scores, top_ids = top_scores[:, :k], top_ids[:, :k]
        else:
            tied = top_ids.new_empty(0)
        top_ids, order = torch.sort(top_ids, dim=1)  # ids ascending, then a stable sort by score descending
        top_scores = top_scores.gather(1, order)
        top_scores, order = torch.sort(top_scores, dim=1, descending=True, stable=True)
        top_ids = top_ids.gather(1, order)
        if len(tied):
            sorted_scores, sorted_ids = torch.sort(scores[tied], dim=1, descending=True, stable=True)
            top_scores[tied], top_ids[tied] = sorted_scores[:, :k], sorted_ids[:, :k]
        if k < keep_top:
            top_scores = F.pad(top_scores, (0, keep_top - k), value=float("-inf"))
            top_ids = F.pad(top_ids, (0, keep_top - k), value=n)
        return {"ap_sum": ap_sum, "n_relevant": n_relevant, "scores": top_scores, "ids": top_ids,
                "n_candidates": torch.full((len(scores),), n, dtype=torch.int64, device=device)}

    def _class_members(self) -> tuple[np.ndarray, np.ndarray]:
        """The gallery ids of each label, ascending, as CSR (ids, offsets), made once."""
        if getattr(self, "_members", None) is None:
            labels = self.gallery_labels.cpu().numpy()
            ids = np.argsort(labels, kind="stable").astype(np.int64)
            offsets = np.concatenate([[0], np.cumsum(self.class_counts.cpu().numpy())]).astype(np.int64)
            self._members = (ids, offsets)
        return self._members

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
