"""Hamming ranking (lshbench/hamming.py) against hand-computed values, brute-force sorts and enumerations of every
order within the tie groups."""

import itertools
import math

import numpy as np
import pytest

from lshbench.hamming import hamming_ranking, pack_bits, pr_curve, tie_aware
from lshbench.hamming_kernels import popcount  # noqa: F401 (the intrinsic must import)


def bits(*rows: str) -> np.ndarray:
    return np.array([[c == "1" for c in row] for row in rows])


# Query 0 = 00000000, label 1. Gallery (distance, label): 0: (1, 1), 1: (0, 0), 2: (2, 1), 3: (0, 1), 4: (1, 0),
# 5: (3, 0). Positional order (distance, then position): 1, 3 | 0, 4 | 2 | 5, so the relevant items 3, 0, 2 stand at
# ranks 2, 3, 5 with precisions 1/2, 2/3, 3/5.
# Query 1 = 00001111, label 1: every gallery item is at distance >= 4 (its last four bits are all 0).
GALLERY = bits("00010000", "00000000", "00110000", "00000000", "00010000", "01110000")
GALLERY_LABELS = np.array([1, 0, 1, 1, 0, 0])
QUERIES = bits("00000000", "00001111")
QUERY_LABELS = np.array([1, 1])


@pytest.fixture(scope="module")
def hand():
    return hamming_ranking(QUERIES, GALLERY, QUERY_LABELS, GALLERY_LABELS, R=(1, 3, 4), N=(1, 2, 3, 5, 10))


def test_positional_values_by_hand(hand):
    assert hand["counts"][0].tolist() == [2, 2, 1, 1, 0, 0, 0, 0, 0]
    assert hand["relevant_counts"][0].tolist() == [1, 1, 1, 0, 0, 0, 0, 0, 0]
    assert hand["n_relevant"].tolist() == [3, 3]
    # (1/2 + 2/3 + 3/5) / 3 = 1.766667 / 3
    assert hand["ap_all"][0] == pytest.approx(0.5888889, abs=1e-6)
    assert hand["ap_at_1"][0] == 0  # rank 1 is item 1, not relevant: none within the top 1
    assert hand["ap_at_3"][0] == pytest.approx((1 / 2 + 2 / 3) / 2)  # two relevant within the top 3
    assert hand["ap_at_4"][0] == pytest.approx((1 / 2 + 2 / 3) / 2)  # rank 4 (item 4) is not relevant
    assert [hand[f"precision_at_{n}"][0] for n in (1, 2, 3, 5)] == pytest.approx([0, 1 / 2, 2 / 3, 3 / 5])
    assert hand["precision_at_10"][0] == pytest.approx(3 / 6)  # N capped at the gallery's 6 items
    assert hand["precision_within_radius_2"][0] == pytest.approx(3 / 5)  # 5 items at distance <= 2, 3 relevant
    assert hand["recall_within_radius_2"][0] == 1


def test_tie_aware_values_by_hand(hand):
    # groups: d0 (n 2, r 1): (1/2)(1/1 + 1/2) = 0.75; d1 (n 2, r 1, after 2 with 1 relevant): (1/2)(2/3 + 2/4)
    # = 7/12; d2 (n 1, r 1, after 4 with 2 relevant): 3/5. AP = (0.75 + 0.583333 + 0.6) / 3 = 0.644444
    assert hand["ap_all_tie_aware"][0] == pytest.approx(0.6444444, abs=1e-6)
    # top 3: d0 and one of d1's two places. The four orders: (1 + 2/3)/2, 1/1, (1/2 + 2/3)/2, 1/2: mean 0.729167
    assert hand["ap_at_3_tie_aware"][0] == pytest.approx(0.7291667, abs=1e-6)
    assert hand["ap_at_4_tie_aware"][0] == pytest.approx((0.75 + 7 / 12) / 2)  # d1 ends at 4: no straddle
    # ap@1: the relevant item of d0 is first in half the orders (AP 1), else none (0)
    assert hand["ap_at_1_tie_aware"][0] == pytest.approx(0.5)
    assert hand["precision_at_1_tie_aware"][0] == pytest.approx(0.5)  # 1 place of d0: 1/2 relevant expected
    assert hand["precision_at_3_tie_aware"][0] == pytest.approx(1.5 / 3)  # 1 + 1 place of d1 x 1/2


