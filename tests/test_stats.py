import itertools
import math

import numpy as np
import pytest

from lshbench import stats


def test_t_interval_of_four_seeds_matches_the_hand_computed_interval():
    # mean 2.5; s^2 = (2.25 + 0.25 + 0.25 + 2.25) / 3 = 5/3; t_{0.975, 3} = 3.182446; half width = t * s / sqrt(4)
    mean, std, low, high = stats.t_interval([1.0, 2.0, 3.0, 4.0])
    assert mean == 2.5
    assert std == pytest.approx(math.sqrt(5 / 3))
    assert std == pytest.approx(1.290994, abs=1e-6)
    assert high - mean == pytest.approx(2.054260, abs=1e-6)
    assert mean - low == pytest.approx(2.054260, abs=1e-6)


def test_t_interval_of_one_seed_has_no_spread():
    mean, std, low, high = stats.t_interval([0.42])
    assert mean == 0.42
    assert math.isnan(std) and math.isnan(low) and math.isnan(high)


def test_t_interval_of_three_seeds_covers_the_true_mean_at_its_level():
    # with 3 replicates the normal quantile (1.96) would cover only ~81%; the t quantile (4.30) keeps 95%
    rng = np.random.default_rng(11)
    samples = rng.normal(0.6, 0.02, size=(2000, 3))
    covered = [low <= 0.6 <= high for _, _, low, high in map(stats.t_interval, samples)]
    assert 0.93 <= np.mean(covered) <= 0.97


def test_bootstrap_interval_covers_the_true_mean_of_a_skewed_metric_about_95_percent_of_the_time():
    # Beta(0.5, 2): skewed towards 0 and bounded, as average precision is; its mean is 0.5 / 2.5 = 0.2
    repetitions, n_queries = 400, 200
    rng = np.random.default_rng(7)
    covered = 0
    for repetition in range(repetitions):
        per_query = rng.beta(0.5, 2.0, n_queries)
        mean, low, high = stats.bootstrap_interval(per_query, resamples=1000, seed=repetition)
        assert low <= mean <= high
        covered += low <= 0.2 <= high
    coverage = covered / repetitions
    print(f"\nbootstrap 95% interval coverage over {repetitions} repetitions of {n_queries} queries: {coverage:.4f}")
    assert 0.90 <= coverage <= 0.99


def test_bootstrap_interval_of_many_queries_agrees_with_the_normal_theory_interval():
    # for a large sample the percentile interval tends to mean +- 1.96 s / sqrt(n)
    per_query = np.random.default_rng(3).normal(0.5, 0.2, 5000)
    mean, low, high = stats.bootstrap_interval(per_query, resamples=4000, seed=1)
    half_width = 1.959964 * per_query.std(ddof=1) / math.sqrt(per_query.size)
    assert mean == pytest.approx(per_query.mean())
    assert high - mean == pytest.approx(half_width, rel=0.1)
    assert mean - low == pytest.approx(half_width, rel=0.1)


def rows_of_every_kind(n_queries: int = 301) -> np.ndarray:
    rng = np.random.default_rng(5)
    return np.stack([
        rng.beta(0.5, 2.0, n_queries),
        rng.random(n_queries),
        np.zeros(n_queries),
        np.full(n_queries, 0.3),
        rng.normal(0, 1e6, n_queries),  # another magnitude: each row has its own grid
        (rng.random(n_queries) < 0.1).astype(float),
        rng.beta(2.0, 0.5, n_queries) - 0.5,
    ])


def test_batched_intervals_equal_the_single_row_intervals_bit_for_bit():
    matrix = rows_of_every_kind()
    means, lows, highs = stats.bootstrap_intervals(matrix, resamples=500, seed=4)
    for i, row in enumerate(matrix):
        assert stats.bootstrap_interval(row, resamples=500, seed=4) == (means[i], lows[i], highs[i])
    # nor does a row's interval depend on which other rows share the call, or where
    reversed_means, reversed_lows, reversed_highs = stats.bootstrap_intervals(matrix[::-1], resamples=500, seed=4)
    assert np.array_equal(reversed_lows[::-1], lows) and np.array_equal(reversed_highs[::-1], highs)
    assert np.array_equal(reversed_means[::-1], means)


def test_resampled_means_are_the_means_of_the_documented_query_indices():
    matrix = rows_of_every_kind()
    indices = np.random.default_rng(9).integers(0, matrix.shape[1], size=(200, matrix.shape[1]))
    direct = matrix[:, indices].mean(axis=2).T  # (resamples, configurations), every row at the same indices
    resampled = stats.bootstrap_means(matrix, resamples=200, seed=9)
    scale = np.abs(matrix).max(axis=1)
    assert np.all(np.abs(resampled - direct) <= 1e-11 * scale)


