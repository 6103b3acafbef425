"""Uncertainty of benchmark numbers: intervals over seeds and over queries, paired tests between configurations,
and the Holm correction for testing many of them at once. numpy only (scipy for the t quantile), no torch.

Two sources of variation are kept apart, because they answer different questions:

* **Seeds** (``t_interval``): a randomised method (random hyperplanes, k-means initialisation, a trained network)
  run with r seeds gives r replicates of a metric. The Student-t interval of their mean is
  mean ± t_{(1+level)/2, r-1} · s / sqrt(r), s the sample standard deviation (ddof = 1) (Student 1908, "The
  probable error of a mean", Biometrika 6(1):1-25). It assumes the replicates are independent and roughly normal;
  with few seeds the t quantile, not the normal one, is what keeps the coverage (at r = 3 a ±1.96·s/sqrt(r) interval
  covers about 81% of the time, not 95%). One replicate says nothing about the spread: its std and interval are NaN,
  never 0. Inputs are assumed free of NaN (a NaN makes every output NaN).

* **Queries** (``bootstrap_interval``, ``bootstrap_intervals``): a metric averaged over Q queries (mAP is the mean of
  per-query average precision) varies with which queries were drawn. The percentile bootstrap (Efron & Tibshirani
  1993, *An Introduction to the Bootstrap*, Chapman & Hall, ch. 6 and §13.3) resamples the Q queries with
  replacement B times, takes the mean of each resample, and reports the (1-level)/2 and (1+level)/2 quantiles of
  those B means (numpy's linear interpolation between order statistics). It assumes the queries are an i.i.d. sample
  from the population of queries the claim is about, and it is first-order accurate: with few queries or a very
  skewed metric its coverage falls somewhat below the nominal level. Per-query values must be finite (NaN or
  infinity raises: a query without a value is to be scored or dropped first, not silently). Every configuration
  evaluated on one query set is resampled with the *same* query indices (drawn once from
  ``np.random.default_rng(seed)``), so the resampled means of two configurations are paired, and any difference of
  them is a paired bootstrap of the difference.

* **Paired tests** (``paired_test``): two configurations scored on the same queries, d_q = a_q - b_q, observed
  difference dbar = mean(d). The interval is the paired percentile bootstrap of dbar (the interval above over d).
  The p-value is two-sided, for the null hypothesis that the mean difference is 0:

  - ``method="randomisation"`` (the default): the sign-flip randomisation test (Fisher 1935, *The Design of
    Experiments*, §21; for retrieval, Smucker, Allan & Carterette 2007, "A comparison of statistical significance
    tests for information retrieval evaluation", CIKM). Under the null the labels "a" and "b" of each query are
    exchangeable, so each d_q is as likely to be -d_q: the test draws B random sign vectors, and
    p = (#{|mean(s · d)| >= |dbar|} + 1) / (B + 1). The +1 counts the observed assignment itself, so p is never 0
    and the test keeps its level with a finite B (Phipson & Smyth 2010, "Permutation p-values should never be zero",
    Stat. Appl. Genet. Mol. Biol. 9(1):39). It assumes only that the per-query differences are symmetric about 0
    under the null and that queries are independent: no normality.
  - ``method="bootstrap"``: the bootstrap test of a mean (Efron & Tibshirani 1993, §16.4, the one-sample problem,
    with the mean, not the studentised mean, as statistic): the differences are translated to have mean 0
    (d_q - dbar), which is the null, and resampled; a resample's mean of the translated data is dbar* - dbar, with
    dbar* the resample's mean of d. p = (#{|dbar* - dbar| >= |dbar|} + 1) / (B + 1), from the same B resamples as the
    interval. It assumes i.i.d. queries; it is slightly liberal with few queries.

  Identical a and b give difference 0, an interval [0, 0] and p = 1 with either method.

* **Many comparisons** (``holm``, ``significant``): testing m configurations against a baseline at level alpha each
  rejects a true null somewhere with probability up to 1 - (1 - alpha)^m. Holm's step-down procedure (Holm 1979, "A
  simple sequentially rejective multiple test procedure", Scand. J. Statist. 6(2):65-70) controls that family-wise
  error rate at alpha with no assumption on how the tests depend on each other: with the p-values sorted,
  p_(1) <= ... <= p_(m), the adjusted p_(j) is max_{i <= j} min(1, (m - i + 1) · p_(i)), and a hypothesis is
  rejected when its adjusted p-value is <= alpha.

Exact sums. Each resample's sum is computed as a matrix product (counts of each query in each resample, or signs,
times the values), which BLAS may add in any order: different orders round differently, which would make a
configuration's interval depend on what other configurations share the call, and would let a sign flip that ties
the observed difference be counted or not by luck. So the values of each row are first rounded to a grid, a power of
two chosen from the row's largest magnitude such that each value is at most 2^k grid steps, k = 53 - ceil(log2 n):
a sum of n values with integer weights of total magnitude n (counts, or signs) is then at most 2^53 steps, exact in
float64 whatever the order. For n = 10,000 queries the grid is 2^-39 to 2^-38 of the row's
largest magnitude (values in [0, 1]: at most 3.6e-12), far below any digit a table shows; the reported means are the
plain means of the values.
"""