def test_a_query_with_nothing_within_radius_2_counts_0(hand):
    assert hand["counts"][1].tolist() == [0, 0, 0, 0, 2, 2, 1, 1, 0]
    assert hand["precision_within_radius_2"][1] == 0
    assert hand["recall_within_radius_2"][1] == 0
    assert hand["ap_all"][1] == pytest.approx(hand["ap_all"][0])  # the same order, every distance + 4


def test_pr_curve_by_hand():
    counts = np.array([[2, 2, 1, 1, 0], [0, 0, 1, 2, 3]])
    relevant = np.array([[1, 1, 1, 0, 0], [0, 0, 0, 1, 1]])
    curve = pr_curve(counts, relevant)
    # r = 0: query 0 retrieves 2 items, 1 relevant (p 1/2, recall 1/3); query 1 retrieves nothing (no precision)
    assert curve["precision"][0] == pytest.approx(0.5)
    assert curve["recall"][0] == pytest.approx((1 / 3 + 0) / 2)
    assert curve["retrieving"][0] == 0.5
    # r = 2: query 0: 5 items, 3 relevant (p 0.6, recall 1); query 1: 1 item, none relevant (p 0, recall 0)
    assert curve["precision"][2] == pytest.approx(0.3)
    assert curve["recall"][2] == pytest.approx(0.5)
    assert curve["retrieving"][2] == 1
    # r = 4: everything: p 3/6 and 2/6, recall 1 for both
    assert curve["precision"][4] == pytest.approx((3 / 6 + 2 / 6) / 2)
    assert curve["recall"][4] == 1
    assert np.isnan(pr_curve(np.array([[0, 1]]), np.array([[0, 1]]))["precision"][0])  # nobody retrieves at r = 0


def brute_force(query_bits, gallery_bits, query_labels, gallery_labels, R, N, radius=2):
    """Sort by (distance, position) per query, the metrics from the sorted relevance."""
    out = {k: [] for k in ["ap_all", "within_p", "within_r", "hist"] + [f"ap_at_{r}" for r in R]
           + [f"precision_at_{n}" for n in N]}
    B = gallery_bits.shape[1]
    for q in range(len(query_bits)):
        distance = (gallery_bits != query_bits[q]).sum(1)
        order = np.lexsort((np.arange(len(distance)), distance))
        relevant = gallery_labels[order] == query_labels[q]
        ranks = np.flatnonzero(relevant) + 1
        precisions = np.arange(1, len(ranks) + 1) / ranks
        out["ap_all"].append(precisions.sum() / max(1, len(ranks)))
        for r in R:
            inside = ranks <= r
            out[f"ap_at_{r}"].append(precisions[inside].sum() / max(1, inside.sum()))
        for n in N:
            out[f"precision_at_{n}"].append(relevant[:n].sum() / min(n, len(relevant)))
        near = distance <= radius
        out["within_p"].append((near & (gallery_labels == query_labels[q])).sum() / max(1, near.sum()))
        out["within_r"].append((near & (gallery_labels == query_labels[q])).sum() / max(1, len(ranks)))
        out["hist"].append(np.bincount(distance, minlength=B + 1))
    return {k: np.array(v) for k, v in out.items()}


