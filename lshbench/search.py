"""A user's search call: each query's candidates, exact cosine re-ranking of them, its top ``k`` returned. This is what
queries per second and the single-query percentiles time (``timings.csv``). The evaluation's bookkeeping (where every
relevant item ranks in the whole candidate list, AP sums: lshbench.evaluate) is timed apart from it.

Every method describes its candidates the same way, as buckets hit (``BucketCandidates``: the k-means clusters
probed, a hashing table's bucket per table and probe, or one list per query), or ``None`` for every gallery item. The
work then depends on the candidates, not on the method:

* a query whose buckets hold, counted with repeats, at least ``FULL_SHARE`` of the gallery is scored against the
  whole gallery in one product, as exact search is, and its non-candidates masked: scanning nearly everything costs
  what scanning everything does, not more (a query whose bucket is the whole gallery needs no mask at all);
* the other queries are scored bucket by bucket: a bucket's queries against its members as one product (buckets of
  like shape in one batched product), the top ``k`` of each (query, bucket) kept, then merged per query (an item in
  several of a query's buckets counted once). A bucket's members are read once per block of queries, not once per
  query hitting it, which is what makes few candidates cheap.

The top ``k`` comes sorted by similarity descending, equal similarities by gallery position ascending (the order of
the rankings); which of several items tied at the k-th similarity is returned is not specified.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch

from . import threads
from .candidates import BucketCandidates, Candidates, gather_ranges, ranges_within

FULL_SHARE = 0.5  # a query's buckets (with repeats) holding this share of the gallery: scored as exact search
QUERY_BLOCK = 16384  # queries whose candidates are found and scored together
DENSE_ROWS = 512  # queries scored against the whole gallery together (their scores: 100 MB at 50,000 items)
UNION_MEAN = 512  # queries with at most this many candidates (with repeats) on average: scanned query by query
# (lshbench.search_kernels.top_of_unions); longer lists, bucket by bucket, each bucket's members read once for all
# its queries (50,000 x 512: 10,000 queries of 65 candidates 0.08 s against 0.13 s bucket by bucket, of 1,197
# candidates 1.43 s against 0.91 s, at one thread)
DENSE_COLUMNS = 8192  # items per tile of that product on the CPU (512 x 8,192 scores: 16 MB, merged while cached)
TILED_GALLERY = 16384  # with several threads, galleries from this size take the tiles (smaller: torch's product,
# whose MKL is the faster there: 360 x 1,437 x 512 2.6 ms at 2 threads against 4.9 ms for two one-thread OpenBLAS tiles)
SMALL_BUCKET = 8  # buckets of at most this many members: scored pair by pair on the CPU (search_kernels)
ONE_QUERY_FULL_SHARE = 0.25  # one query alone: from this share its product with the whole gallery, masked, costs
# less than gathering its candidates (the union of overlapping tables' buckets: a sort and a gather)


def top_k(scores: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Each row's k largest scores and their columns, in no particular order (the CPU: one pass per row,
    lshbench.search_kernels.top_k_rows; elsewhere torch.topk)."""
    if scores.device.type != "cpu" or scores.dtype != torch.float32 or k > scores.shape[1] or k == 0:
        return torch.topk(scores, k, dim=1)
    from .search_kernels import top_k_rows

    threads.follow_torch()
    values, ids = top_k_rows(scores.contiguous().numpy(), k)
    return torch.from_numpy(values), torch.from_numpy(ids)


def as_hits(candidates: Candidates) -> BucketCandidates | None:
    """Candidates of any form as buckets hit: None for every item, else one bucket per query (its own list)."""
    if candidates.is_all:
        return None
    if candidates.mask is not None:
        rows, ids = torch.nonzero(candidates.mask, as_tuple=True)
        counts = torch.bincount(rows, minlength=candidates.n_queries)
        offsets = torch.zeros(candidates.n_queries + 1, dtype=torch.int64, device=ids.device)
        offsets[1:] = torch.cumsum(counts, 0)
        candidates = Candidates(offsets, ids, candidates.n_queries, candidates.n_gallery)
    counts = candidates.counts()
    keep = torch.nonzero(counts > 0).squeeze(1)
    return BucketCandidates(keep, keep, candidates.offsets[:-1][keep], counts[keep], candidates.ids,
                            candidates.n_queries, candidates.n_gallery)


