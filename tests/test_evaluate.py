import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score

from lshbench.candidates import Candidates, from_pairs
from lshbench.evaluate import Evaluator, exact_top_k
from lshbench.scoring import EXACT_SUM_WIDTH, record, record_rows
from lshbench.metrics import evaluate
from lshbench.methods import Exact, KMeans


def unit(angles):
    return torch.tensor([[np.cos(a), np.sin(a)] for a in angles], dtype=torch.float32)


class Fixed:
    """An index whose candidates are given (per query, gallery positions)."""

    def __init__(self, rows):
        self.rows = rows

    def candidates(self, queries):
        pairs = [(q, g) for q, row in enumerate(self.rows[: len(queries)]) for g in row]
        rows = torch.tensor([p[0] for p in pairs], dtype=torch.int64)
        ids = torch.tensor([p[1] for p in pairs], dtype=torch.int64)
        return from_pairs(rows, ids, len(queries), 6)


def test_hand_computed_ranking():
    # gallery at angles 0..5 (x 0.1 rad) from the query at angle 0: similarity falls with the position
    gallery = unit([0.0, 0.1, 0.2, 0.3, 0.4, 0.5])
    labels = torch.tensor([1, 0, 1, 1, 0, 1])
    queries, query_labels = unit([0.0]), torch.tensor([1])
    evaluator = Evaluator(gallery, labels, queries, query_labels, memory_mb=64)
    per_query, summary = evaluate(evaluator, Fixed([[5, 1, 2, 4]]), latency_queries=1)
    # ranked: 1 (label 0), 2 (1), 4 (0), 5 (1): relevant at ranks 2 and 4 -> AP = (1/2 + 2/4) / 2
    assert per_query["average_precision"][0] == pytest.approx(0.5)
    assert per_query["average_precision_all"][0] == pytest.approx((0.5 + 0.5) / 4)  # 4 gallery items of label 1
    assert per_query["precision_at_10"][0] == pytest.approx(2 / 4)  # the report's: over the 4 retrieved
    assert per_query["strict_precision_at_10"][0] == pytest.approx(2 / 10)  # strict: missing slots are misses
    assert per_query["n_candidates"][0] == 4
    assert summary["queries_without_candidates"] == 0


def test_empty_bucket_query_scores_zero():
    gallery, labels = unit([0.0, 0.1, 0.2]), torch.tensor([0, 0, 1])
    queries, query_labels = unit([0.0, 0.05]), torch.tensor([0, 0])
    evaluator = Evaluator(gallery, labels, queries, query_labels)
    candidates = Candidates(torch.tensor([0, 0, 2]), torch.tensor([0, 2]), 2, 3)

    class Given:
        def candidates(self, q):
            return candidates if len(q) == 2 else Candidates(torch.tensor([0, 0]), torch.tensor([], dtype=torch.int64), 1, 3)

    per_query, summary = evaluate(evaluator, Given(), latency_queries=1)
    assert per_query["n_candidates"].tolist() == [0, 2]
    assert per_query["average_precision"][0] == 0 and per_query["precision_at_10"][0] == 0
    assert per_query["strict_precision_at_10"][0] == 0 and per_query["precision_at_50"][0] == 0
    assert per_query["average_precision"][1] == 1.0  # ranked 0 (label 0), 2 (label 1)
    assert summary["queries_without_candidates"] == 1


def test_ties_break_by_gallery_position():
    gallery = unit([0.3, 0.3, 0.3])  # identical vectors: equal similarity
    labels = torch.tensor([0, 1, 0])
    evaluator = Evaluator(gallery, labels, unit([0.0]), torch.tensor([1]))
    per_query, _ = evaluate(evaluator, Exact().fit(gallery), latency_queries=1)
    assert per_query["average_precision"][0] == pytest.approx(0.5)  # the relevant item ranks second


def line_gallery(labels):
    """Gallery items at angles 0, 0.01, 0.02, ... from a query at angle 0: rank = gallery position."""
    return unit([0.01 * i for i in range(len(labels))]), torch.tensor(labels)