@pytest.mark.parametrize("B", [8, 16, 32, 64, 100, 128])
def test_positional_values_equal_a_brute_force_sort(B):
    rng = np.random.default_rng(B)
    n_gallery, n_queries = 300, 40
    # few distinct codes (30 prototypes, a few bits flipped at 8 bits): many ties at every distance
    prototypes = rng.random((30, B)) > 0.5
    flips = rng.random((n_gallery, B)) < (0.03 if B == 8 else 0.1)
    gallery = prototypes[rng.integers(0, 30, n_gallery)] ^ flips
    queries = prototypes[rng.integers(0, 30, n_queries)] ^ (rng.random((n_queries, B)) < 0.05)
    gallery_labels = rng.integers(0, 4, n_gallery)
    query_labels = rng.integers(0, 5, n_queries)  # label 4: no gallery item, AP 0
    R, N = (1, 10, 100, 250, 1000), (1, 5, 50, 299, 500)
    ours = hamming_ranking(queries, gallery, query_labels, gallery_labels, R=R, N=N)
    truth = brute_force(queries, gallery, query_labels, gallery_labels, R, N)
    assert ours["counts"].shape == (n_queries, B + 1)
    assert (ours["counts"] == truth["hist"]).all()
    assert (ours["counts"].sum(1) == n_gallery).all()
    assert (ours["relevant_counts"].sum(1) == ours["n_relevant"]).all()
    np.testing.assert_allclose(ours["ap_all"], truth["ap_all"], rtol=1e-12)
    for r in R:
        np.testing.assert_allclose(ours[f"ap_at_{r}"], truth[f"ap_at_{r}"], rtol=1e-12)
    for n in N:
        np.testing.assert_allclose(ours[f"precision_at_{n}"], truth[f"precision_at_{n}"], rtol=1e-12)
    np.testing.assert_allclose(ours["precision_within_radius_2"], truth["within_p"], rtol=1e-12)
    np.testing.assert_allclose(ours["recall_within_radius_2"], truth["within_r"], rtol=1e-12)
    assert (ours["ap_all"][query_labels == 4] == 0).all() and (query_labels == 4).any()
    if B == 8:  # the case must have ties, or it tests nothing about their order
        assert (ours["counts"].max(1) > 20).all()


def test_pack_bits_pads_the_last_word_with_zeros():
    codes = np.ones((2, 100), bool)
    packed = pack_bits(codes)
    assert packed.shape == (2, 2) and packed.dtype == np.uint64
    assert packed[0, 0] == np.uint64(2**64 - 1) and packed[0, 1] == np.uint64(2**36 - 1)
    assert pack_bits(np.where(codes, 1, -1)).tolist() == packed.tolist()  # +-1 codes: a bit where > 0


def enumerate_orders(counts, relevant_counts, R, N):
    """Mean of AP, AP@R and hits@N over every order of every tie group (itertools.permutations of each group's
    relevance flags, the product over groups)."""
    groups = [[True] * r + [False] * (n - r) for n, r in zip(counts, relevant_counts) if n > 0]
    per_group = [list(itertools.permutations(g)) for g in groups]
    total_relevant = sum(relevant_counts)
    sums = {"ap_all": 0.0, **{f"ap_{r}": 0.0 for r in R}, **{f"hits_{n}": 0.0 for n in N}}
    orders = 0
    for combination in itertools.product(*per_group):
        flags = np.array([f for group in combination for f in group])
        ranks = np.flatnonzero(flags) + 1
        precisions = np.arange(1, len(ranks) + 1) / ranks
        sums["ap_all"] += precisions.sum() / max(1, total_relevant)
        for r in R:
            inside = ranks <= r
            sums[f"ap_{r}"] += precisions[inside].sum() / max(1, inside.sum())
        for n in N:
            sums[f"hits_{n}"] += flags[:n].sum()
        orders += 1
    return {k: v / orders for k, v in sums.items()}