from __future__ import annotations

import math

import numpy as np

# Resamples and sign flips are processed in blocks of about this many (resample, query) cells, so that the counts
# of 1000 resamples of 10^6 queries never need 8 GB at once. The blocks are successive draws of one generator, which
# give the same indices (and flip bits) as one draw of all of them, so the block size changes no result.
BLOCK_CELLS = 1 << 22


def t_interval(values, level: float = 0.95) -> tuple[float, float, float, float]:
    """(mean, sample std with ddof=1, low, high) of seed replicates: the Student-t interval of the mean at ``level``.

    One value: std, low and high are NaN. Values are assumed free of NaN.
    """
    from scipy.special import stdtrit  # Student t's quantile; scipy.stats takes seconds to import, this 0.3 s

    values = np.asarray(values, dtype=np.float64).ravel()
    _check_level(level)
    if values.size == 0:
        raise ValueError("t_interval needs at least one value")
    mean = float(values.mean())
    if values.size == 1:
        return mean, math.nan, math.nan, math.nan
    std = float(values.std(ddof=1))
    half_width = float(stdtrit(values.size - 1, (1 + level) / 2)) * std / math.sqrt(values.size)
    return mean, std, mean - half_width, mean + half_width


def bootstrap_interval(per_query, level: float = 0.95, resamples: int = 1000,
                       seed: int = 0) -> tuple[float, float, float]:
    """(mean, low, high): the percentile bootstrap interval over queries of the mean of ``per_query`` (1-D).

    Equal, bit for bit, to row i of ``bootstrap_intervals`` on any matrix whose row i is ``per_query``.
    """
    per_query = np.asarray(per_query, dtype=np.float64)
    if per_query.ndim != 1:
        raise ValueError(f"per_query must be 1-D (one value per query), not of shape {per_query.shape}")
    means, lows, highs = bootstrap_intervals(per_query[None, :], level, resamples, seed)
    return float(means[0]), float(lows[0]), float(highs[0])


