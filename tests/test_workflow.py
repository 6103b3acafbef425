"""The data and embedding stages end to end through the real Snakemake CLI, on small data written here."""

import copy
import re

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
import torchvision
import yaml

from builders import write_cifar10, write_cifar100, write_hf_parquet, write_imagefolder
from conftest import snakemake
from lshbench.io import read_embeddings, read_metadata

EXPECTED_ROWS = {"c10": (30, 10), "c100": (40, 12), "hf": (16, 8), "own": (9, 6), "digits": (60, 20)}


def planned_jobs(output: str) -> list[tuple[str, dict]]:
    """(rule, wildcards) of every job a dry run lists (group jobs list theirs indented)."""
    jobs = []
    for line in output.splitlines():
        rule = re.match(r"^\s*(?:local)?rule (\w+):$", line)
        if rule:
            jobs.append((rule.group(1), {}))
        wildcards = re.match(r"^\s+wildcards: (.*)$", line)
        if wildcards and jobs:
            jobs[-1][1].update(kv.split("=", 1) for kv in wildcards.group(1).split(", "))
    return jobs


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("wf")
    write_cifar10(root / "resources" / "c10")
    write_cifar100(root / "resources" / "c100")
    write_hf_parquet(root / "hf-data")
    write_imagefolder(root / "images")
    torch.manual_seed(5)
    torch.save(torchvision.models.resnet18().state_dict(), root / "r18.pth")
    config = {
        "seed": 0,
        "embedding": {"batch_size": 16, "num_workers": 0, "threads": 1},
        "datasets": [
            {"name": "c10", "source": "cifar10", "verify_checksums": False},
            {"name": "c100", "source": "cifar100", "verify_checksums": False},
            {"name": "hf", "source": "huggingface", "hf_id": str(root / "hf-data"), "image_column": "img",
             "label_column": "fine"},
            {"name": "own", "source": "imagefolder", "path": str(root / "images"), "query_fraction": 0.4},
            {"name": "digits", "source": "digits", "gallery_limit": 60, "query_limit": 20},
        ],
        "models": [
            {"name": "rand", "arch": "resnet18", "weights": "none", "image_size": 32, "pca": {"dims": [8]}},
            {"name": "local", "arch": "resnet18", "weights": str(root / "r18.pth"), "image_size": 32},
        ],
    }
    snakemake(root, config)
    return root, config


def test_outputs_have_schema_rows_and_metadata(workdir):
    root, _ = workdir
    for dataset, rows in EXPECTED_ROWS.items():
        for space, dim in (("rand", 512), ("local", 512), ("rand-pca8", 8)):
            for split, n in zip(("gallery", "query"), rows):
                path = root / "results" / dataset / "embeddings" / space / f"{split}.parquet"
                schema = pq.read_schema(path)
                assert schema.field("embedding").type == pa.list_(pa.float32(), dim)
                assert schema.field("id").type == pa.int64() and schema.field("label").type == pa.int32()
                emb = read_embeddings(path)
                assert len(emb) == n and np.isfinite(emb.vectors).all()
                meta = read_metadata(path)
                assert (meta["dataset"], meta["split"], meta["space"]) == (dataset, split, space)
        info = (root / "results" / dataset / "embeddings" / "rand-pca8" / "pca.json").read_text()
        assert '"dims": 8' in info
    meta = read_metadata(root / "results" / "c10" / "embeddings" / "local" / "gallery.parquet")
    assert meta["weights"].endswith("r18.pth") and meta["image_size"] == 32 and meta["device"] == "cpu"
    assert (root / "results" / "benchmarks" / "embed" / "c10" / "rand" / "query.tsv").is_file()
    assert "img/s" in (root / "results" / "logs" / "embed" / "c10" / "rand" / "query.log").read_text()


def test_cifar_labels_survive_the_workflow(workdir):
    root, _ = workdir
    truth = write_cifar10(root / "truth")
    emb = read_embeddings(root / "results" / "c10" / "embeddings" / "rand" / "query.parquet")
    np.testing.assert_array_equal(emb.labels, truth["query"][1])
    np.testing.assert_array_equal(emb.ids, np.arange(10))


def test_local_weights_differ_from_random(workdir):
    root, _ = workdir
    a = read_embeddings(root / "results" / "c10" / "embeddings" / "rand" / "query.parquet").vectors
    b = read_embeddings(root / "results" / "c10" / "embeddings" / "local" / "query.parquet").vectors
    assert not np.allclose(a, b)


def test_second_run_has_nothing_to_do(workdir):
    root, _ = workdir
    result = snakemake(root, root / "test-config.yaml", "-n")
    assert "Nothing to be done" in result.output, result.output[-2000:]


