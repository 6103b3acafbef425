"""Hamming ranking: the learning-to-hash literature's evaluation of binary codes (no torch needed).

Every query ranks the whole gallery by Hamming distance to its code; within a tie (equal distance) by gallery
position ascending ("positional": what a stable sort gives). DeepHash-pytorch's ``CalcTopMap`` sorts with numpy's
unstable default, so its ties fall in an order set by the sort's kernel: on the demo's builds it lies within 0.28
points of the tie-aware mAP@1000 below and up to 1.16 from the positional one (benchmarks/deephash_calctopmap.txt;
docs/evaluation.md, "What the peers compute"). A gallery item is relevant when it has the query's label. Per query (``hamming_ranking``):

* ``ap_all``: sum over the relevant items of the precision at their rank, / the relevant items in the gallery (all
  are retrieved); 0 for a query whose label has no gallery item;
* ``ap_all_tie_aware``: its expectation over every order within each tie group (McSherry and Najork, "Computing
  information retrieval performance measures efficiently in the presence of tied scores", ECIR 2008), in closed
  form per group from the distance histograms alone;
* ``ap_at_{R}``: DeepHash-pytorch's ``CalcTopMap`` (utils/tools.py): the sum of the precisions at the relevant
  ranks <= R, / the relevant items within the top R; 0 when there is none (such a query still counts in the mean,
  as ``CalcTopMap`` divides by all queries);
* ``ap_at_{R}_tie_aware``: the exact expectation of that ratio over the orders within the tie group that straddles
  rank R (groups wholly inside the top R: the closed form; the straddling one: conditioned on its relevant count
  among the positions <= R, hypergeometric);
* ``precision_at_{N}``: relevant among the first N / N, with N capped at the gallery size (as the DSDH lineage's
  ``p_top_k``); ``precision_at_{N}_tie_aware``: the straddling group adds (N - s) r / n relevant in expectation;
* ``precision_within_radius_{radius}``: relevant at distance <= radius / items at distance <= radius, 0 for a
  query with none (as DeepHash's "P@H<=2"); ``recall_within_radius_{radius}``: relevant at distance <= radius / the
  relevant items in the gallery (0 when there are none);
* ``n_relevant``: the relevant items in the gallery; ``counts`` and ``relevant_counts`` (Q, B + 1): items and relevant
  items at each distance 0..B, from which ``tie_aware`` and ``pr_curve`` derive their values without the codes.
"""

from __future__ import annotations

import numba
import numpy as np

from . import hamming_kernels

DEFAULT_R = (1000,)
DEFAULT_N = (1, 5, 10, 20, 50, 100, 200, 500, 1000)


def code_bits(codes) -> np.ndarray:
    """(n, B) bool bits of codes given as bool, {0, 1} or {-1, +1} (a bit is set where the value is > 0); a torch
    tensor is read through ``np.asarray``."""
    array = np.asarray(codes)
    if array.ndim != 2:
        raise ValueError(f"codes must be (items, bits), got shape {array.shape}")
    return array if array.dtype == np.bool_ else array > 0


