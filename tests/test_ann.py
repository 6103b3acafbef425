"""The indexes practitioners use instead of hashing (IVF-PQ, HNSW, IVF-RaBitQ through FAISS; lshbench/methods/ann.py):
at their exhaustive settings every metric equals exact search's, query-time values share one build, a saved index
loads back to the same rankings, and ill-posed values fail when the config is parsed, naming the field."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from lshbench.batch import run_batch
from lshbench.config import ConfigError, check, validate
from lshbench.evaluate import Evaluator
from lshbench.io import Embeddings
from lshbench.layout import Key, configuration_folder, index_folder
from lshbench.methods import REGISTRY, load_index
from lshbench.metrics import write_metrics
from lshbench.ranking import read_ranking
from lshbench.split import query_split

pytest.importorskip("faiss")

N, Q, DIM = 400, 40, 32


def embeddings(n, rng, centres):
    labels = rng.integers(0, len(centres), n).astype(np.int32)
    vectors = (centres[labels] + rng.normal(size=(n, centres.shape[1]))).astype(np.float32)
    return Embeddings(ids=np.arange(n), labels=labels, vectors=vectors, metadata={})


@pytest.fixture
def space(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(3)
    centres = rng.normal(size=(5, DIM)) * 2
    gallery, query = embeddings(N, rng, centres), embeddings(Q, rng, centres)
    g = gallery.vectors / np.linalg.norm(gallery.vectors, axis=1, keepdims=True)
    q = query.vectors / np.linalg.norm(query.vectors, axis=1, keepdims=True)
    exact = -np.sort(-(q @ g.T), axis=1)[:, :50].astype(np.float32)
    for name in ("gallery", "query"):
        Path(f"{name}.parquet").write_bytes(b"fingerprinted only")
    return gallery, query, exact


def run(keys, gallery, query, exact):
    rows = run_batch(keys, gallery=gallery, query=query, exact_scores=exact, settings={}, seed=0,
                     inputs={"gallery": "gallery.parquet", "query": "query.parquet"}, device=torch.device("cpu"),
                     memory_mb=64, latency_queries=3, progress=False)
    split = query_split(query.ids, query.labels, 0.2)
    for key in keys:
        folder = Path(configuration_folder(key))
        write_metrics(folder, read_ranking(folder / "ranking.parquet"), gallery.labels, exact, split)
    return rows


EXHAUSTIVE = {
    "ivfpq": {"nlist": 8, "M": 8, "nbits": 4, "nprobe": 8, "rerank": N, "seed": 0},
    "rabitq": {"nlist": 8, "nprobe": 8, "rerank": N, "seed": 0},
    "hnsw": {"M": 16, "efConstruction": 100, "efSearch": N},  # M=8 leaves one of these 400 nodes unreachable
}


@pytest.mark.parametrize("method", sorted(EXHAUSTIVE))
def test_at_exhaustive_settings_every_metric_is_exact_searchs(space, method):
    """Every list probed and the whole gallery re-ranked (HNSW: a beam as large as the gallery): the per-query values
    and the stored rankings are exact search's, bit for bit."""
    gallery, query, exact = space
    keys = [Key.of("toy", "raw", "exact", {}), Key.of("toy", "raw", method, EXHAUSTIVE[method])]
    run(keys, gallery, query, exact)
    ours, reference = (pd.read_parquet(Path(configuration_folder(k), "per_query.parquet")) for k in keys[::-1])
    pd.testing.assert_frame_equal(ours, reference, check_exact=True)
    a, b = (read_ranking(Path(configuration_folder(k), "ranking.parquet")) for k in keys[::-1])
    np.testing.assert_array_equal(a.ids, b.ids)
    np.testing.assert_array_equal(a.scores, b.scores)
    np.testing.assert_array_equal(a.ap_sum, b.ap_sum)
    metrics = pd.read_csv(Path(configuration_folder(keys[1]), "metrics.csv")).iloc[0]
    assert metrics["candidates_fraction"] == 1.0 and metrics["distances_per_query"] >= N * 0.9


