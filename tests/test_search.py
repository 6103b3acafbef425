"""The search a user's call makes (lshbench.search), timed apart from the evaluation: it returns what the rankings
hold, does none of their bookkeeping, and a configuration whose candidates are the whole gallery is exact search."""

import subprocess
import sys

import numpy as np
import pytest
import torch

from lshbench import kernels
from lshbench import search as search_module
from lshbench.evaluate import Evaluator
from lshbench.methods import ITQ, Exact, HyperplaneLSH, KMeans, MultiProbeLSH
from lshbench.search import Searcher, search_timings


def clustered(n_gallery=1500, n_queries=300, dim=32, classes=10, offset=0.0, seed=0):
    generator = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes, dim, generator=generator)
    labels = torch.randint(classes, (n_gallery + n_queries,), generator=generator)
    x = torch.relu(centres[labels] + torch.randn(len(labels), dim, generator=generator)) + offset
    return x[:n_gallery], labels[:n_gallery], x[n_gallery:], labels[n_gallery:]


def indexes(gallery):
    two_probes = KMeans(20, max_iter=5).fit(gallery)
    two_probes.set_query(probes=2)
    return {"exact": Exact().fit(gallery), "kmeans": KMeans(20, max_iter=5).fit(gallery), "kmeans probes 2": two_probes,
            "hyperplane": HyperplaneLSH(6, 4, center=True).fit(gallery),
            "uncentred": HyperplaneLSH(4, 3, center=False).fit(gallery),
            "multiprobe": MultiProbeLSH(8, 2, probes_radius=1).fit(gallery), "itq": ITQ(8, 2).fit(gallery)}


@pytest.mark.parametrize("union_mean", [0, 10**9], ids=["bucket by bucket", "query by query"])
@pytest.mark.parametrize("memory_mb", [64, 0.05])
def test_the_search_returns_the_rankings_top(memory_mb, union_mean, monkeypatch):
    monkeypatch.setattr(search_module, "UNION_MEAN", union_mean)  # either path for the restricted queries
    gallery, labels, queries, query_labels = clustered()
    evaluator = Evaluator(gallery, labels, queries, query_labels)
    searcher = Searcher(evaluator.gallery_unit, memory_mb, k=100)
    for name, index in indexes(gallery).items():
        ranking, _ = evaluator.rankings(index, keep_top=100, latency_queries=0, search=False)
        scores, ids, _ = searcher.search(index, queries)
        scores, ids = scores.numpy(), ids.numpy()
        finite = np.isfinite(ranking.scores)
        assert (np.isfinite(scores) == finite).all(), name
        np.testing.assert_allclose(scores[finite], ranking.scores[finite], atol=1e-6, err_msg=name)
        # ids agree wherever the similarity is not tied with a neighbour's (the order within a tie is free)
        tied = np.zeros_like(finite)
        tied[:, 1:] |= np.isclose(ranking.scores[:, 1:], ranking.scores[:, :-1], atol=1e-6)
        tied[:, :-1] |= tied[:, 1:].copy() | np.isclose(ranking.scores[:, :-1], ranking.scores[:, 1:], atol=1e-6)
        assert (ids[finite & ~tied] == ranking.ids[finite & ~tied]).all(), name
        assert (ids[~finite] == -1).all(), name
        for i in (0, 7, len(queries) - 1):  # one query answered alone: the same top
            one_scores, one_ids = searcher.search_one(index, queries[i])
            n = int(finite[i].sum())
            np.testing.assert_allclose(np.sort(one_scores.numpy())[::-1][:n], ranking.scores[i, :n], atol=1e-6)


def test_a_bucket_holding_the_whole_gallery_is_exact_search():
    """Uncentred hyperplanes on features far from the origin put every item in one bucket per table: the search is
    then exact search's, to the bit, and the candidates are the whole gallery."""
    gallery, labels, queries, query_labels = clustered(offset=50.0)
    index = HyperplaneLSH(4, 3, center=False, seed=1).fit(gallery)
    assert all(len(k) == 1 for k in index.tables.keys)  # one bucket in each table
    evaluator = Evaluator(gallery, labels, queries, query_labels)
    searcher = Searcher(evaluator.gallery_unit, 64, k=100)
    ours = searcher.search(index, queries)
    exact = searcher.search(Exact().fit(gallery), queries)
    assert torch.equal(ours[0], exact[0]) and torch.equal(ours[1], exact[1])
    ranking, _ = evaluator.rankings(index, latency_queries=0, search=False)
    assert (ranking.n_candidates == len(gallery)).all()
    # the evaluation too: exact search's rankings bit for bit, whether the buckets come as a dense mask (small
    # blocks) or as bucket hits (blocks past the mask's budget)
    exact_ranking, _ = evaluator.rankings(Exact().fit(gallery), latency_queries=0, search=False)
    hits_only = HyperplaneLSH(4, 3, center=False, seed=1).fit(gallery)
    hits_only.bucket_candidates = lambda q: hits_only.tables.lookup_buckets(hits_only.codes(q), mask_budget=0)
    for found in (ranking, evaluator.rankings(hits_only, latency_queries=0, search=False)[0]):
        for field in ("ids", "scores", "n_candidates", "n_relevant", "ap_sum"):
            assert np.array_equal(getattr(found, field), getattr(exact_ranking, field)), field
    for i in (0, 5):
        a, b = searcher.search_one(index, queries[i]), searcher.search_one(Exact().fit(gallery), queries[i])
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_the_timed_search_does_no_bookkeeping(monkeypatch):
    """With every piece of the evaluation's bookkeeping made to fail, the timed search still runs, and the search
    module does not even import the evaluation, the rankings or the metrics."""
    gallery, labels, queries, query_labels = clustered()
    evaluator = Evaluator(gallery, labels, queries, query_labels)

    def refuse(*args, **kwargs):
        raise AssertionError("bookkeeping inside the timed search")

    from lshbench import rank_buckets, rank_dense, rank_lists, scoring

    for module in (scoring, rank_lists, rank_buckets, rank_dense):  # the one record, wherever it was imported
        for name in ("record", "record_rows"):
            if hasattr(module, name):
                monkeypatch.setattr(module, name, refuse)
    for path in (rank_dense.DensePath, rank_lists.ListPath, rank_buckets.BucketPath):
        monkeypatch.setattr(path, "block", refuse)
    monkeypatch.setattr(rank_dense.DensePath, "rank_all", refuse)
    monkeypatch.setattr(kernels, "relevant_ranks", refuse)
    for name, index in indexes(gallery).items():
        timings = search_timings(Searcher(evaluator.gallery_unit, 64), index, queries, latency_queries=5)
        assert timings["search_seconds"] > 0 and timings["queries_per_second"] > 0, name
        assert timings["search_p50_ms"] > 0 and timings["candidate_seconds"] <= timings["search_seconds"], name
    loaded = subprocess.run([sys.executable, "-c", "import sys, lshbench.search; print(sorted(m for m in sys.modules "
                             "if m.startswith('lshbench')))"], capture_output=True, text=True, check=True).stdout
    for module in ("lshbench.evaluate", "lshbench.ranking", "lshbench.metrics", "lshbench.kernels",
                   "lshbench.scoring", "lshbench.rank_dense", "lshbench.rank_lists", "lshbench.rank_buckets"):
        assert f"'{module}'" not in loaded