def pack_bits(codes) -> np.ndarray:
    """(n, ceil(B / 64)) uint64 words of the codes' bits (the last word's unused bits 0, so they never differ)."""
    bits = code_bits(codes)
    n, B = bits.shape
    words = -(-B // 64)
    packed = np.zeros((n, words * 8), np.uint8)
    packed[:, : -(-B // 8)] = np.packbits(bits, axis=1, bitorder="little")
    return packed.view("<u8")


def harmonic_numbers(n: int) -> np.ndarray:
    """H_0..H_n (H_k = sum_{i<=k} 1/i): the tie-aware sums are differences of two of them."""
    out = np.zeros(n + 1)
    np.cumsum(1.0 / np.arange(1, n + 1), out=out[1:])
    return out


def _depths(values, name: str) -> np.ndarray:
    depths = np.atleast_1d(np.asarray(values, dtype=np.int64))
    if depths.ndim != 1 or (depths < 1).any():
        raise ValueError(f"{name} must be positive integers, got {values}")
    return depths


def tie_aware(counts, relevant_counts, R=DEFAULT_R, N=DEFAULT_N) -> dict[str, np.ndarray]:
    """The tie-aware values (``ap_all_tie_aware``, ``ap_at_{R}_tie_aware``, ``precision_at_{N}_tie_aware``) from
    the per-query histograms alone (see the module's docstring)."""
    counts = np.ascontiguousarray(counts, dtype=np.int64)
    relevant_counts = np.ascontiguousarray(relevant_counts, dtype=np.int64)
    depths_R, depths_N = _depths(R, "R"), _depths(N, "N")
    n_gallery = int(counts[0].sum()) if len(counts) else 0
    ap_all, ap_R, hits_N = hamming_kernels.tie_aware(counts, relevant_counts, depths_R, depths_N,
                                                     harmonic_numbers(n_gallery))
    out = {"ap_all_tie_aware": ap_all}
    for t, depth in enumerate(depths_R):
        out[f"ap_at_{depth}_tie_aware"] = ap_R[:, t]
    for t, depth in enumerate(depths_N):
        out[f"precision_at_{depth}_tie_aware"] = hits_N[:, t] / max(1, min(int(depth), n_gallery))
    return out


def hamming_ranking(query_codes, gallery_codes, query_labels, gallery_labels, *, R=DEFAULT_R, N=DEFAULT_N,
                    radius: int = 2) -> dict[str, np.ndarray]:
    """Rank the whole gallery by Hamming distance for every query and return the per-query values named in the
    module's docstring (each a (Q,) array; ``counts`` and ``relevant_counts`` (Q, B + 1)).

    No Q x N matrix is built: a compiled pass per query over the packed gallery (lshbench/hamming_kernels.py),
    queries spread over numba's threads (``numba.set_num_threads``)."""
    query_bits, gallery_bits = code_bits(query_codes), code_bits(gallery_codes)
    if query_bits.shape[1] != gallery_bits.shape[1]:
        raise ValueError(f"queries have {query_bits.shape[1]} bits, the gallery {gallery_bits.shape[1]}")
    B = gallery_bits.shape[1]
    query_labels, gallery_labels = np.asarray(query_labels).ravel(), np.asarray(gallery_labels).ravel()
    if len(query_labels) != len(query_bits) or len(gallery_labels) != len(gallery_bits):
        raise ValueError("one label per code: got "
                         f"{len(query_labels)} for {len(query_bits)} queries, {len(gallery_labels)} for "
                         f"{len(gallery_bits)} gallery items")
    # labels as small consecutive ints: an int32 a gallery item, whatever the caller's labels were
    _, compact = np.unique(np.concatenate([gallery_labels, query_labels]), return_inverse=True)
    compact = compact.astype(np.int32)
    gallery_compact, query_compact = compact[: len(gallery_labels)], compact[len(gallery_labels):]
    class_sizes = np.bincount(gallery_compact, minlength=int(compact.max(initial=0)) + 1)
    depths_R, depths_N = _depths(R, "R"), _depths(N, "N")
    n_gallery = len(gallery_bits)
    # chunks of queries share a thread's buffers; four per thread or more, so a slow chunk does not leave one idle
    chunk = max(1, min(64, -(-len(query_bits) // (4 * numba.get_num_threads()))))
    counts, relevant_counts, ap_sum, ap_R_sum, hits_R, hits_N = hamming_kernels.positional(
        pack_bits(query_bits), query_compact, pack_bits(gallery_bits), gallery_compact,
        int(class_sizes.max(initial=0)), depths_R, depths_N, chunk)
    counts, relevant_counts = counts[:, : B + 1], relevant_counts[:, : B + 1]
    n_relevant = class_sizes[query_compact]
    out = {"ap_all": ap_sum / np.maximum(n_relevant, 1)}
    ties = tie_aware(counts, relevant_counts, depths_R, depths_N)
    out["ap_all_tie_aware"] = ties["ap_all_tie_aware"]
    for t, depth in enumerate(depths_R):
        out[f"ap_at_{depth}"] = ap_R_sum[:, t] / np.maximum(hits_R[:, t], 1)
        out[f"ap_at_{depth}_tie_aware"] = ties[f"ap_at_{depth}_tie_aware"]
    for t, depth in enumerate(depths_N):
        out[f"precision_at_{depth}"] = hits_N[:, t] / max(1, min(int(depth), n_gallery))
        out[f"precision_at_{depth}_tie_aware"] = ties[f"precision_at_{depth}_tie_aware"]
    within = counts[:, : radius + 1].sum(1)
    relevant_within = relevant_counts[:, : radius + 1].sum(1)
    out[f"precision_within_radius_{radius}"] = relevant_within / np.maximum(within, 1)
    out[f"recall_within_radius_{radius}"] = relevant_within / np.maximum(n_relevant, 1)
    out["n_relevant"] = n_relevant
    out["counts"], out["relevant_counts"] = counts, relevant_counts
    return out


def pr_curve(counts, relevant_counts) -> dict[str, np.ndarray]:
    """Precision and recall of Hamming-radius retrieval (every item at distance <= r), r = 0..B, from the
    per-query histograms. Per query: precision = relevant within r / items within r, recall = relevant within r /
    relevant in the gallery. Over the queries (each a (B + 1,) array):

    * ``recall``: the mean over all queries (a query without relevant items counts 0);
    * ``precision``: the mean over the queries that retrieve at least one item within r (nan where none does): a
      query that retrieves nothing has no precision, so it is left out rather than counted 0;
    * ``retrieving``: the share of queries that retrieve at least one item within r (what ``precision`` leaves out).

    Whose convention: DeepHash-pytorch's own ``pr_curve`` (utils/tools.py) is a top-k curve, not a radius curve; the
    radius curve its users share (the DSDH/ADSH lineage's ``pr_curve(qB, rB, ...)``) computes these per-query values
    (with 0 for an empty radius) but divides both sums by the queries whose precision is > 0, i.e. that retrieve at
    least one *relevant* item, and skips queries without relevant items. That divisor makes recall depend on
    precision; we keep recall over all queries, and precision over the queries that retrieve anything, so both are
    means of the per-query values they describe."""
    counts = np.asarray(counts, dtype=np.int64)
    relevant_counts = np.asarray(relevant_counts, dtype=np.int64)
    within = np.cumsum(counts, axis=1)
    relevant_within = np.cumsum(relevant_counts, axis=1)
    n_relevant = relevant_within[:, -1:]
    retrieving = within > 0
    precision = np.where(retrieving, relevant_within / np.maximum(within, 1), 0.0)
    n_retrieving = retrieving.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_precision = np.where(n_retrieving > 0, precision.sum(0) / n_retrieving, np.nan)
    recall = (relevant_within / np.maximum(n_relevant, 1)).mean(0)
    return {"radius": np.arange(counts.shape[1]), "precision": mean_precision, "recall": recall,
            "retrieving": n_retrieving / max(1, len(counts))}