@pytest.mark.parametrize("method,build,query", [
    ("ivfpq", {"nlist": 8, "M": 8, "nbits": 4}, [{"nprobe": p, "rerank": r} for p in (1, 4) for r in (20, 60)]),
    ("rabitq", {"nlist": 8}, [{"nprobe": p, "rerank": r} for p in (1, 4) for r in (20, 60)]),
    ("hnsw", {"M": 8, "efConstruction": 40}, [{"efSearch": e} for e in (10, 20, 80)]),
])
def test_query_time_values_share_one_build_and_a_saved_index_ranks_the_same(space, monkeypatch, method, build,
                                                                           query):
    import lshbench.batch as batch

    gallery, query_embeddings, exact = space
    fits = []
    real_fit = batch.fit
    monkeypatch.setattr(batch, "fit", lambda index, *a: fits.append(index.params()) or real_fit(index, *a))
    seed = {"seed": 0} if REGISTRY[method].seeded else {}
    keys = [Key.of("toy", "raw", method, {**build, **values, **seed}) for values in query]
    assert [r["status"] for r in run(keys, gallery, query_embeddings, exact)] == ["built"] * len(keys)
    assert len(fits) == 1  # one FAISS build for every query-time value
    folders = {index_folder(k) for k in keys}
    assert len(folders) == 1 and sorted(p.name for p in Path(folders.pop()).parent.iterdir()) == [keys[0].build]
    candidates = [read_ranking(Path(configuration_folder(k), "ranking.parquet")).n_candidates.mean() for k in keys]
    assert candidates == sorted(candidates) or method != "hnsw"  # a wider beam, more candidates
    loaded = load_index(index_folder(keys[0]))
    evaluator = Evaluator(torch.from_numpy(gallery.vectors), torch.from_numpy(gallery.labels),
                          torch.from_numpy(query_embeddings.vectors), torch.from_numpy(query_embeddings.labels))
    for key in keys:
        loaded.set_query(**{k: key.settings[k] for k in REGISTRY[method].query})
        again, _ = evaluator.rankings(loaded, latency_queries=1, search=False)
        stored = read_ranking(Path(configuration_folder(key), "ranking.parquet"))
        np.testing.assert_array_equal(again.ids, stored.ids)
        np.testing.assert_array_equal(again.scores, stored.scores)


def test_a_seed_changes_a_quantiser_and_the_same_seed_repeats_it(space):
    gallery, query, exact = space
    params = {"nlist": 8, "M": 8, "nbits": 4, "nprobe": 2, "rerank": 20}
    keys = [Key.of("toy", "raw", "ivfpq", {**params, "seed": s}) for s in (0, 1)]
    run(keys, gallery, query, exact)
    first = [read_ranking(Path(configuration_folder(k), "ranking.parquet")).ids for k in keys]
    again = REGISTRY["ivfpq"].index_class().build(params, seed=0).fit(torch.from_numpy(gallery.vectors))
    assert np.array_equal(np.load(Path(index_folder(keys[0]), "faiss.npy")), again.arrays()["faiss"].numpy())
    assert not np.array_equal(first[0], first[1])


@pytest.fixture
def demo(repo):
    config = yaml.safe_load((repo / "config.yaml").read_text())
    config.update(yaml.safe_load((repo / "presets" / "demo.yaml").read_text()))
    return config


@pytest.mark.parametrize("method,change,field", [
    ("ivfpq", {"M": [48]}, "grids.ivfpq.M: 48 does not divide the dimension 512"),
    ("ivfpq", {"nbits": [17]}, "grids.ivfpq.nbits[0]: 17 is greater than the maximum of 16"),
    ("ivfpq", {"nlist": [5000]}, "grids.ivfpq.nlist: 5000 lists exceed the 4000 gallery images"),
    ("rabitq", {"nlist": [8], "nprobe": [16]}, "grids.rabitq.nprobe: 16 exceeds nlist 8"),
    ("hnsw", {"efSearch": [0]}, "grids.hnsw.efSearch[0]: 0 is less than the minimum of 1"),
])
def test_ill_posed_values_fail_at_parse_time_naming_the_field(demo, repo, method, change, field):
    config = copy.deepcopy(demo)
    config["datasets"][0]["grids"][method].update(change)
    with pytest.raises(ConfigError) as error:
        validate(config, repo / "schemas" / "config.schema.yaml")
        check(config)
    assert field in str(error.value)