@pytest.mark.parametrize("counts, relevant_counts", [
    ([2, 2, 1, 1], [1, 1, 1, 0]),
    ([6, 3, 2], [3, 2, 1]),  # a group of 6: 720 orders
    ([1, 5, 0, 4], [0, 2, 0, 4]),  # a group wholly relevant, an empty distance
    ([3, 4, 3, 2], [0, 4, 1, 2]),
    ([5, 5], [0, 5]),
    ([4, 4, 3], [0, 0, 0]),  # nothing relevant: every AP 0
])
def test_tie_aware_values_equal_the_mean_over_every_order(counts, relevant_counts):
    total = sum(counts)
    R = tuple(range(1, total + 2))  # every depth, one past the gallery
    N = tuple(range(1, total + 1))
    ours = tie_aware(np.array([counts]), np.array([relevant_counts]), R, N)
    truth = enumerate_orders(counts, relevant_counts, R, N)
    assert ours["ap_all_tie_aware"][0] == pytest.approx(truth["ap_all"], rel=1e-12, abs=1e-15)
    for r in R:
        assert ours[f"ap_at_{r}_tie_aware"][0] == pytest.approx(truth[f"ap_{r}"], rel=1e-12, abs=1e-15), r
    for n in N:
        assert ours[f"precision_at_{n}_tie_aware"][0] == pytest.approx(truth[f"hits_{n}"] / n, rel=1e-12), n


def test_tie_aware_ap_at_R_on_a_large_straddling_group_equals_the_direct_sum():
    # 7 items (3 relevant) before a group of 400 with 90 relevant; R = 207 takes 200 of its places. The direct sum
    # over y (math.comb) and over the places (no harmonic numbers), against the kernel's mode-outward sum
    before_n, before_r, n, r, R = 7, 3, 400, 90, 207
    counts, relevant = np.array([[before_n, n, 5]]), np.array([[before_r, r, 2]])
    before_sum = enumerate_orders([before_n], [before_r], (), ())["ap_all"] * before_r
    m, s = R - before_n, before_n
    expected = 0.0
    for y in range(0, min(r, m) + 1):
        p = math.comb(r, y) * math.comb(n - r, m - y) / math.comb(n, m)
        c = (y - 1) / (m - 1)
        straddle = (y / m) * sum((before_r + 1 + (k - s - 1) * c) / k for k in range(s + 1, s + m + 1)) if y else 0
        expected += p * (before_sum + straddle) / (before_r + y)
    ours = tie_aware(counts, relevant, (R,), (R,))
    assert ours[f"ap_at_{R}_tie_aware"][0] == pytest.approx(expected, rel=1e-10)
    assert ours[f"precision_at_{R}_tie_aware"][0] == pytest.approx((before_r + m * r / n) / R)


def test_torch_tensors_are_read_as_arrays():
    torch = pytest.importorskip("torch")
    ours = hamming_ranking(torch.from_numpy(QUERIES), torch.from_numpy(GALLERY), torch.from_numpy(QUERY_LABELS),
                           torch.from_numpy(GALLERY_LABELS))
    assert ours["ap_all"][0] == pytest.approx(0.5888889, abs=1e-6)


def test_the_values_do_not_depend_on_numba_threads():
    numba = pytest.importorskip("numba")
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("one numba thread available")
    rng = np.random.default_rng(7)
    gallery, queries = rng.random((500, 24)) > 0.5, rng.random((301, 24)) > 0.5  # 301: chunks of unequal length
    labels, query_labels = rng.integers(0, 3, 500), rng.integers(0, 3, 301)
    previous = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = hamming_ranking(queries, gallery, query_labels, labels)
        numba.set_num_threads(2)
        two = hamming_ranking(queries, gallery, query_labels, labels)
    finally:
        numba.set_num_threads(previous)
    assert one.keys() == two.keys()
    for key in one:
        assert np.array_equal(one[key], two[key]), key


def test_the_module_imports_without_torch():
    import subprocess
    import sys

    code = "import sys, lshbench.hamming; assert 'torch' not in sys.modules, 'torch imported'"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
