"""Precomputed features (source: embeddings) run through every method and table; bad files fail at the start."""

import numpy as np
import pandas as pd
import pytest

from conftest import snakemake
from lshbench.sources import DatasetUnavailable, load_precomputed
from lshbench.io import Embeddings, read_embeddings, write_embeddings


def clustered(n, dim=12, classes=4, seed=0):
    centres = np.random.default_rng(42).normal(size=(classes, dim)) * 3  # the same classes in both splits
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % classes
    return (centres[labels] + rng.normal(size=(n, dim))).astype(np.float32), labels


@pytest.fixture
def files(tmp_path):
    gallery, gallery_labels = clustered(120)
    query, query_labels = clustered(30, seed=1)
    np.save(tmp_path / "gallery.npy", gallery)
    np.save(tmp_path / "gallery_labels.npy", gallery_labels)
    np.save(tmp_path / "query.npy", query)
    (tmp_path / "query_labels.txt").write_text("\n".join(map(str, query_labels)) + "\n")
    write_embeddings(tmp_path / "query.parquet",
                     Embeddings(np.arange(30) + 1000, query_labels.astype(np.int32), query, {"model": "mine"}))
    return tmp_path


def settings(files, **changes):
    return {"name": "mine", "source": "embeddings", "space": "feats", "seed": 0,
            "gallery_file": str(files / "gallery.npy"),
            "gallery_labels": str(files / "gallery_labels.npy"), "query_file": str(files / "query.npy"),
            "query_labels": str(files / "query_labels.txt"), **changes}


def test_npy_and_parquet_features_run_through_the_workflow(files):
    config = {
        "evaluation": {"threads": 1, "latency_queries": 5},
        "datasets": [{"name": "mine", "source": "embeddings", "space": "feats",
                      "gallery_file": str(files / "gallery.npy"), "gallery_labels": str(files / "gallery_labels.npy"),
                      "query_file": str(files / "query.parquet"),
                      "grids": {"kmeans": {"K": [4]}, "hyperplane": {"H": [3], "L": [2]}}}],
        "models": [{"name": "unused", "arch": "resnet18", "weights": "none"}],
        "methods": {"kmeans": {"spaces": ["feats"]}, "hyperplane": {"spaces": ["feats"], "center": [True]}},
    }
    work = files / "work"
    work.mkdir()
    snakemake(work, config)
    results = work / "results"
    query = read_embeddings(results / "mine" / "embeddings" / "feats" / "query.parquet")
    assert query.ids.tolist() == list(range(1000, 1030)) and query.dim == 12  # the Parquet file's ids kept
    metrics = pd.read_csv(results / "metrics.csv")
    assert set(metrics.method) == {"kmeans", "hyperplane", "exact"}
    exact = metrics[metrics.method == "exact"].iloc[0]
    assert exact.precision_at_10 > 0.9  # well-separated clusters
    assert not (work / "resources").exists()  # nothing downloaded, nothing embedded
    assert not (results / "mine" / "embeddings" / "unused").exists()
    assert (results / "tables" / "figure1_kmeans.csv").is_file()


@pytest.mark.parametrize("change, message", [
    (lambda f: np.save(f / "gallery.npy", np.ones(5, np.float32)), "gallery vectors must be a 2-D"),
    (lambda f: np.save(f / "gallery.npy", np.full((120, 12), np.nan, np.float32)), "120 gallery vector(s) hold NaN"),
    (lambda f: np.save(f / "gallery_labels.npy", np.zeros(7, np.int64)), "7 labels for 120 gallery vectors"),
    (lambda f: np.save(f / "query.npy", np.ones((30, 5), np.float32)), "query vectors have 5 features, the gallery"),
    (lambda f: (f / "query_labels.txt").write_text("a\nb\n"), "labels must be one integer per line"),
    (lambda f: np.save(f / "gallery.npy", np.vstack([np.zeros((1, 12), np.float32), clustered(119)[0]])),
     "1 gallery vector(s) are all zeros (first at row 0); cosine similarity is undefined"),
])
def test_bad_feature_files_fail_naming_the_file(files, change, message):
    change(files)
    with pytest.raises(DatasetUnavailable) as error:
        load_precomputed(settings(files))
    assert message in str(error.value)
    assert str(files) in str(error.value)


def test_limits_apply_to_imported_features(files):
    gallery, query = load_precomputed(settings(files, gallery_limit=40))
    assert len(gallery) == 40 and np.bincount(gallery.labels).tolist() == [10] * 4 and len(query) == 30


def test_truncated_user_file_is_to_be_replaced_not_forcerun(files):
    path = files / "query.parquet"
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) - 40])
    with pytest.raises(DatasetUnavailable) as error:
        load_precomputed(settings(files, query_file=str(path), query_labels=None))
    message = str(error.value)
    assert f"Replace {path} with a whole copy" in message and "forcerun" not in message
    assert "query_file" in message and "'mine'" in message


def test_parquet_features_with_string_labels_say_labels_must_be_integers(files):
    import pyarrow as pa
    import pyarrow.parquet as pq

    vectors, labels = clustered(30, seed=1)
    path = files / "named.parquet"
    pq.write_table(pa.table({"id": np.arange(30), "label": [f"class{l}" for l in labels],
                             "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), 12)}), path)
    with pytest.raises(DatasetUnavailable) as error:
        load_precomputed(settings(files, query_file=str(path), query_labels=None))
    message = str(error.value)
    assert f"{path}: column 'label' holds string; labels must be integers" in message
    assert "map class names to integers" in message and "whole copy" not in message


def test_parquet_features_without_lshbench_metadata_are_read(files):
    import pyarrow as pa
    import pyarrow.parquet as pq

    vectors, labels = clustered(30, seed=1)
    path = files / "plain.parquet"
    pq.write_table(pa.table({"id": np.arange(30), "label": labels,
                             "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), 12)}), path)
    _, query = load_precomputed(settings(files, query_file=str(path), query_labels=None))
    assert np.array_equal(query.vectors, vectors) and np.array_equal(query.labels, labels)
