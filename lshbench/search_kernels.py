"""Compiled loops (numba) of the search (lshbench.search), where torch needs several passes over memory.

``top_k_rows``: each row's k largest scores in one pass (a min-heap of k per row: most scores are compared once with
its least and dropped), 2-3x ``torch.topk`` on rows of 50,000 scores here. ``score_pairs``: the similarities of
(query, item) pairs read straight from the two matrices, for buckets of a few members each (multi-probe LSH), where
gathering every hit's query vector for a batched product costs more than the products. ``top_of_unions`` (and
``top_of_union`` for one query): each query's buckets merged, scored and cut to its top k in one pass on one thread,
as FAISS scans a query's inverted lists, for queries with short candidate lists.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True, inline="always")
def _sift_down(values, ids, at, k):
    """Restore the min-heap of (value, id) from ``at`` down: the least value on top, and of equal values the
    largest id (so a later id with an equal value never enters: ties keep the smaller ids)."""
    while True:
        left = 2 * at + 1
        if left >= k:
            return
        child = left
        right = left + 1
        if right < k and (values[right] < values[left]
                          or (values[right] == values[left] and ids[right] > ids[left])):
            child = right
        if values[child] < values[at] or (values[child] == values[at] and ids[child] > ids[at]):
            values[at], values[child] = values[child], values[at]
            ids[at], ids[child] = ids[child], ids[at]
            at = child
        else:
            return


@numba.njit(cache=True, nogil=True, parallel=True)
def top_k_rows(scores, k):
    """(values (R, k), ids (R, k)) of each row's k largest scores (ties: the smaller ids), in no particular order;
    ``k`` at most the row length."""
    rows, n = scores.shape
    values = np.empty((rows, k), np.float32)
    ids = np.empty((rows, k), np.int64)
    for r in numba.prange(rows):
        row = scores[r]
        v = values[r]
        i = ids[r]
        for j in range(k):
            v[j] = row[j]
            i[j] = j
        for j in range(k // 2 - 1, -1, -1):
            _sift_down(v, i, j, k)
        for j in range(k, n):
            s = row[j]
            if s > v[0]:  # an equal score arrives later, so its id is larger: it does not enter
                v[0] = s
                i[0] = j
                _sift_down(v, i, 0, k)
    return values, ids


@numba.njit(cache=True, nogil=True)
def merge_top_k(scores, first, values, ids):
    """Merge each row of ``scores`` (R, C), the items first .. first + C - 1, into the running min-heaps ``values``
    and ``ids`` (R, k), which start at -inf and -1 (tiles in item order: ties keep the smaller ids, as
    ``top_k_rows``). On the calling thread: between two OpenBLAS products, whose threads spin waiting for the next,
    a second numba thread would only contend with them (measured at 2 threads: 0.77 s against 0.52 s for 2,000 x
    50,000 with 8,192-item tiles)."""
    rows, n = scores.shape
    k = values.shape[1]
    for r in range(rows):
        row = scores[r]
        v = values[r]
        i = ids[r]
        for j in range(n):
            s = row[j]
            if s > v[0]:
                v[0] = s
                i[0] = first + j
                _sift_down(v, i, 0, k)


@numba.njit(cache=True, nogil=True, parallel=True, fastmath=True)
def score_pairs(queries, gallery, query_of, item_of):
    """The inner product of queries[query_of[p]] and gallery[item_of[p]] for each pair p (float32)."""
    n, dim = len(query_of), queries.shape[1]
    out = np.empty(n, np.float32)
    for p in numba.prange(n):
        q = queries[query_of[p]]
        g = gallery[item_of[p]]
        acc = np.float32(0.0)
        for d in range(dim):
            acc += q[d] * g[d]
        out[p] = acc
    return out


@numba.njit(cache=True, nogil=True, inline="always")
def _sift_up(values, ids, at):
    """Restore the min-heap of (value, id) from ``at`` up (the order of ``_sift_down``)."""
    while at > 0:
        parent = (at - 1) // 2
        if values[at] < values[parent] or (values[at] == values[parent] and ids[at] > ids[parent]):
            values[at], values[parent] = values[parent], values[at]
            ids[at], ids[parent] = ids[parent], ids[at]
            at = parent
        else:
            return


@numba.njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})  # the dot products vectorised
def _top_of_ranges(query, vectors, members, begins, lengths, in_place, values, ids):
    """The top len(values) of the union of members[begins[h] : begins[h] + lengths[h]] by inner product with
    ``query``, written to ``values`` and ``ids`` by similarity descending, ties by id ascending (the rest: -inf, -1).

    ``in_place``: the ranges are disjoint and ``vectors`` holds the members' vectors at the members' positions (a
    partition's buckets side by side); else ``vectors`` is the gallery, and an item in several ranges counts once."""
    k = len(values)
    total = 0
    for h in range(len(begins)):
        total += lengths[h]
    at = np.empty(total, np.int64)
    t = 0
    for h in range(len(begins)):
        for p in range(begins[h], begins[h] + lengths[h]):
            at[t] = p if in_place else members[p]
            t += 1
    if not in_place and len(begins) > 1:
        at.sort()
    size = 0
    previous = -1
    dim = len(query)
    for t in range(total):
        if in_place:
            row = at[t]
            item = members[row]
        else:
            item = at[t]
            if item == previous:
                continue
            previous = item
            row = item
        vector = vectors[row]
        score = np.float32(0.0)
        for d in range(dim):
            score += query[d] * vector[d]
        if size < k:
            values[size] = score
            ids[size] = item
            _sift_up(values, ids, size)
            size += 1
        elif score > values[0] or (score == values[0] and item < ids[0]):
            values[0] = score
            ids[0] = item
            _sift_down(values, ids, 0, k)
    for end in range(size - 1, 0, -1):  # pop the least to the end: descending, ties by id ascending
        values[0], values[end] = values[end], values[0]
        ids[0], ids[end] = ids[end], ids[0]
        _sift_down(values, ids, 0, end)
    for j in range(size, k):
        values[j] = -np.inf
        ids[j] = -1


@numba.njit(cache=True, nogil=True, parallel=True)
def top_of_unions(queries, vectors, query_rows, hit_lo, hit_hi, begins, lengths, members, k, in_place):
    """(values (R, k), ids (R, k)): for each r, ``_top_of_ranges`` of queries[query_rows[r]] over the ranges
    hit_lo[r] : hit_hi[r] of (begins, lengths), one query per thread at a time (FAISS's scan of inverted lists);
    rows given in bucket order keep each thread's buckets in its cache from one query to the next."""
    rows = len(query_rows)
    values = np.empty((rows, k), np.float32)
    ids = np.empty((rows, k), np.int64)
    for r in numba.prange(rows):
        lo, hi = hit_lo[r], hit_hi[r]
        _top_of_ranges(queries[query_rows[r]], vectors, members, begins[lo:hi], lengths[lo:hi], in_place,
                       values[r], ids[r])
    return values, ids


@numba.njit(cache=True, nogil=True)
def top_of_union(query, vectors, begins, lengths, members, k, in_place):
    """``_top_of_ranges`` of one query on the calling thread alone (no thread pool woken for one query)."""
    values = np.empty(k, np.float32)
    ids = np.empty(k, np.int64)
    _top_of_ranges(query, vectors, members, begins, lengths, in_place, values, ids)
    return values, ids