def test_changing_one_models_image_size_reruns_only_its_jobs(workdir):
    root, config = workdir
    changed = copy.deepcopy(config)
    changed["models"][1]["image_size"] = 40
    path = root / "changed-config.yaml"
    path.write_text(yaml.safe_dump(changed))
    jobs = [job for job in planned_jobs(snakemake(root, path, "-n").output) if job[0] not in ("all", "checksums")]
    assert sorted((rule, w["space"]) for rule, w in jobs) == [("embed", "local")] * 10
    assert {(w["dataset"], w["split"]) for _, w in jobs} == {(d, s) for d in EXPECTED_ROWS for s in ("gallery", "query")}
    changed["models"][0]["image_size"] = 40
    path.write_text(yaml.safe_dump(changed))
    jobs = [job for job in planned_jobs(snakemake(root, path, "-n").output) if job[0] not in ("all", "checksums")]
    assert sorted({rule for rule, _ in jobs}) == ["embed", "pca"] and len(jobs) == 20 + 5


@pytest.mark.parametrize("change,field", [
    (lambda c: c["models"][1].update(image_size=32.0), "models[1].image_size: 32.0 is not of type 'integer'"),
    (lambda c: c["models"][1].update(arch="resnet19"), "models[1] ('local').arch: 'resnet19' is not"),
])
def test_a_bad_model_value_fails_at_parse_time_and_keeps_its_embeddings(workdir, change, field):
    # both used to pass parsing; Snakemake then deleted the model's embeddings before the failing job ran
    root, config = workdir
    changed = copy.deepcopy(config)
    change(changed)
    path = root / "bad-model.yaml"
    path.write_text(yaml.safe_dump(changed))
    embeddings = {p: p.stat().st_mtime_ns for p in (root / "results").glob("*/embeddings/local/*.parquet")}
    assert len(embeddings) == 10
    result = snakemake(root, path, check=False)
    assert result.returncode != 0 and field in result.output, result.output[-3000:]
    assert {p: p.stat().st_mtime_ns for p in embeddings if p.is_file()} == embeddings


def test_offline_missing_dataset_gives_one_clear_error(tmp_path):
    config = {"datasets": [{"name": "cifar10", "source": "cifar10"}],
              "models": [{"name": "m", "arch": "resnet18", "weights": "none", "image_size": 32}]}
    result = snakemake(tmp_path, config, check=False)
    assert result.returncode != 0
    assert "place cifar-10-python.tar.gz (md5 c58f30108f718f92721af3b95e74349a) in resources/cifar10/" in result.output


def test_offline_missing_weights_names_the_file(tmp_path):
    config = {"datasets": [{"name": "digits", "source": "digits"}],
              "models": [{"name": "m", "arch": "resnet18", "weights": "IMAGENET1K_V1", "image_size": 32}]}
    result = snakemake(tmp_path, config, check=False)
    assert result.returncode != 0
    assert "place resnet18-f37072fd.pth at" in result.output
    assert not (tmp_path / "results" / "digits" / "embeddings" / "m").exists()


def test_a_non_resnet_backbone_runs_through_the_workflow(tmp_path):
    config = {
        "seeds": [0],
        "embedding": {"batch_size": 64, "num_workers": 0, "threads": 1},
        "evaluation": {"threads": 1, "latency_queries": 5},
        "datasets": [{"name": "digits", "source": "digits", "gallery_limit": 200, "query_limit": 50,
                      "grids": {"kmeans": {"K": [5]}}}],
        "models": [{"name": "mnet", "arch": "mobilenet_v3_small", "weights": "none", "image_size": 32}],
        "methods": {"kmeans": {"spaces": ["mnet"]}},
    }
    snakemake(tmp_path, config)
    gallery = read_embeddings(tmp_path / "results" / "digits" / "embeddings" / "mnet" / "gallery.parquet")
    assert gallery.vectors.shape == (200, 1024)  # the features before MobileNetV3's last linear layer
    assert read_metadata(tmp_path / "results" / "digits" / "embeddings" / "mnet" / "query.parquet")["arch"] == \
        "mobilenet_v3_small"
    assert (tmp_path / "results" / "digits" / "metrics" / "mnet" / "kmeans" / "K=5_probes=1_seed=0" / "metrics.csv").is_file()


def test_an_unknown_backbone_is_a_clear_error(tmp_path):
    config = {"datasets": [{"name": "digits", "source": "digits"}],
              "models": [{"name": "m", "arch": "resnet19", "weights": "none", "image_size": 32}]}
    result = snakemake(tmp_path, config, check=False)
    assert result.returncode != 0 and "'resnet19' is not a torchvision classification model" in result.output