def bootstrap_intervals(matrix, level: float = 0.95, resamples: int = 1000,
                        seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(means, lows, highs), each (n_configurations,): percentile bootstrap intervals of each row's mean, with every
    row resampled at the same query indices (paired). ``matrix`` is (n_configurations, n_queries)."""
    _check_level(level)
    matrix = _as_matrix(matrix)
    lows, highs = _percentile_interval(bootstrap_means(matrix, resamples, seed), level)
    return matrix.mean(axis=1), lows, highs


def bootstrap_means(matrix, resamples: int = 1000, seed: int = 0) -> np.ndarray:
    """(resamples, n_configurations): the mean of each row of ``matrix`` (n_configurations, n_queries) over each
    resample of the queries. Resample r takes the queries ``np.random.default_rng(seed).integers(0, n_queries,
    size=(resamples, n_queries))[r]``, the same for every row, so column differences are paired resamples."""
    matrix = _as_matrix(matrix)
    steps, grid = _on_grid(matrix)
    return _resampled_sums(steps, resamples, seed) * grid[:, 0] / matrix.shape[1]


def paired_test(a, b, resamples: int = 10000, seed: int = 0, method: str = "randomisation") -> dict:
    """Compare two configurations scored on the same queries: {"difference": mean(a - b), "low", "high": the paired
    percentile bootstrap 95% interval of it, "p_value": two-sided, of mean difference 0, by the sign-flip
    randomisation test (``method="randomisation"``) or the bootstrap test (``method="bootstrap"``)}.

    The interval is ``bootstrap_interval(a - b, 0.95, resamples, seed)``; the sign flips come from a stream spawned
    from ``seed``, independent of the resamples.
    """
    if method not in ("randomisation", "bootstrap"):
        raise ValueError(f"method must be 'randomisation' or 'bootstrap', not {method!r}")
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.ndim != 1 or a.shape != b.shape:
        raise ValueError(f"a and b must be 1-D over the same queries, not of shapes {a.shape} and {b.shape}")
    differences = a - b
    n_queries = differences.size
    steps, grid = _on_grid(_as_matrix(differences[None, :]))
    resampled_sums = _resampled_sums(steps, resamples, seed)[:, 0]
    steps = steps[0]
    observed_sum = steps.sum()  # exact, as every sum of grid steps here
    low, high = _percentile_interval(resampled_sums * grid[0, 0] / n_queries, 0.95)
    if method == "bootstrap":
        # the translated data's resample sum is sum* - n * dbar = resampled sum - observed sum
        exceed = int((np.abs(resampled_sums - observed_sum) >= abs(observed_sum)).sum())
    else:
        exceed = 0
        for flips in _flip_blocks(n_queries, resamples, seed):
            # bit 1 flips the query's sign, so a flipped sum is the observed sum less twice the flipped queries' sum
            flipped_sums = observed_sum - 2 * (flips.astype(np.float64) @ steps)
            exceed += int((np.abs(flipped_sums) >= abs(observed_sum)).sum())
    return {"difference": float(differences.mean()), "low": float(low), "high": float(high),
            "p_value": (exceed + 1) / (resamples + 1)}


def holm(p_values) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values, in the order given: step-down, monotone in the sorted order, capped at 1."""
    p_values = np.asarray(p_values, dtype=np.float64)
    if p_values.ndim != 1:
        raise ValueError(f"p_values must be 1-D, not of shape {p_values.shape}")
    if np.isnan(p_values).any():
        raise ValueError("p_values contain NaN")
    m = p_values.size
    order = np.argsort(p_values, kind="stable")
    stepped = np.minimum(1.0, (m - np.arange(m)) * p_values[order])
    adjusted = np.empty(m)
    adjusted[order] = np.maximum.accumulate(stepped)
    return adjusted


def significant(p_values, alpha: float = 0.05) -> np.ndarray:
    """bool array: which hypotheses Holm's procedure rejects at family-wise error rate ``alpha``."""
    return holm(p_values) <= alpha


def _resampled_sums(steps: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    """(resamples, n_configurations): each row's sum, in grid steps (exact), over each resample of the queries."""
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, not {resamples}")
    n_queries = steps.shape[1]
    rng = np.random.default_rng(seed)
    sums = np.empty((resamples, steps.shape[0]))
    block = max(1, BLOCK_CELLS // n_queries)
    for start in range(0, resamples, block):
        size = min(block, resamples - start)
        indices = rng.integers(0, n_queries, size=(size, n_queries))
        # counts[r, q]: how often resample r drew query q; a resample's sum is then one row of a matrix product
        offsets = np.arange(size)[:, None] * n_queries
        counts = np.bincount((indices + offsets).ravel(), minlength=size * n_queries).reshape(size, n_queries)
        sums[start:start + size] = counts.astype(np.float64) @ steps.T
    return sums


def _flip_blocks(n_queries: int, resamples: int, seed: int):
    """Blocks of (rows, n_queries) 0/1 sign-flip bits, ``resamples`` rows in all: the bits, least significant first,
    of the successive raw 64-bit outputs of a generator spawned from ``seed`` (independent of the resamples' stream),
    read as one stream whatever the block size. One bit per cell costs 64 times fewer draws than one integer each."""
    generator = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0]).bit_generator
    leftover = np.empty(0, dtype=np.uint8)
    block = max(1, BLOCK_CELLS // n_queries)
    for start in range(0, resamples, block):
        cells = min(block, resamples - start) * n_queries
        words = generator.random_raw(-(-(cells - leftover.size) // 64)).astype("<u8")
        bits = np.concatenate([leftover, np.unpackbits(words.view(np.uint8), bitorder="little")])
        leftover = bits[cells:]
        yield bits[:cells].reshape(-1, n_queries)


def _check_level(level: float) -> None:
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, not {level}")


def _percentile_interval(resampled: np.ndarray, level: float) -> np.ndarray:
    """(low, high) along the first axis: the (1 - level)/2 and (1 + level)/2 quantiles of the resampled means."""
    return np.quantile(resampled, [(1 - level) / 2, (1 + level) / 2], axis=0)


def _as_matrix(matrix) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[1] == 0:
        raise ValueError(f"matrix must be (n_configurations, n_queries) with at least one query, not {matrix.shape}")
    if not np.isfinite(matrix).all():
        raise ValueError("per-query values contain NaN or infinity")
    return matrix


def _on_grid(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(steps, grid): each row as whole multiples of its own power-of-two grid step, small enough that any sum of n
    of them with integer weights of total magnitude <= n is exact in float64 (see the module docstring)."""
    n_queries = matrix.shape[1]
    bits = 53 - math.ceil(math.log2(n_queries)) if n_queries > 1 else 53
    largest = np.abs(matrix).max(axis=1)
    _, exponent = np.frexp(largest)  # largest < 2^exponent; exponent 0 for a row of zeros
    grid = np.ldexp(1.0, exponent - bits)[:, None]
    return np.rint(matrix / grid), grid