@pytest.mark.parametrize("rows, expected", [
    # (candidates of the query, (P@10, P@50, strict P@10, strict P@50)); relevant = label 1
    ([], (0.0, 0.0, 0.0, 0.0)),  # empty: 0 in both conventions
    ([0, 1, 2, 3], (3 / 4, 3 / 4, 3 / 10, 3 / 50)),  # shorter than 10: report divides by 4, strict by k
    (list(range(20)), (6 / 10, 11 / 20, 6 / 10, 11 / 50)),  # between 10 and 50: 5 relevant in 10..19
    (list(range(60)), (6 / 10, 26 / 50, 6 / 10, 26 / 50)),  # longer than 50: both divide by k
])
def test_precision_conventions_hand_computed(rows, expected):
    # labels 1,1,0,1,0,1,0,1,0,1 then alternating 0/1 from position 10 on: first 10 hold 6 relevant
    labels = [1, 1, 0, 1, 0, 1, 0, 1, 0, 1] + [i % 2 for i in range(10, 60)]
    gallery, gallery_labels = line_gallery(labels)
    evaluator = Evaluator(gallery, gallery_labels, unit([0.0]), torch.tensor([1]))

    class Given:
        def candidates(self, q):
            return from_pairs(torch.zeros(len(rows), dtype=torch.int64), torch.tensor(rows, dtype=torch.int64),
                              1, len(labels))

    per_query, _ = evaluate(evaluator, Given(), latency_queries=1)
    got = [per_query[name][0] for name in ("precision_at_10", "precision_at_50", "strict_precision_at_10",
                                           "strict_precision_at_50")]
    assert got == pytest.approx(expected)


def test_precision_with_ties_counts_by_gallery_position():
    # 12 identical vectors (equal similarity): ranked by position, so the first 10 positions are the top 10
    labels = [0, 1] * 6
    gallery = unit([0.3] * 12)
    evaluator = Evaluator(gallery, torch.tensor(labels), unit([0.0, 0.0]), torch.tensor([1, 1]))

    class Given:
        def candidates(self, q):
            rows = [list(range(12)), [11, 10, 9]][: len(q)] if len(q) == 2 else [list(range(12))]
            pairs = [(i, g) for i, row in enumerate(rows) for g in sorted(row)]
            return from_pairs(torch.tensor([a for a, _ in pairs]), torch.tensor([b for _, b in pairs]), len(q), 12)

    per_query, _ = evaluate(evaluator, Given(), latency_queries=1)
    # query 0: positions 0..9 -> labels 0,1,0,1,... -> 5 relevant of 10; 6 of 12 for P@50 (report), 6/50 strict
    assert per_query["precision_at_10"][0] == pytest.approx(0.5)
    assert per_query["precision_at_50"][0] == pytest.approx(6 / 12)
    assert per_query["strict_precision_at_50"][0] == pytest.approx(6 / 50)
    # query 1: positions 9, 10, 11 ranked as 9 (label 1), 10 (0), 11 (1) -> 2 of 3
    assert per_query["precision_at_10"][1] == pytest.approx(2 / 3)
    assert per_query["strict_precision_at_10"][1] == pytest.approx(2 / 10)
    assert per_query["average_precision"][1] == pytest.approx((1 + 2 / 3) / 2)


@pytest.fixture(scope="module")
def random_data():
    generator = torch.Generator().manual_seed(0)
    gallery = torch.randn(500, 16, generator=generator)
    labels = torch.randint(5, (500,), generator=generator)
    queries = torch.randn(40, 16, generator=generator)
    query_labels = torch.randint(5, (40,), generator=generator)
    return gallery, labels, queries, query_labels


def brute_force(gallery, labels, queries, query_labels):
    g = gallery.numpy() / np.linalg.norm(gallery.numpy(), axis=1, keepdims=True)
    q = queries.numpy() / np.linalg.norm(queries.numpy(), axis=1, keepdims=True)
    scores = q @ g.T
    order = np.argsort(-scores, axis=1, kind="stable")
    relevant = labels.numpy()[order] == query_labels.numpy()[:, None]
    return scores, order, relevant


