"""Compiled loops (numba) of the search (lshbench.search), where torch needs several passes over memory.

``top_k_rows``: each row's k largest scores in one pass (a min-heap of k per row: most scores are compared once with
its least and dropped), 2-3x ``torch.topk`` on rows of 50,000 scores here. ``score_pairs``: the similarities of
(query, item) pairs read straight from the two matrices, for buckets of a few members each (multi-probe LSH), where
gathering every hit's query vector for a batched product costs more than the products.
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
