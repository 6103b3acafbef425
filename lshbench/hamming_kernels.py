"""Compiled loops (numba) for Hamming ranking of the whole gallery (lshbench/hamming.py).

A Q x N distance matrix (2 GB at 10k x 200k as int8, 16 GB as the float64 DeepHash-pytorch builds) and a sort per
query are what the learning-to-hash evaluation scripts spend their time on. Neither is needed: per query, one pass
over the packed gallery codes gives the histogram of distances (0..B) and, for each relevant item, its distance and
how many items at that distance precede it in gallery order. That is its positional rank (items at a smaller
distance + items at the same distance with a smaller gallery index + 1), so AP, AP@R and P@N follow in O(relevant)
more work; the tie-aware values need the histograms alone (``tie_aware``).

The distance is a real popcount: numba has none, so ``popcount`` emits LLVM's ctpop, which compiles to the POPCNT
instruction on the host CPU numba targets.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import types
from numba.extending import intrinsic


@intrinsic
def popcount(typingctx, word):
    """Set bits of a 64-bit integer (LLVM ctpop: one POPCNT instruction), as an int64."""
    if not (isinstance(word, types.Integer) and word.bitwidth == 64):
        return None

    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])  # i64 in, i64 out: the same LLVM type whatever the signedness

    return types.int64(word), codegen


@numba.njit(cache=True, nogil=True, inline="always")
def _scan(query, label, gallery_words, gallery_labels, n_words, hist, rel_distance, rel_position):
    """One pass over the gallery: ``hist[d]`` += 1 per item at distance d; the k-th relevant item (gallery order)
    gets its distance in ``rel_distance[k]`` and the items at that distance before it in ``rel_position[k]``.
    Returns the relevant items. The writes are unconditional (the slot is overwritten unless the item is relevant):
    no branch to mispredict on a 1-in-classes event."""
    k = 0
    if n_words == 1:  # the common case (B <= 64), with the word loop gone
        q0 = query[0]
        for i in range(gallery_words.shape[0]):
            d = popcount(gallery_words[i, 0] ^ q0)
            p = hist[d]
            hist[d] = p + 1
            rel_distance[k] = d
            rel_position[k] = p
            k += gallery_labels[i] == label
    else:
        for i in range(gallery_words.shape[0]):
            d = 0
            for w in range(n_words):
                d += popcount(gallery_words[i, w] ^ query[w])
            p = hist[d]
            hist[d] = p + 1
            rel_distance[k] = d
            rel_position[k] = p
            k += gallery_labels[i] == label
    return k


@numba.njit(cache=True, nogil=True, parallel=True)
def positional(query_words, query_labels, gallery_words, gallery_labels, max_relevant, depths_R, depths_N,
               chunk):
    """Rank the whole gallery for each query (distance ascending, ties by gallery position ascending).

    Returns (counts, relevant_counts, ap_sum, ap_R_sum, hits_R, hits_N), per query: the histograms over distances
    0..64 * words, sum_i rel_i P@i over the whole ranking, the same sum over ranks <= R and the relevant among them
    (one column per R), and the relevant among the first N (one column per N). ``max_relevant``: the largest class
    in the gallery (the buffers' size)."""
    n_queries, n_words = query_words.shape
    bins = 64 * n_words + 1
    counts = np.zeros((n_queries, bins), np.int64)
    relevant_counts = np.zeros((n_queries, bins), np.int64)
    ap_sum = np.zeros(n_queries)
    ap_R_sum = np.zeros((n_queries, len(depths_R)))
    hits_R = np.zeros((n_queries, len(depths_R)), np.int64)
    hits_N = np.zeros((n_queries, len(depths_N)), np.int64)
    deepest = 0
    for R in depths_R:
        deepest = max(deepest, R)
    for N in depths_N:
        deepest = max(deepest, N)
    n_chunks = (n_queries + chunk - 1) // chunk
    for c in numba.prange(n_chunks):
        # buffers per chunk, not per query: one of 200k / 10 classes relevant is 160 kB, an mmap per allocation
        rel_distance = np.empty(max_relevant + 1, np.int64)
        rel_position = np.empty(max_relevant + 1, np.int64)
        start = np.empty(bins, np.int64)
        rel_start = np.empty(bins, np.int64)
        for q in range(c * chunk, min((c + 1) * chunk, n_queries)):
            hist = counts[q]
            rel_hist = relevant_counts[q]
            n_rel = _scan(query_words[q], query_labels[q], gallery_words, gallery_labels, n_words, hist,
                          rel_distance, rel_position)
            for m in range(n_rel):
                rel_hist[rel_distance[m]] += 1
            above = 0
            rel_above = 0
            for d in range(bins):
                start[d] = above
                rel_start[d] = rel_above
                above += hist[d]
                rel_above += rel_hist[d]
            # relevant items in gallery order: within a distance their ranks ascend, so rel_start[d] counts the
            # relevant ranked before each one once its predecessors at d are added
            total = 0.0
            for m in range(n_rel):
                d = rel_distance[m]
                rank = start[d] + rel_position[m] + 1
                rel_rank = rel_start[d] + 1
                rel_start[d] = rel_rank
                precision = rel_rank / rank
                total += precision
                if rank <= deepest:
                    for t in range(len(depths_R)):
                        if rank <= depths_R[t]:
                            ap_R_sum[q, t] += precision
                            hits_R[q, t] += 1
                    for t in range(len(depths_N)):
                        if rank <= depths_N[t]:
                            hits_N[q, t] += 1
            ap_sum[q] = total
    return counts, relevant_counts, ap_sum, ap_R_sum, hits_R, hits_N


@numba.njit(cache=True, inline="always")
def _group_precision_sum(n, r, s, rel_before, harmonic):
    """Expected sum of the precisions at the relevant positions of a tie group (n items, r relevant, after s items
    of which rel_before are relevant), over all orders within the group (McSherry and Najork, ECIR 2008):
    (r/n) sum_{k=s+1}^{s+n} (rel_before + 1 + (k-s-1)(r-1)/(n-1)) / k
      = (r/n) [(rel_before + 1 - c(s+1)) (H_{s+n} - H_s) + c n],  c = (r-1)/(n-1) (0 when n = 1)."""
    if r == 0:
        return 0.0
    c = (r - 1) / (n - 1) if n > 1 else 0.0
    return (r / n) * ((rel_before + 1 - c * (s + 1)) * (harmonic[s + n] - harmonic[s]) + c * n)


@numba.njit(cache=True)
def _log_choose(a, b):
    return math.lgamma(a + 1.0) - math.lgamma(b + 1.0) - math.lgamma(a - b + 1.0)


@numba.njit(cache=True, inline="always")
def _ap_given(y, m, s, rel_before, before_sum, harmonic):
    """(before_sum + S(y)) / (rel_before + y): AP@R when y relevant lie among the first m positions of the
    straddling group, uniformly placed (0 when nothing relevant is in the top R)."""
    if rel_before + y == 0:
        return 0.0
    straddle = 0.0
    if y > 0:
        c = (y - 1) / (m - 1) if m > 1 else 0.0
        straddle = (y / m) * ((rel_before + 1 - c * (s + 1)) * (harmonic[s + m] - harmonic[s]) + c * m)
    return (before_sum + straddle) / (rel_before + y)


@numba.njit(cache=True)
def _straddle_expectation(n, r, m, s, rel_before, before_sum, harmonic):
    """E over y ~ Hypergeometric(n items, r relevant, m drawn) of _ap_given(y): summed from the mode outwards with
    the pmf's ratios, stopping where a term's weight falls below 1e-20 of the mode's (what is left is below
    float64's resolution of the sum)."""
    lo, hi = max(0, m - (n - r)), min(r, m)
    mode = min(max((m + 1) * (r + 1) // (n + 2), lo), hi)
    p_mode = math.exp(_log_choose(r, mode) + _log_choose(n - r, m - mode) - _log_choose(n, m))
    floor = p_mode * 1e-20
    total = p_mode * _ap_given(mode, m, s, rel_before, before_sum, harmonic)
    p = p_mode
    for y in range(mode, hi):  # P(y+1) / P(y) = (r-y)(m-y) / ((y+1)(n-r-m+y+1))
        p *= (r - y) * (m - y) / ((y + 1.0) * (n - r - m + y + 1.0))
        if p < floor:
            break
        total += p * _ap_given(y + 1, m, s, rel_before, before_sum, harmonic)
    p = p_mode
    for y in range(mode, lo, -1):  # P(y-1) / P(y) = y(n-r-m+y) / ((r-y+1)(m-y+1))
        p *= y * (n - r - m + y) / ((r - y + 1.0) * (m - y + 1.0))
        if p < floor:
            break
        total += p * _ap_given(y - 1, m, s, rel_before, before_sum, harmonic)
    return total


@numba.njit(cache=True, nogil=True, parallel=True)
def tie_aware(counts, relevant_counts, depths_R, depths_N, harmonic):
    """Tie-aware values from the histograms alone: the expectation over all orders within each tie group.

    Returns (ap_all, ap_R, hits_N): AP over the whole ranking / the relevant items (0 when none); AP@R with
    DeepHash's normalisation (relevant within the top R), the straddling group's count conditioned on its
    hypergeometric draw; the expected relevant among the first N (the straddling group gives (N - s) r / n)."""
    n_queries, bins = counts.shape
    ap_all = np.zeros(n_queries)
    ap_R = np.zeros((n_queries, len(depths_R)))
    hits_N = np.zeros((n_queries, len(depths_N)))
    for q in numba.prange(n_queries):
        s = 0
        rel_before = 0
        total = 0.0
        for d in range(bins):
            n = counts[q, d]
            r = relevant_counts[q, d]
            if n == 0:
                continue
            before_sum = total
            total += _group_precision_sum(n, r, s, rel_before, harmonic)
            for t in range(len(depths_R)):
                R = depths_R[t]
                if s < R and R < s + n:  # the group straddles rank R
                    ap_R[q, t] = _straddle_expectation(n, r, R - s, s, rel_before, before_sum, harmonic)
                elif s + n == R and rel_before + r > 0:  # the group ends at R: nothing straddles
                    ap_R[q, t] = total / (rel_before + r)
            for t in range(len(depths_N)):
                N = depths_N[t]
                if s < N and N <= s + n:
                    hits_N[q, t] = rel_before + (N - s) * (r / n)
            s += n
            rel_before += r
        if rel_before > 0:
            ap_all[q] = total / rel_before
        for t in range(len(depths_R)):
            if depths_R[t] > s and rel_before > 0:  # R beyond the gallery: the whole ranking
                ap_R[q, t] = total / rel_before
        for t in range(len(depths_N)):
            if depths_N[t] > s:
                hits_N[q, t] = rel_before
    return ap_all, ap_R, hits_N