def test_block_size_changes_no_resampled_mean(monkeypatch):
    matrix = rows_of_every_kind()
    whole = stats.bootstrap_means(matrix, resamples=300, seed=2)
    assert stats.BLOCK_CELLS // matrix.shape[1] >= 300  # the default draws all 300 resamples in one block
    monkeypatch.setattr(stats, "BLOCK_CELLS", 7 * matrix.shape[1])
    assert np.array_equal(stats.bootstrap_means(matrix, resamples=300, seed=2), whole)
    # a pair with no difference, so the p-value is mid-range and counts every flip, not none
    a, b = matrix[1], np.random.default_rng(4).random(matrix.shape[1])
    monkeypatch.setattr(stats, "BLOCK_CELLS", 1 << 22)
    one_block = stats.paired_test(a, b, resamples=999, seed=3)
    assert 0.05 < one_block["p_value"] < 0.95
    monkeypatch.setattr(stats, "BLOCK_CELLS", 7 * a.size)  # 143 blocks, none a whole number of 64-bit draws
    assert stats.paired_test(a, b, resamples=999, seed=3) == one_block


def test_bootstrap_rejects_missing_values():
    with pytest.raises(ValueError, match="NaN"):
        stats.bootstrap_interval([0.1, float("nan"), 0.3])


@pytest.mark.parametrize("method", ["randomisation", "bootstrap"])
def test_paired_test_finds_a_known_difference(method):
    rng = np.random.default_rng(21)
    a = rng.beta(0.5, 2.0, 500)
    b = a - 0.05 + rng.normal(0, 0.02, 500)
    result = stats.paired_test(a, b, method=method)
    assert result["difference"] == pytest.approx(np.mean(a - b))
    assert result["low"] < 0.05 < result["high"]
    assert result["high"] - result["low"] < 0.01  # noise sd 0.02 over 500 queries: half width ~0.0018
    assert result["p_value"] == 1 / 10001  # no flip or null resample comes near a 25-standard-error difference


@pytest.mark.parametrize("method", ["randomisation", "bootstrap"])
def test_paired_test_of_identical_configurations(method):
    a = np.random.default_rng(1).random(300)
    result = stats.paired_test(a, a.copy(), resamples=999, method=method)
    assert result == {"difference": 0.0, "low": 0.0, "high": 0.0, "p_value": 1.0}


def test_paired_interval_is_the_bootstrap_interval_of_the_differences():
    rng = np.random.default_rng(8)
    a, b = rng.random(400), rng.random(400)
    result = stats.paired_test(a, b, resamples=2000, seed=6)
    assert (result["difference"], result["low"], result["high"]) == stats.bootstrap_interval(
        a - b, resamples=2000, seed=6)


def test_randomisation_p_value_agrees_with_the_exhaustive_sign_flip_distribution():
    # 10 queries: all 2^10 sign vectors give the exact randomisation p-value
    differences = np.random.default_rng(5).normal(0.3, 1.0, 10)
    signs = np.array(list(itertools.product([-1.0, 1.0], repeat=10)))
    exact = np.mean(np.abs(signs @ differences) >= abs(differences.sum()) * (1 - 1e-12))
    assert 0.1 < exact < 0.5
    monte_carlo = stats.paired_test(differences, np.zeros(10), resamples=20000, seed=1)["p_value"]
    assert monte_carlo == pytest.approx(exact, abs=0.015)  # 4.6 standard errors of 20000 draws


@pytest.mark.parametrize("method", ["randomisation", "bootstrap"])
def test_paired_test_false_positive_rate_under_no_difference_is_near_its_level(method):
    # a and b exchangeable per query: a shared query difficulty plus independent skewed noise
    repetitions, n_queries = 400, 200
    rng = np.random.default_rng(99)
    rejected = 0
    for repetition in range(repetitions):
        difficulty = rng.beta(0.5, 2.0, n_queries)
        a = difficulty + rng.exponential(0.1, n_queries)
        b = difficulty + rng.exponential(0.1, n_queries)
        rejected += stats.paired_test(a, b, resamples=999, seed=repetition, method=method)["p_value"] <= 0.05
    rate = rejected / repetitions
    print(f"\n{method} test false-positive rate at 0.05 over {repetitions} repetitions of {n_queries} queries: "
          f"{rate:.4f}")
    assert 0.02 <= rate <= 0.09


def test_holm_matches_the_hand_computed_adjustment():
    # sorted: 0.005 * 4 = 0.02, 0.01 * 3 = 0.03, 0.03 * 2 = 0.06, max(0.04 * 1, 0.06) = 0.06
    assert np.allclose(stats.holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    assert np.array_equal(stats.significant([0.01, 0.04, 0.03, 0.005]), [True, False, False, True])
    assert np.array_equal(stats.holm([0.5, 0.6]), [1.0, 1.0])  # capped at 1
    assert stats.holm([]).shape == (0,)


def test_holm_is_monotone_and_rejects_what_the_step_down_procedure_rejects():
    rng = np.random.default_rng(2)
    for _ in range(200):
        p_values = np.concatenate([rng.random(8) * 0.05, rng.random(rng.integers(0, 8))])
        adjusted = stats.holm(p_values)
        order = np.argsort(p_values)
        assert np.all(np.diff(adjusted[order]) >= 0)
        assert np.all(adjusted >= p_values) and np.all(adjusted <= 1)
        # Holm 1979: reject H_(1), H_(2), ... while p_(j) <= alpha / (m - j + 1), stop at the first that is not
        rejected = np.zeros(p_values.size, dtype=bool)
        for j, i in enumerate(order):
            if p_values[i] > 0.05 / (p_values.size - j):
                break
            rejected[i] = True
        assert np.array_equal(stats.significant(p_values), rejected)
