"""Index builds and evaluations through the real Snakemake CLI on scikit-learn's digits (small grids)."""

import copy

import pandas as pd
import pytest
import yaml

from conftest import snakemake
from test_workflow import planned_jobs

CONFIG = {
    "seed": 0,
    "embedding": {"batch_size": 64, "num_workers": 0, "threads": 1},
    "datasets": [{"name": "digits", "source": "digits", "gallery_limit": 300, "query_limit": 60,
                  "grids": {"kmeans": {"K": [5, 10]}, "hyperplane": {"H": [4], "L": [2]}, "neural": {"J": [4]}}}],
    "models": [{"name": "small", "arch": "resnet18", "weights": "none", "image_size": 32, "pca": {"dims": [16]}}],
    "methods": {"kmeans": {"spaces": ["small", "small-pca16"]}, "hyperplane": {"spaces": ["small"], "center": [True]},
                "neural": {"spaces": ["small"], "H": 32, "epochs": 2, "batch_size": 64}},
    "evaluation": {"threads": 1, "latency_queries": 20},
}
CONFIGURATIONS = {
    ("small", "kmeans", "K=5,probes=1"), ("small", "kmeans", "K=10,probes=1"),
    ("small-pca16", "kmeans", "K=5,probes=1"), ("small-pca16", "kmeans", "K=10,probes=1"),
    ("small", "hyperplane", "H=4,L=2,center=true"), ("small", "neural", "H=32,J=4,L=8,networks=shared"),
    ("small", "exact", "all"), ("small-pca16", "exact", "all"),
}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("methods")
    snakemake(root, CONFIG)
    return root


def test_one_metrics_file_per_configuration(workdir):
    combined = pd.read_csv(workdir / "results" / "metrics.csv")
    assert set(zip(combined.space, combined.method, combined.params)) == CONFIGURATIONS
    for space, method, params in CONFIGURATIONS:
        folder = workdir / "results" / "digits" / "metrics" / space / method / params
        row = pd.read_csv(folder / "metrics.csv").iloc[0]
        per_query = pd.read_parquet(folder / "per_query.parquet")
        assert len(per_query) == 60 and row.n_queries == 60 and row.n_gallery == 300
        assert row.precision_at_10 == pytest.approx(per_query.precision_at_10.mean())
        assert row.mAP == pytest.approx(per_query.average_precision.mean())
        assert (workdir / "results" / "digits" / "index" / space / method / params / "index.json").is_file()
        assert row.build_seconds >= 0 and row.latency_p50_ms > 0 and row.latency_queries == 20
    exact = combined[(combined.method == "exact") & (combined.space == "small")].iloc[0]
    assert exact.recall_at_10 == 1.0 and exact.candidates_fraction == 1.0
    kmeans = combined[(combined.params == "K=10,probes=1") & (combined.space == "small")].iloc[0]
    assert kmeans.candidates_fraction < 0.5 and kmeans.K == 10
    losses = pd.read_csv(workdir / "results" / "digits" / "train" / "small" / "neural" / "H=32,networks=shared"
                         / "losses.csv")
    assert list(losses.epoch) == [1, 2] and {"balance", "fence", "supervision", "total"} <= set(losses.columns)


def test_grid_change_runs_only_new_configurations(workdir):
    assert "Nothing to be done" in snakemake(workdir, workdir / "test-config.yaml", "-n").output
    changed = copy.deepcopy(CONFIG)
    changed["datasets"][0]["grids"]["kmeans"]["K"] = [5, 10, 20]
    changed["datasets"][0]["grids"]["neural"]["J"] = [4, 6]
    path = workdir / "changed.yaml"
    path.write_text(yaml.safe_dump(changed))
    jobs = {(rule, w.get("space"), w.get("params")) for rule, w in planned_jobs(snakemake(workdir, path, "-n").output)}
    assert jobs == {
        ("build_index", "small", "K=20,probes=1"), ("evaluate", "small", "K=20,probes=1"),
        ("build_index", "small-pca16", "K=20,probes=1"), ("evaluate", "small-pca16", "K=20,probes=1"),
        ("build_neural", "small", "H=32,J=6,L=8,networks=shared"),
        ("evaluate", "small", "H=32,J=6,L=8,networks=shared"),
        ("collect_metrics", None, None), ("all", None, None),
    }


def test_k_larger_than_the_gallery_fails_clearly(tmp_path):
    config = copy.deepcopy(CONFIG)
    config["datasets"][0]["grids"] = {"kmeans": {"K": [500]}}
    config["methods"] = {"kmeans": {"spaces": ["small"]}}
    result = snakemake(tmp_path, config, check=False)
    assert result.returncode != 0
    assert "kmeans K=500 exceeds the gallery size 300" in result.output
    assert (tmp_path / "results" / "digits" / "embeddings" / "small" / "gallery.parquet").is_file()  # kept