def hits_of(index, queries: torch.Tensor) -> BucketCandidates | None:
    """The buckets each query hits (``Index.hits`` where the method has it, else its candidate lists)."""
    own = getattr(index, "hits", None)
    return own(queries) if own is not None else as_hits(index.candidates(queries))


def _rounded(x: torch.Tensor) -> torch.Tensor:
    """Sizes rounded up to 1.25^j: buckets of like shape share one batched product, padding at most a quarter."""
    x = x.clamp_min(1).double()
    return torch.pow(1.25, torch.ceil(torch.log(x) / math.log(1.25) - 1e-9)).ceil().long()


def ordered(scores: torch.Tensor, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows sorted by similarity descending, ties by id ascending (padding: -inf scores last)."""
    ids, at = torch.sort(ids, dim=1)
    scores = scores.gather(1, at)
    scores, at = torch.sort(scores, dim=1, descending=True, stable=True)
    return scores, ids.gather(1, at)


class Searcher:
    """Searches a gallery's unit vectors (``gallery_unit``, (N, D), on its device) with any method's index.

    ``memory_mb`` bounds what a block of queries holds besides the gallery (scores, gathered members)."""

    def __init__(self, gallery_unit: torch.Tensor, memory_mb: int = 1024, k: int = 100):
        self.gallery_unit = gallery_unit
        self.n_gallery, self.dim = gallery_unit.shape
        self.device = gallery_unit.device
        self.k = k
        self.budget = max(1, int(memory_mb * 2**20) // 4)  # float32 scores

    # ---------------------------------------------------------------------------------------------------------------
    def search(self, index, queries: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, float]:
        """Every query's top k: (scores (Q, k), ids (Q, k), seconds spent finding candidates). Padding: -inf, -1."""
        n_queries = len(queries)
        step = min(n_queries, QUERY_BLOCK)  # large blocks: a bucket's members are gathered once per block
        scores, ids = [], []
        candidate_seconds = 0.0
        for start in range(0, n_queries, step):
            block = queries[start : start + step]
            t0 = time.perf_counter()
            hits = hits_of(index, block)
            candidate_seconds += time.perf_counter() - t0
            unit = torch.nn.functional.normalize(block.to(self.gallery_unit.dtype), dim=1)
            s, i = self.search_hits(unit, hits)
            scores.append(s)
            ids.append(i)
        return torch.cat(scores), torch.cat(ids), candidate_seconds

    def search_hits(self, query_unit: torch.Tensor, hits: BucketCandidates | None
                    ) -> tuple[torch.Tensor, torch.Tensor]:
        n_queries, n, k = len(query_unit), self.n_gallery, min(self.k, self.n_gallery)
        out_scores = torch.full((n_queries, self.k), float("-inf"), device=self.device)
        out_ids = torch.full((n_queries, self.k), -1, dtype=torch.int64, device=self.device)
        if hits is None:
            dense = torch.arange(n_queries, device=self.device)
            full = torch.ones(n_queries, dtype=torch.bool, device=self.device)
            sparse_hits = None
        else:
            total = torch.zeros(n_queries, dtype=torch.int64, device=self.device).index_add_(0, hits.query, hits.length)
            full = torch.zeros(n_queries, dtype=torch.bool, device=self.device)
            full[hits.query[hits.length >= n]] = True
            is_dense = full | (total >= FULL_SHARE * n)
            dense = torch.nonzero(is_dense).squeeze(1)
            sparse = ~is_dense[hits.query] & (hits.length > 0)
            sparse_hits = [x[sparse] for x in (hits.query, hits.bucket, hits.begin, hits.length)]
        if len(dense):
            s, i = self.dense(query_unit, dense, full[dense], hits, k)
            out_scores[dense, :k], out_ids[dense, :k] = s, i
        if sparse_hits is not None and len(sparse_hits[0]) and self.device.type == "cpu" \
                and query_unit.dtype == torch.float32 \
                and int(sparse_hits[3].sum()) <= UNION_MEAN * len(torch.unique(sparse_hits[0])):
            # on the CPU short unions scanned query by query, one thread each, as FAISS scans inverted lists
            rows, s, i = self.unions(query_unit, *sparse_hits, hits.members)
            out_scores[rows], out_ids[rows] = s, i
        elif sparse_hits is not None and len(sparse_hits[0]):
            # the kept entries (every hit's top k, 12 bytes each) within half the budget: queries in chunks
            per_chunk = max(1, self.budget // (2 * 3 * self.k))
            query = sparse_hits[0]
            bounds = torch.searchsorted(torch.sort(query).values,
                                        torch.arange(0, n_queries + 1, device=self.device)) if len(query) > per_chunk \
                else None
            lo = 0
            while lo < n_queries:
                if bounds is None:
                    hi = n_queries
                else:  # as many queries as keep their hits within per_chunk (at least one query)
                    hi = int(torch.searchsorted(bounds, bounds[lo] + per_chunk, right=True)) - 1
                    hi = min(n_queries, max(hi, lo + 1))
                part = sparse_hits if bounds is None else [x[(query >= lo) & (query < hi)] for x in sparse_hits]
                if len(part[0]):
                    rows, s, i = self.buckets(query_unit, *part, hits.members)
                    out_scores[rows], out_ids[rows] = s, i
                lo = hi
        return out_scores, out_ids

    def dense(self, query_unit, rows, full, hits, k):
        """Queries scored against the whole gallery; those not ``full`` restricted to their buckets' members.

        A restricted query's candidates hold at least half the gallery, so its top k almost always lie among the
        gallery's top 2k: those are checked for membership (``bucket_bits``), and only a query with fewer than k
        members there has its whole row masked before its top k (the same top k either way)."""
        # the scores (4 bytes an entry) within half the budget, in one buffer written block after block (a fresh
        # (B, N) block each time costs its page faults: a tenth of the product at 50,000 items)
        step = max(1, min(DENSE_ROWS, self.budget // (2 * self.n_gallery)))
        wide = min(self.n_gallery, 2 * k)
        out_scores, out_ids = [], []
        buffer = torch.empty(min(step, len(rows)), self.n_gallery, device=self.device)
        for lo in range(0, len(rows), step):
            part = rows[lo : lo + step]
            masked = torch.nonzero(~full[lo : lo + step]).squeeze(1)
            if len(masked) == 0 and self.device.type == "cpu" and query_unit.dtype == torch.float32 and (
                    torch.get_num_threads() == 1 or self.n_gallery >= TILED_GALLERY):
                s, i = self.tiled_top_k(query_unit[part], buffer[: len(part)], k)
            elif len(masked) == 0:
                s, i = top_k(self.product(query_unit[part], buffer[: len(part)]), k)
            else:
                scores = self.product(query_unit[part], buffer[: len(part)])
                s, i = top_k(scores, wide if len(masked) == len(part) else k)
                if len(masked) < len(part):  # the unrestricted queries keep their top k; the others look wider
                    s_wide, i_wide = top_k(scores[masked], wide)
                    s = torch.nn.functional.pad(s, (0, wide - k), value=float("-inf"))
                    i = torch.nn.functional.pad(i, (0, wide - k), value=0)
                    s[masked], i[masked] = s_wide, i_wide
                bits = self.bucket_bits(part[masked], hits)
                member = torch.zeros(len(masked), wide, dtype=torch.bool, device=self.device)
                for query_bits, item_bits in bits:
                    member |= (query_bits.unsqueeze(1) & item_bits[i[masked]]) != 0
                s_m = s[masked].masked_fill(~member, float("-inf"))
                short = torch.nonzero(member.sum(1) < k).squeeze(1)
                if len(short):  # fewer than k members among the top 2k: the whole row masked
                    row = scores[masked[short]]
                    none = None
                    for query_bits, item_bits in bits:
                        outside = (query_bits[short].unsqueeze(1) & item_bits.unsqueeze(0)) == 0
                        none = outside if none is None else none.logical_and_(outside)
                    row.masked_fill_(none, float("-inf"))
                    s_short, i_short = top_k(row, wide)
                    s_m[short] = s_short
                    i_m = i[masked].clone()
                    i_m[short] = i_short
                else:
                    i_m = i[masked]
                s_m, order = torch.topk(s_m, k, dim=1)
                s, i = s[:, :k].clone(), i[:, :k].clone()
                s[masked], i[masked] = s_m, i_m.gather(1, order)
            s, i = ordered(s, i)
            out_scores.append(s)
            out_ids.append(torch.where(s > float("-inf"), i, -1))
        return torch.cat(out_scores), torch.cat(out_ids)

    def bucket_bits(self, rows: torch.Tensor, hits: BucketCandidates) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Which gallery items the queries ``rows`` may return, as bits: each distinct bucket they hit gets a bit
        (up to 63 per pass), each query the bits of its buckets (len(rows),), each gallery item those of the
        buckets holding it (N,); an item is a query's candidate when they share a bit in some pass. Each bucket's
        members are read once, not once per query hitting it (a bucket holding half the gallery, hit by thousands
        of queries)."""
        local = torch.full((int(hits.query.max()) + 1 if len(hits.query) else 1,), -1, dtype=torch.int64,
                           device=self.device)
        local[rows] = torch.arange(len(rows), device=self.device)
        which = local[hits.query]
        mine = torch.nonzero(which >= 0).squeeze(1)
        unique, slot = torch.unique(hits.bucket[mine], return_inverse=True)
        first = torch.empty(len(unique), dtype=torch.int64, device=self.device)
        first[slot] = mine  # one hit of each distinct bucket: its members' range
        pairs = torch.unique(which[mine] * len(unique) + slot)  # (query, bucket) once each
        out = []
        for c0 in range(0, len(unique), 63):
            c1 = min(len(unique), c0 + 63)
            bits = torch.ones(c1 - c0, dtype=torch.int64, device=self.device) << torch.arange(c1 - c0,
                                                                                               device=self.device)
            owner, members = gather_ranges(hits.begin[first[c0:c1]], hits.length[first[c0:c1]], hits.members)
            item_bits = torch.zeros(self.n_gallery, dtype=torch.int64, device=self.device).index_add_(
                0, members, bits[owner])  # distinct powers of two, each added once: their OR
            here = pairs[(pairs % len(unique) >= c0) & (pairs % len(unique) < c1)]
            query_bits = torch.zeros(len(rows), dtype=torch.int64, device=self.device).index_add_(
                0, here // len(unique), bits[here % len(unique) - c0])
            out.append((query_bits, item_bits))
        return out

    def buckets(self, query_unit, query, bucket, begin, length, members):
        """Bucket-major scoring of the hits (query[j] hits ``bucket[j]``, members[begin[j] : begin[j] + length[j]]),
        then the top k per query: (the queries, their scores (q, k), ids (q, k))."""
        device, k = self.device, self.k
        order = torch.argsort(bucket, stable=True)
        query, bucket, begin, length = query[order], bucket[order], begin[order], length[order]
        _, sizes = torch.unique_consecutive(bucket, return_counts=True)
        firsts = torch.cumsum(sizes, 0) - sizes
        lengths = length[firsts]
        hit_parts, score_parts, id_parts = [], [], []
        if device.type == "cpu" and query_unit.dtype == torch.float32:
            # buckets of a few members: each (query, member) pair's similarity read straight from the two matrices
            # (gathering every hit's query vector for a batched product would cost more than the products)
            small = lengths <= SMALL_BUCKET
            if bool(small.any()):
                hit_at = torch.repeat_interleave(firsts[small], sizes[small]) + ranges_within(sizes[small])
                hit_parts.append(hit_at)
                s_small, i_small = self.pairs(query_unit, query[hit_at], begin[hit_at], length[hit_at], members)
                score_parts.append(s_small)
                id_parts.append(i_small)
                keep = torch.nonzero(~small).squeeze(1)
                sizes, firsts, lengths = sizes[keep], firsts[keep], lengths[keep]
        shape = _rounded(sizes) * (1 << 32) + _rounded(lengths)
        groups = torch.argsort(shape, stable=True)
        shapes, per_shape = torch.unique_consecutive(shape[groups], return_counts=True)
        done = 0
        for key, count in zip(shapes.tolist(), per_shape.tolist()):
            rows_pad, cols_pad = key >> 32, key & 0xFFFFFFFF
            kk = min(k, cols_pad)
            per_group = rows_pad * cols_pad + cols_pad * self.dim + rows_pad * self.dim
            chunk = max(1, self.budget // (2 * per_group))
            row_step = rows_pad if chunk > 1 or per_group * 2 <= self.budget else max(
                1, (self.budget // 2 - cols_pad * self.dim) // (cols_pad + self.dim))
            for lo in range(0, count, chunk):
                g = groups[done + lo : done + min(lo + chunk, count)]
                col_valid = torch.arange(cols_pad, device=device).unsqueeze(0) < lengths[g].unsqueeze(1)
                member_at = torch.where(col_valid, begin[firsts[g]].unsqueeze(1) + torch.arange(cols_pad, device=device), 0)
                ids = torch.where(col_valid, members[member_at], 0)
                items = torch.index_select(self.gallery_unit, 0, ids.reshape(-1)).view(len(g), cols_pad, self.dim)
                for r0 in range(0, rows_pad, row_step):
                    r1 = min(rows_pad, r0 + row_step)
                    local = torch.arange(r0, r1, device=device)
                    row_valid = local.unsqueeze(0) < sizes[g].unsqueeze(1)
                    hit_at = torch.where(row_valid, firsts[g].unsqueeze(1) + local, 0)
                    rows_of = torch.index_select(query_unit, 0, query[hit_at].reshape(-1)).view(len(g), r1 - r0,
                                                                                                 self.dim)
                    scores = torch.bmm(rows_of, items.transpose(1, 2))
                    scores.masked_fill_(~col_valid.unsqueeze(1), float("-inf"))
                    top, at = torch.topk(scores, kk, dim=2)
                    top_ids = torch.where(top > float("-inf"), ids.unsqueeze(1).expand(-1, r1 - r0, -1).gather(2, at),
                                          self.n_gallery)
                    hit_parts.append(hit_at[row_valid])
                    score_parts.append(top[row_valid])
                    id_parts.append(top_ids[row_valid])
            done += count
        # per query, the entries of all its hits side by side, then its top k
        width = max(len(s[0]) if len(s) else 0 for s in score_parts)
        hit_index = torch.cat(hit_parts)
        scores = torch.cat([torch.nn.functional.pad(s, (0, width - s.shape[1]), value=float("-inf"))
                            for s in score_parts])
        ids = torch.cat([torch.nn.functional.pad(i, (0, width - i.shape[1]), value=self.n_gallery) for i in id_parts])
        owner = query[hit_index]
        rows, slot_of = torch.unique(owner, return_inverse=True)
        per_query = torch.bincount(slot_of, minlength=len(rows))
        if int(per_query.max()) == 1:  # one bucket per query: its top k is the query's
            at = torch.empty_like(slot_of)
            at[slot_of] = torch.arange(len(slot_of), device=device)
            scores, ids = scores[at], ids[at]
        else:
            by_query = torch.argsort(slot_of, stable=True)
            position = torch.arange(len(slot_of), device=device) - (torch.cumsum(per_query, 0) - per_query)[slot_of[by_query]]
            slots = int(per_query.max())
            merged_scores = torch.full((len(rows), slots, width), float("-inf"), device=device)
            merged_ids = torch.full((len(rows), slots, width), self.n_gallery, dtype=torch.int64, device=device)
            merged_scores[slot_of[by_query], position] = scores[by_query]
            merged_ids[slot_of[by_query], position] = ids[by_query]
            scores, ids = merged_scores.reshape(len(rows), -1), merged_ids.reshape(len(rows), -1)
            ids, at = torch.sort(ids, dim=1)  # an item in two of a query's buckets: keep it once
            scores = scores.gather(1, at)
            repeat = torch.zeros_like(ids, dtype=torch.bool)
            repeat[:, 1:] = ids[:, 1:] == ids[:, :-1]
            scores.masked_fill_(repeat, float("-inf"))
        kk = min(k, scores.shape[1])
        top, at = torch.topk(scores, kk, dim=1)
        top_ids = ids.gather(1, at)
        top, top_ids = ordered(top, top_ids)
        top_ids = torch.where(top > float("-inf"), top_ids, -1)
        if kk < k:
            top = torch.nn.functional.pad(top, (0, k - kk), value=float("-inf"))
            top_ids = torch.nn.functional.pad(top_ids, (0, k - kk), value=-1)
        return rows, top, top_ids

    def unions(self, query_unit, query, bucket, begin, length, members):
        """Each query's hits (query[j] hits members[begin[j] : begin[j] + length[j]]) merged, scored and cut to its
        top k by one compiled pass per query (lshbench.search_kernels.top_of_unions): (the queries, scores (q, k),
        ids (q, k)), ordered as ``ordered`` orders them. Buckets that partition the gallery are read in place."""
        from .search_kernels import top_of_unions

        threads.follow_torch()
        order = torch.argsort(query, stable=True)
        query, begin, length = query[order], begin[order], length[order]
        rows, counts = torch.unique_consecutive(query, return_counts=True)
        hit_hi = torch.cumsum(counts, 0)
        hit_lo = hit_hi - counts
        by_bucket = torch.argsort(begin[hit_lo], stable=True)  # queries sharing a first bucket one after another
        rows, hit_lo, hit_hi = rows[by_bucket], hit_lo[by_bucket], hit_hi[by_bucket]
        in_order = self.in_bucket_order(members)
        vectors = self.gallery_unit if in_order is None else in_order
        values, ids = top_of_unions(query_unit.contiguous().numpy(), vectors.contiguous().numpy(), rows.numpy(),
                                    hit_lo.numpy(), hit_hi.numpy(), begin.numpy(), length.numpy(), members.numpy(),
                                    self.k, in_order is not None)
        return rows, torch.from_numpy(values), torch.from_numpy(ids)

    def pairs(self, query_unit, query, begin, length, members):
        """Hits of small buckets (query[j] hits members[begin[j] : begin[j] + length[j]], length at most
        SMALL_BUCKET) scored pair by pair: (scores (H, W), ids (H, W)), W the longest, padding -inf and N."""
        from .search_kernels import score_pairs

        threads.follow_torch()
        owner, ids = gather_ranges(begin, length, members)
        scores = torch.from_numpy(score_pairs(query_unit.contiguous().numpy(), self.gallery_unit.contiguous().numpy(),
                                              query[owner].numpy(), ids.numpy()))
        width = max(1, int(length.max()))
        column = torch.arange(len(owner)) - (torch.cumsum(length, 0) - length)[owner]
        out_scores = torch.full((len(query), width), float("-inf"))
        out_ids = torch.full((len(query), width), self.n_gallery, dtype=torch.int64)
        out_scores[owner, column] = scores
        out_ids[owner, column] = ids
        return out_scores, out_ids

    # ---------------------------------------------------------------------------------------------------------------
    def search_one(self, index, query: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One query (D,) answered alone: its candidates, their similarities, its top k (scores, ids)."""
        lists = one_query_lists(index, query.unsqueeze(0))
        unit = query / torch.linalg.vector_norm(query).clamp_min(1e-12)
        n = self.n_gallery
        if lists is None:
            scores = self.matvec(self.gallery_unit, unit)
            top = torch.topk(scores, min(self.k, n))
            return top.values, top.indices
        members, ranges = lists
        total = sum(length for _, length in ranges)
        ordered_unit = self.in_bucket_order(members) if ranges else None
        # buckets side by side (k-means) are read in place up to half the gallery; others, gathered and merged,
        # only up to a quarter of it
        if total >= (FULL_SHARE if ordered_unit is not None else ONE_QUERY_FULL_SHARE) * n:
            scores = self.matvec(self.gallery_unit, unit)
            if not any(length >= n for _, length in ranges):
                keep = torch.zeros(n, dtype=torch.bool, device=self.device)
                for begin, length in ranges:
                    keep[members[begin : begin + length]] = True
                scores.masked_fill_(~keep, float("-inf"))
            top = torch.topk(scores, min(self.k, n))
            return top.values, top.indices
        if self.device.type == "cpu" and unit.dtype == torch.float32:  # one compiled pass on this thread alone
            from .search_kernels import top_of_union

            begins = np.fromiter((b for b, _ in ranges), np.int64, len(ranges))
            lengths = np.fromiter((length for _, length in ranges), np.int64, len(ranges))
            vectors = self.gallery_unit if ordered_unit is None else ordered_unit
            values, ids = top_of_union(unit.numpy(), vectors.numpy(), begins, lengths, members.numpy(),
                                       min(self.k, total), ordered_unit is not None)
            found = int(np.count_nonzero(ids >= 0))  # an item in several buckets counts once
            return torch.from_numpy(values[:found]), torch.from_numpy(ids[:found])
        if ordered_unit is not None:  # buckets that partition the gallery (disjoint), their vectors side by side
            scores = torch.cat([self.matvec(ordered_unit[b : b + length], unit) for b, length in ranges])
            ids = torch.cat([members[b : b + length] for b, length in ranges])
            top = torch.topk(scores, min(self.k, len(ids)))
            return top.values, ids[top.indices]
        if len(ranges) == 1:
            begin, length = ranges[0]
            ids = members[begin : begin + length]
        elif ranges:
            ids = torch.unique(torch.cat([members[b : b + length] for b, length in ranges]))
        else:
            ids = members[:0]
        scores = self.matvec(torch.index_select(self.gallery_unit, 0, ids), unit)
        top = torch.topk(scores, min(self.k, len(ids)))
        return top.values, ids[top.indices]

    def tiled_top_k(self, rows: torch.Tensor, buffer: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Each row's top k over the whole gallery, FAISS's way: the product a tile of DENSE_COLUMNS items at a time
        (its scores still in the cache) merged into running heaps of k (lshbench.search_kernels.merge_top_k), not the
        whole row of scores written out and read back; the same top k as ``top_k`` of the whole row. With several
        threads the rows are split among them, each running numpy's one-thread product and the merge (both release
        the GIL), so no thread pool spins between the products (``lshbench.threads``)."""
        from .search_kernels import merge_top_k

        count = threads.follow_torch()
        values = np.full((len(rows), k), -np.inf, np.float32)
        ids = np.full((len(rows), k), -1, np.int64)
        width = min(DENSE_COLUMNS, self.n_gallery)
        flat, left, gallery = buffer.view(-1).numpy(), rows.numpy(), self.gallery_unit.numpy()
        bounds = np.linspace(0, len(rows), min(count, len(rows)) + 1).astype(int)

        def run(part: int) -> None:
            lo, hi = bounds[part], bounds[part + 1]
            tile = flat[lo * width : hi * width].reshape(hi - lo, width)
            for c in range(0, self.n_gallery, width):
                items = gallery[c : c + width]
                scores = tile[:, : len(items)]
                np.matmul(left[lo:hi], items.T, out=scores)
                merge_top_k(scores, c, values[lo:hi], ids[lo:hi])

        if len(bounds) == 2:
            run(0)
        else:
            list(self.pool(len(bounds) - 1).map(run, range(len(bounds) - 1)))
        return torch.from_numpy(values), torch.from_numpy(ids)

    def pool(self, workers: int):
        """A pool of ``workers`` threads, kept for the searcher's life."""
        from concurrent.futures import ThreadPoolExecutor

        size, current = getattr(self, "_pool", (0, None))
        if size != workers:
            if current is not None:
                current.shutdown()
            self._pool = (workers, ThreadPoolExecutor(workers, thread_name_prefix="lshbench-search"))
        return self._pool[1]

    def product(self, rows: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """rows @ gallery_unit.T written into ``out``: on the CPU at one thread numpy's (OpenBLAS) product (2,000 x
        50,000 x 512: 1.02 s against torch's MKL 1.22 s), with more threads torch's (numpy's BLAS is held at one
        thread, ``lshbench.threads``)."""
        if self.device.type != "cpu" or rows.dtype != torch.float32 or torch.get_num_threads() > 1:
            return torch.mm(rows, self.gallery_unit.T, out=out)
        threads.follow_torch()
        np.matmul(rows.numpy(), self.gallery_unit.numpy().T, out=out.numpy())
        return out

    @staticmethod
    def matvec(matrix: torch.Tensor, vector: torch.Tensor) -> torch.Tensor:
        """matrix @ vector: on the CPU numpy's (OpenBLAS) product at one thread (``lshbench.threads``): 200
        products of 50,000 x 512 take 0.57 s against torch's 1.27 s, whose product does not use a second thread
        either."""
        if matrix.device.type != "cpu" or matrix.dtype != torch.float32 or vector.dtype != torch.float32:
            return matrix @ vector
        threads.follow_torch()
        return torch.from_numpy(matrix.numpy() @ vector.numpy())

    def in_bucket_order(self, members: torch.Tensor) -> torch.Tensor | None:
        """The gallery's unit vectors in the order of ``members`` when its buckets partition the gallery (k-means:
        each item in one cluster; as FAISS's inverted lists hold them), made once per index and kept while it fits
        in half the memory budget; else None."""
        cached = getattr(self, "_in_order", None)
        if cached is not None and cached[0] is members:
            return cached[1]
        if len(members) != self.n_gallery or self.n_gallery * self.dim > self.budget // 2:
            return None
        self._in_order = (members, torch.index_select(self.gallery_unit, 0, members))
        return self._in_order[1]

    def latencies(self, index, queries: torch.Tensor, n: int, warmup: int = 10) -> np.ndarray:
        """Seconds of ``search_one`` for ``n`` queries spread over the set, after ``warmup`` untimed ones."""
        picks = np.linspace(0, len(queries) - 1, num=min(n, len(queries))).round().astype(int)
        sync = torch.cuda.synchronize if self.device.type == "cuda" else (lambda: None)
        for i in picks[:warmup]:
            self.search_one(index, queries[i])
        seconds = []
        for i in picks:
            sync()
            t = time.perf_counter()
            self.search_one(index, queries[i])
            sync()
            seconds.append(time.perf_counter() - t)
        return np.asarray(seconds)


def one_query_lists(index, query: torch.Tensor) -> tuple[torch.Tensor, list[tuple[int, int]]] | None:
    """One query's buckets as (members, [(begin, length), ...]), or None for every gallery item."""
    own = getattr(index, "one_query_lists", None)
    if own is not None:
        return own(query)
    hits = hits_of(index, query)
    if hits is None:
        return None
    return hits.members, list(zip(hits.begin.tolist(), hits.length.tolist()))


def search_timings(searcher: Searcher, index, queries: torch.Tensor, latency_queries: int = 200,
                   warmup: int = 256) -> dict:
    """What ``timings.csv`` says of a configuration's search: every query in blocks (``search_seconds``, the
    candidates' share of it ``candidate_seconds``, ``queries_per_second``) after an untimed search of the first
    ``warmup`` queries, and one query at a time (``search_p50_ms``, ``search_p99_ms`` over ``latency_queries``
    queries spread over the set, after a few untimed ones)."""
    sync = torch.cuda.synchronize if searcher.device.type == "cuda" else (lambda: None)
    queries = queries.to(searcher.device)
    searcher.search(index, queries[:warmup])
    sync()
    start = time.perf_counter()
    _, _, candidate_seconds = searcher.search(index, queries)
    sync()
    seconds = time.perf_counter() - start
    latencies = searcher.latencies(index, queries, latency_queries) if latency_queries else np.full(1, np.nan)
    return {"search_seconds": seconds, "candidate_seconds": candidate_seconds,
            "queries_per_second": len(queries) / max(seconds, 1e-12),
            "search_p50_ms": float(np.percentile(latencies, 50)) * 1e3,
            "search_p99_ms": float(np.percentile(latencies, 99)) * 1e3, "latency_queries": int(latency_queries)}