def test_exact_matches_numpy_and_scikit_learn(random_data):
    gallery, labels, queries, query_labels = random_data
    _, exact_scores = exact_top_k(gallery, queries, 50)
    per_query, summary = evaluate(Evaluator(gallery, labels, queries, query_labels, exact_scores), Exact().fit(gallery), latency_queries=5)
    scores, order, relevant = brute_force(gallery, labels, queries, query_labels)
    np.testing.assert_allclose(per_query["precision_at_10"], relevant[:, :10].mean(1))
    np.testing.assert_allclose(per_query["precision_at_50"], relevant[:, :50].mean(1))
    sk = [average_precision_score(labels.numpy() == y, s) for y, s in zip(query_labels.numpy(), scores)]
    np.testing.assert_allclose(per_query["average_precision"], sk, rtol=1e-5)
    np.testing.assert_allclose(per_query["average_precision_all"], sk, rtol=1e-5)  # all relevant are retrieved
    assert summary["recall_at_10"] == 1.0 and summary["recall_at_50"] == 1.0
    assert summary["candidates_fraction"] == 1.0 and summary["latency_queries"] == 5


def test_kmeans_metrics_against_brute_force(random_data):
    gallery, labels, queries, query_labels = random_data
    index = KMeans(8, seed=1).fit(gallery)
    _, exact_scores = exact_top_k(gallery, queries, 50)
    per_query, _ = evaluate(Evaluator(gallery, labels, queries, query_labels, exact_scores, memory_mb=64), index)
    scores, order, _ = brute_force(gallery, labels, queries, query_labels)
    cluster = ((queries[:, None] - index.centroids[None]) ** 2).sum(-1).argmin(1).numpy()
    for i in range(len(queries)):
        members = np.flatnonzero(index.assignment.numpy() == cluster[i])
        ranked = members[np.argsort(-scores[i, members], kind="stable")]
        relevant = labels.numpy()[ranked] == query_labels.numpy()[i]
        assert per_query["n_candidates"][i] == len(members)
        assert per_query["precision_at_10"][i] == pytest.approx(relevant[:10].sum() / 10)
        hits = np.cumsum(relevant)
        ap = (hits / np.arange(1, len(ranked) + 1))[relevant].sum() / max(1, relevant.sum())
        assert per_query["average_precision"][i] == pytest.approx(ap, rel=1e-5)
        overlap = len(set(ranked[:10]) & set(order[i, :10])) / 10
        assert per_query["recall_at_10"][i] == pytest.approx(overlap)


def test_block_size_does_not_change_results(random_data):
    gallery, labels, queries, query_labels = random_data
    index = KMeans(4, probes=2).fit(gallery)
    small = Evaluator(gallery, labels, queries, query_labels, memory_mb=1)
    small.memory_mb = 0.05  # a few thousand ranked elements per block: many blocks and sub-blocks
    a, _ = evaluate(small, index, latency_queries=1)
    b, _ = evaluate(Evaluator(gallery, labels, queries, query_labels, memory_mb=512), index, latency_queries=1)
    for name in a:
        np.testing.assert_allclose(a[name], b[name])


def test_dense_and_csr_candidate_forms_give_the_same_metrics(random_data):
    from lshbench.methods import HyperplaneLSH

    gallery, labels, queries, query_labels = random_data
    index = HyperplaneLSH(2, 2, seed=0).fit(gallery)
    assert index.candidates(queries).mask is not None

    class AsCsr:
        def candidates(self, q):
            codes = index.codes(q)
            return index.tables.lookup(codes, dense_share=2.0)  # never dense

    assert AsCsr().candidates(queries).mask is None
    evaluator = Evaluator(gallery, labels, queries, query_labels, exact_top_k(gallery, queries, 50)[1])
    dense, _ = evaluate(evaluator, index, latency_queries=3)
    csr, _ = evaluate(evaluator, AsCsr(), latency_queries=3)
    for name in dense:
        np.testing.assert_allclose(dense[name], csr[name], rtol=1e-6)