class FixedBuckets:
    """An index whose buckets are given: query j hits ``buckets[j]`` (lists of gallery ids), each a bucket of its
    own (lshbench.search.hits_of reads ``hits``)."""

    def __init__(self, buckets, n_gallery):
        from lshbench.candidates import BucketCandidates

        members = [torch.as_tensor(sorted(b), dtype=torch.int64) for bs in buckets for b in bs]
        lengths = torch.tensor([len(m) for m in members])
        self.found = BucketCandidates(
            torch.tensor([j for j, bs in enumerate(buckets) for _ in bs]), torch.arange(len(members)),
            torch.cumsum(lengths, 0) - lengths, lengths, torch.cat(members), len(buckets), n_gallery)

    def hits(self, queries):
        return self.found


def test_buckets_holding_most_of_the_gallery_return_their_own_top():
    """Queries whose buckets hold more than half the gallery are scored against all of it and restricted to their
    members: members among the best (their top k is found among the gallery's top 2k) and members among the
    worst (the whole row masked), beside a query with a small bucket, return the top k of their members."""
    generator = torch.Generator().manual_seed(3)
    gallery, queries = torch.randn(600, 16, generator=generator), torch.randn(3, 16, generator=generator)
    unit = torch.nn.functional.normalize(gallery, dim=1)
    order = torch.argsort(torch.nn.functional.normalize(queries, dim=1) @ unit.T, dim=1, descending=True)
    buckets = [[order[0, :250].tolist(), order[0, 200:400].tolist()],  # the best 400, in two buckets
               [order[1, 240:].tolist()],  # the worst 360: none in the gallery's top 200
               [order[2, 50:90].tolist()]]  # a small bucket: scored bucket by bucket
    searcher = Searcher(unit, 64, k=100)
    scores, ids, _ = searcher.search(FixedBuckets(buckets, 600), queries)
    for j, bs in enumerate(buckets):
        members = torch.tensor(sorted(set(sum(bs, []))))
        expected = torch.topk(unit[members] @ torch.nn.functional.normalize(queries[j], dim=0), min(100, len(members)))
        n = len(expected.values)
        np.testing.assert_allclose(scores[j, :n].numpy(), expected.values.numpy(), atol=1e-6)
        assert set(ids[j, :n].tolist()) == set(members[expected.indices].tolist())
        assert (ids[j, n:] == -1).all() and torch.isinf(scores[j, n:]).all()


def test_every_pool_runs_at_the_jobs_thread_count():
    """torch's, numba's and every BLAS/OpenMP library's threads follow one count; numpy's own BLAS stays at one (the
    search spreads its products over its own threads)."""
    import os

    import numba
    from threadpoolctl import threadpool_info

    from lshbench import threads

    numpy_dir = os.path.dirname(os.path.dirname(os.path.realpath(np.__file__)))

    def numpys(path: str) -> bool:
        return os.path.relpath(os.path.realpath(path), numpy_dir).startswith("numpy")

    previous = torch.get_num_threads()
    try:
        for count in (1, 2):
            threads.use(count)
            assert torch.get_num_threads() == count and numba.get_num_threads() == min(
                count, numba.config.NUMBA_NUM_THREADS)
            numpy_blas = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"
                          and numpys(p["filepath"])]
            others = {p["num_threads"] for p in threadpool_info() if p["user_api"] != "blas"
                      or not numpys(p["filepath"])}
            assert numpy_blas == [1] and others == {count}, threadpool_info()
        torch.set_num_threads(1)  # a later change of torch's count alone: the others follow it
        threads.follow_torch()
        assert {p["num_threads"] for p in threadpool_info()} == {1}
    finally:
        threads.use(previous)
