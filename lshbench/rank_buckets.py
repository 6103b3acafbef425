"""The bucket path of the evaluation engine (lshbench.evaluate): hashing's unions of buckets (``BucketCandidates``,
from an index's ``bucket_candidates``), bucket by bucket: each (table, bucket)'s queries scored as one product against
its members, then merged and de-duplicated per query, with the bits of the list path's scores."""

from __future__ import annotations

import torch

from .candidates import BucketCandidates, gather_ranges, ranges_within
from .scoring import MAX_LIST_BLOCK, one_thread, padded, record


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


class BucketPath:
    """Ranks a block of bucket hits (``block``); ``ev``: the Evaluator (gallery, queries, labels)."""

    def __init__(self, ev):
        self.ev = ev

    def block(self, hits: BucketCandidates, start: int, stop: int, keep_top: int, budget: int, dense_step: int):
        """(the block's queries in order, what each keeps in parts, the next block's size). The block's queries in
        parts whose hits hold at most a quarter of the budget's triples (one query's at least), the next block sized
        by this one's hits per query."""
        kept = []
        with one_thread(self.ev.device):
            for part, offset in bucket_parts(hits, max(1, budget // 4)):
                values, _ = self.rank_buckets(part, start + offset, keep_top, budget)
                kept.append(values)
        per_query = max(1.0, int(hits.length.sum()) / max(1, stop - start))
        step = int(max(1, min(MAX_LIST_BLOCK, budget // (4 * per_query))))
        return torch.arange(start, stop, device=self.ev.device), kept, step

    def rank_buckets(self, hits: BucketCandidates, start: int, keep_top: int, budget: int
                     ) -> tuple[dict[str, torch.Tensor], int]:
        """Rank a block of queries given as bucket hits: (what each query keeps, in order, and the candidates in all).

        The queries hitting one bucket are scored as one dense product against exactly its members, like-shaped
        buckets batched (``_score_groups``; every product at least MIN_GEMM x MIN_GEMM, so each score has the bits
        of the list path's). Then per query: the (query, id, score) triples of all its buckets sorted by score
        descending, id ascending (the order of the list path's stable sort of an ascending list) and de-duplicated
        (an id in two buckets of one query has the same score bits twice), and recorded by ``record``."""
        n_queries, device, n = hits.n_queries, self.ev.device, self.ev.n_gallery
        keep = hits.length > 0
        query, bucket, begin, length = hits.query[keep], hits.bucket[keep], hits.begin[keep], hits.length[keep]
        order = torch.argsort(bucket, stable=True)  # the hits of a bucket together, its queries ascending
        query, begin, length = query[order], begin[order], length[order]
        _, sizes = torch.unique_consecutive(bucket[order], return_counts=True)
        firsts = torch.cumsum(sizes, 0) - sizes
        scores, hit_order = self.score_groups(start + query, sizes, firsts, begin[firsts], length[firsts],
                                               hits.members, budget)
        # the triples in the order of the scores: hit by hit (as score_groups took them), each its bucket's members
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
        values = record(scores, ids, counts, self.ev.query_labels[start : start + n_queries], self.ev.labels_padded,
                        keep_top, budget)
        values["n_candidates"] = counts
        return values, len(ids)

    def score_groups(self, queries: torch.Tensor, sizes: torch.Tensor, firsts: torch.Tensor, begins: torch.Tensor,
                      lengths: torch.Tensor, members: torch.Tensor, budget: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Group g, queries[firsts[g] : firsts[g] + sizes[g]] (rows of query_unit), against its list, gallery ids
        members[begins[g] : begins[g] + lengths[g]] (lengths > 0), groups of like shape in one batched
        product (padded to the bucket's size, at least MIN_GEMM, as the list path's groups). Returns every score, query
        by query of each group (its list's scores in order), and the order the (group, query) pairs came in (as
        positions in ``queries``)."""
        device = self.ev.device

        shape = padded(sizes) * (1 << 32) + padded(lengths)
        groups = torch.argsort(shape, stable=True)
        shapes, per_shape = torch.unique_consecutive(shape[groups], return_counts=True)
        dim = self.ev.gallery_unit.shape[1]
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
                scores = torch.bmm(self.ev.query_unit[queries[query_at]],
                                   self.ev.gallery_unit[members[member_at]].transpose(1, 2))
                out_scores.append(scores[row_valid.unsqueeze(2) & col_valid.unsqueeze(1)])
            done += count
        hit_order = firsts[groups].repeat_interleave(sizes[groups]) + ranges_within(sizes[groups])
        return (torch.cat(out_scores) if out_scores else torch.zeros(0, device=device)), hit_order