@pytest.mark.parametrize("n, q, dim, classes, levels, duplicates", [
    (3000, 200, 64, 10, None, False),  # no ties
    (3000, 200, 8, 10, 2, False),  # few distinct scores: ties everywhere, also at the top 100's edge
    (2000, 100, 16, 5, 3, True),  # duplicated gallery items and queries equal to gallery items
    (60, 40, 4, 3, 1, True),  # shorter than keep_top
    (40000, 8, 8, 1, 4, False),  # one class of 40k: the AP terms are summed at their ranks (no exact shortcut)
    (500, 20, 4, 2, 0, False),  # every item the same vector: every score ties
])
def test_exact_without_sort_is_the_sorted_ranking_bit_for_bit(n, q, dim, classes, levels, duplicates):
    g = torch.Generator().manual_seed(n + dim)
    gallery, queries = torch.rand(n, dim, generator=g), torch.rand(q, dim, generator=g)
    if levels is not None:
        gallery, queries = (gallery * levels).round() + 1, (queries * levels).round() + 1
    if duplicates:
        gallery[n // 2 :] = gallery[: n - n // 2].clone()
        queries[: q // 2] = gallery[: q // 2]
    labels = torch.randint(classes, (n,), generator=g)
    query_labels = torch.randint(classes + 1, (q,), generator=g)  # the last label has no gallery item
    evaluator = Evaluator(gallery, labels, queries, query_labels)
    fast = evaluator.dense.rank_all(evaluator.query_unit, evaluator.query_labels, 100)
    scores, ids = evaluator.dense.rank(Candidates.all(q, n), evaluator.query_unit)
    sorted_ = record_rows(scores, ids, evaluator.query_labels, evaluator.labels_padded, 100, 1 << 20)
    for name in ("ap_sum", "n_relevant", "scores", "ids"):
        assert torch.equal(fast[name], sorted_[name]), name


def test_exact_search_refuses_non_finite_embeddings():
    gallery = torch.rand(50, 4)
    gallery[7, 2] = float("nan")
    evaluator = Evaluator(gallery, torch.zeros(50, dtype=torch.int64), torch.rand(3, 4), torch.zeros(3, dtype=torch.int64))
    with pytest.raises(ValueError, match="gallery embeddings hold NaN"):
        evaluator.dense.rank_all(evaluator.query_unit, evaluator.query_labels, 10)


@pytest.mark.parametrize("width", [37, EXACT_SUM_WIDTH + 1000])
def test_one_record_for_rows_and_lists_gives_the_row_arithmetic_bit_for_bit(width):
    """The one AP implementation (lshbench.scoring.record) on rows of one width, whole or in parts of any size
    (record_rows), has the bits of the row arithmetic written out here: hits cumulated along the row in float32,
    divided by the float32 rank, summed over the row in float64; past EXACT_SUM_WIDTH too, where the sum is not exact
    and its order matters."""
    g = torch.Generator().manual_seed(width)
    rows, n = 6, width + 5
    labels_padded = torch.cat([torch.randint(3, (n,), generator=g), torch.tensor([-1])])
    ids = torch.stack([torch.randperm(n, generator=g)[:width] for _ in range(rows)])
    ids[0, width // 2 :] = n  # padding: past a short list's end
    scores = torch.sort(torch.rand(rows, width, generator=g), dim=1, descending=True).values
    scores[0, width // 2 :] = float("-inf")
    labels = torch.randint(3, (rows,), generator=g)
    relevant = (labels_padded[ids] == labels.unsqueeze(1)) & (scores > float("-inf"))
    hits = torch.cumsum(relevant, 1, dtype=torch.float32)
    ranks = torch.arange(1, width + 1, dtype=torch.float32)
    expected = torch.where(relevant, hits / ranks, 0).sum(1, dtype=torch.float64)
    for budget in (4 * width, 1 << 24):  # one row per part, or all at once
        got = record_rows(scores, ids, labels, labels_padded, 10, budget)
        assert torch.equal(got["ap_sum"], expected) and torch.equal(got["n_relevant"], relevant.sum(1))
        assert torch.equal(got["ids"], ids[:, :10]) and torch.equal(got["scores"], scores[:, :10])
    counts = torch.tensor([width // 2] + [width] * (rows - 1))  # the first list laid end to end without its padding
    flat = record(scores[scores > float("-inf")], ids[ids < n], counts, labels, labels_padded, 10, 1 << 24)
    assert torch.equal(flat["ap_sum"], expected)
