"""Rankings stored, metrics derived: the ranking file, the metric registry, and query-time parameters that share one
build (run_batch, the method job's code)."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from lshbench import metrics
from lshbench.batch import run_batch
from lshbench.layout import Key, configuration_folder, index_folder
from lshbench.evaluate import Evaluator
from lshbench.io import Embeddings
from lshbench.methods import KMeans, MultiProbeLSH
from lshbench.ranking import Ranking, read_ranking, write_ranking


def ranking(ids, scores, labels, n_candidates=None, **extra) -> Ranking:
    ids = np.asarray(ids, dtype=np.int64)
    scores = np.asarray(scores, dtype=np.float32)
    n = np.asarray(n_candidates if n_candidates is not None else (ids >= 0).sum(1), dtype=np.int64)
    return Ranking(ids=ids, scores=scores, n_candidates=n, n_relevant=np.zeros(len(ids), dtype=np.int64),
                   ap_sum=np.zeros(len(ids)), query_ids=np.arange(len(ids)), labels=np.asarray(labels), **extra)


def padded(rows, width=100):
    """Lists of gallery ids -> (ids padded with -1, scores descending padded with -inf)."""
    ids = np.full((len(rows), width), -1)
    scores = np.full((len(rows), width), -np.inf, dtype=np.float32)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = row
        scores[i, : len(row)] = np.linspace(1, 0.5, len(row))
    return ids, scores


def test_a_ranking_file_reads_back_exactly(tmp_path):
    rng = np.random.default_rng(0)
    stored = Ranking(ids=rng.integers(-1, 1000, (7, 100)), scores=rng.normal(size=(7, 100)).astype(np.float32),
                     n_candidates=rng.integers(0, 500, 7), n_relevant=rng.integers(0, 50, 7),
                     ap_sum=rng.random(7), query_ids=np.arange(10, 17), labels=rng.integers(0, 5, 7).astype(np.int32),
                     metadata={"row": {"dataset": "d", "K": 5, "tol": None}, "n_gallery": 1000})
    write_ranking(tmp_path / "ranking.parquet", stored)
    back = read_ranking(tmp_path / "ranking.parquet")
    for name in ("ids", "scores", "n_candidates", "n_relevant", "ap_sum", "query_ids", "labels"):
        np.testing.assert_array_equal(getattr(back, name), getattr(stored, name), err_msg=name)
    assert back.metadata == stored.metadata and list(back.metadata["row"]) == ["dataset", "K", "tol"]


def test_a_truncated_ranking_names_the_file_and_the_fix(tmp_path):
    from lshbench.io import UnreadableFile

    path = tmp_path / "ranking.parquet"
    write_ranking(path, ranking(*padded([[1, 2]]), [0]))
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(UnreadableFile, match="ranking.parquet cannot be read.*--forcerun"):
        read_ranking(path)


def test_ndcg_and_precision_at_100_by_hand():
    gallery_labels = np.array([0] * 3 + [1] * 200)
    # query 0 (label 0): relevant at ranks 1 and 3 of 4; the gallery has 3 of label 0
    # query 1 (label 1): 150 candidates, the first 100 alternate relevant / not
    rows = [[0, 3, 1, 4], [3 + i if i % 2 == 0 else i % 3 for i in range(100)]]  # the first 100 of 150 stored
    ids, scores = padded(rows)
    values = metrics.per_query(ranking(ids, scores, [0, 1], n_candidates=[4, 150]), gallery_labels, None)
    dcg = 1 + 1 / np.log2(4)
    ideal = 1 + 1 / np.log2(3) + 1 / np.log2(4)  # three items of label 0: the ideal list has three hits
    assert values["ndcg_at_10"][0] == pytest.approx(dcg / ideal)
    assert values["precision_at_100"][0] == pytest.approx(2 / 4)  # the report's convention: over the 4 retrieved
    discounts = 1 / np.log2(np.arange(2, 12))
    assert values["ndcg_at_10"][1] == pytest.approx(discounts[::2].sum() / discounts.sum())
    assert values["precision_at_100"][1] == pytest.approx(0.5)
    assert "recall_at_10" not in values  # no exact neighbours given


def test_a_ranking_shorter_than_the_deepest_metric_is_refused_naming_keep_top():
    ids, scores = padded([[0, 1]], width=50)
    with pytest.raises(ValueError, match="evaluation.keep_top to at least 100"):
        metrics.per_query(ranking(ids, scores, [0]), np.array([0, 0]), None)


def test_metrics_from_a_stored_ranking_equal_the_in_process_ones(tmp_path):
    rng = np.random.default_rng(1)
    gallery = torch.from_numpy(rng.normal(size=(500, 16)).astype(np.float32))
    labels = torch.from_numpy(rng.integers(0, 4, 500))
    queries = torch.from_numpy(rng.normal(size=(40, 16)).astype(np.float32))
    query_labels = torch.from_numpy(rng.integers(0, 4, 40))
    from lshbench.evaluate import exact_top_k

    exact = exact_top_k(gallery, queries, 50)[1]
    evaluator = Evaluator(gallery, labels, queries, query_labels, exact)
    index = KMeans(8, max_iter=5).fit(gallery)
    in_process, summary = metrics.evaluate(evaluator, index, latency_queries=2)
    stored, _ = evaluator.rankings(index, latency_queries=2)
    stored.query_ids = np.arange(40)
    write_ranking(tmp_path / "ranking.parquet", stored)
    derived = metrics.per_query(read_ranking(tmp_path / "ranking.parquet"), labels.numpy(), exact.numpy())
    assert list(derived) == list(in_process)
    for name in derived:
        np.testing.assert_array_equal(derived[name], in_process[name], err_msg=name)
    assert summary["mAP"] == float(derived["average_precision"].mean())


def embeddings(n, rng, centres):
    labels = rng.integers(0, len(centres), n).astype(np.int32)
    vectors = (centres[labels] + rng.normal(size=(n, centres.shape[1]))).astype(np.float32)
    return Embeddings(ids=np.arange(n), labels=labels, vectors=vectors, metadata={})


@pytest.fixture
def data(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(2)
    centres = rng.normal(size=(6, 12)) * 3
    gallery, query = embeddings(600, rng, centres), embeddings(50, rng, centres)
    g = gallery.vectors / np.linalg.norm(gallery.vectors, axis=1, keepdims=True)
    q = query.vectors / np.linalg.norm(query.vectors, axis=1, keepdims=True)
    exact = -np.sort(-(q @ g.T), axis=1)[:, :50].astype(np.float32)
    for name in ("gallery", "query"):
        (tmp_path / f"{name}.parquet").write_bytes(b"fingerprinted only")
    return gallery, query, exact


def run(configs, gallery, query, exact, settings):
    return run_batch(configs, gallery=gallery, query=query, exact_scores=exact,
                     inputs={"gallery": "gallery.parquet", "query": "query.parquet"}, settings=settings, seed=0,
                     device=torch.device("cpu"), memory_mb=64, latency_queries=3, progress=False)


def test_kmeans_probes_share_one_build_and_are_evaluated_each(data, monkeypatch):
    import lshbench.batch as batch

    gallery, query, exact = data
    fits = []
    real_fit = batch.fit
    monkeypatch.setattr(batch, "fit", lambda index, *a: fits.append(index.params()["K"]) or real_fit(index, *a))
    settings = {"algorithm": "lloyd", "max_iter": 10, "tol": 0.0001, "init_sample": None}
    configs = [Key.of("toy", "raw", "kmeans", {"K": 100, "probes": p, "seed": 0}) for p in (1, 2, 4)]
    assert [row["status"] for row in run(configs, gallery, query, exact, settings)] == ["built"] * 3
    assert fits == [100]  # one k-means fit for three probe values
    folders = sorted(p.name for p in (Path(index_folder(configs[0])).parent).iterdir())
    assert folders == ["K=100_seed=0"]
    info = json.loads((Path(index_folder(configs[0])) / "index.json").read_text())
    assert "probes" not in info["params"] and info["query_params"] == ["probes"]
    candidates = [read_ranking(Path(configuration_folder(c)) / "ranking.parquet").n_candidates.mean() for c in configs]
    assert candidates[0] < candidates[1] < candidates[2]  # more clusters probed, more candidates
    # each probe value evaluated as a fresh index with that value would be
    index = KMeans(100, max_iter=10, tol=0.0001).fit(torch.from_numpy(gallery.vectors))
    evaluator = Evaluator(torch.from_numpy(gallery.vectors), torch.from_numpy(gallery.labels),
                          torch.from_numpy(query.vectors), torch.from_numpy(query.labels), torch.from_numpy(exact))
    for config, probes in zip(configs, (1, 2, 4)):
        index.set_query(probes=probes)
        fresh, _ = evaluator.rankings(index, latency_queries=1)
        stored = read_ranking(Path(configuration_folder(config)) / "ranking.parquet")
        np.testing.assert_array_equal(stored.ids, fresh.ids)
        assert stored.metadata["row"]["probes"] == probes and stored.metadata["row"]["params"] == config.folder
    fits.clear()
    assert [row["status"] for row in run(configs, gallery, query, exact, settings)] == ["kept"] * 3
    assert fits == []


def test_multiprobe_radii_share_one_set_of_tables(data, monkeypatch):
    import lshbench.batch as batch

    gallery, query, exact = data
    fits = []
    real_fit = batch.fit
    monkeypatch.setattr(batch, "fit", lambda index, *a: fits.append(index.params()) or real_fit(index, *a))
    configs = [Key.of("toy", "raw", "multiprobe", {"H": 6, "L": 2, "probes_radius": r, "center": True, "seed": 0}) for r in (0, 1, 2)]
    run(configs, gallery, query, exact, {})
    assert len(fits) == 1
    assert sorted(p.name for p in Path(index_folder(configs[0])).parent.iterdir()) == ["H=6_L=2_center=true_seed=0"]
    for config, radius in zip(configs, (0, 1, 2)):  # the same candidates as tables built for that radius alone
        own = MultiProbeLSH(6, 2, probes_radius=radius, center=True, seed=0).fit(torch.from_numpy(gallery.vectors))
        expected = own.candidates(torch.from_numpy(query.vectors)).counts().numpy()
        stored = read_ranking(Path(configuration_folder(config)) / "ranking.parquet")
        np.testing.assert_array_equal(stored.n_candidates, expected)
    with pytest.raises(ValueError, match="probes_radius"):
        own.set_query(probes_radius=7)


def test_a_query_parameter_out_of_range_is_refused():
    index = KMeans(5, max_iter=2).fit(torch.randn(50, 4))
    with pytest.raises(ValueError, match="probes <= K"):
        index.set_query(probes=6)
    with pytest.raises(ValueError, match="no query parameter 'nprobe'"):
        index.set_query(nprobe=2)


def test_every_measure_has_a_definition_and_known_needs():
    assert metrics.depth() == 100
    for measure in metrics.MEASURES.values():
        assert measure.definition and set(measure.needs) <= set(metrics.NEEDS)
    assert list(metrics.AGGREGATES)[:6] == ["precision_at_10", "precision_at_50", "strict_precision_at_10",
                                            "strict_precision_at_50", "mAP", "mAP_all"]
