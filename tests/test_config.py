"""Bad configs fail at parse time (a dry run), naming the field; the default config dry-runs offline."""

import copy

import pytest
import yaml

from conftest import snakemake
from lshbench.config import plan, validate

GOOD = {
    "datasets": [{"name": "digits", "source": "digits"}],
    "models": [{"name": "m", "arch": "resnet18", "weights": "none", "image_size": 32}],
}


def with_change(change):
    config = copy.deepcopy(GOOD)
    change(config)
    return config


BAD = {
    "unknown top-level key": (lambda c: c.update(sed=1), ["'sed' was unexpected"]),
    "unknown dataset source": (lambda c: c["datasets"][0].update(source="cifar11"), ["'cifar11' is not one of"]),
    "image size of wrong type": (lambda c: c["models"][0].update(image_size="big"), ["'big' is not of type 'integer'",
                                                                                      "image_size"]),
    "huggingface without hf_id": (lambda c: c["datasets"].append({"name": "inet", "source": "huggingface"}),
                                  ["'hf_id' is a required property"]),
    "duplicate dataset name": (lambda c: c["datasets"].append({"name": "digits", "source": "mnist5k"}),
                               ["name 'digits' is used twice"]),
    "weights file missing": (lambda c: c["models"][0].update(weights="no/such/file.pth"),
                             ["models[0] ('m').weights", "no/such/file.pth"]),
    "pca larger than the embedding": (lambda c: c["models"][0].update(pca={"dims": [600]}),
                                      ["models[0] ('m').pca.dims", "600"]),
    "negative query limit": (lambda c: c["datasets"][0].update(query_limit=-5), ["-5 is less than the minimum of 1",
                                                                                 "query_limit"]),
    "unknown device": (lambda c: c.update(device="gpu"), ["'gpu' does not match", "device"]),
    "query fraction of one": (lambda c: c["datasets"][0].update(query_fraction=1.0), ["query_fraction"]),
    "no datasets": (lambda c: c.update(datasets=[]), ["[] should be non-empty"]),
    "unknown model key": (lambda c: c["models"][0].update(image_sizes=64), ["'image_sizes' was unexpected"]),
    "query split equal to the gallery split": (
        lambda c: c["datasets"].append({"name": "inet", "source": "huggingface", "hf_id": "x/y",
                                        "gallery_split": "train", "query_split": "train"}),
        ["datasets[1] ('inet').query_split: 'train' is also the gallery_split", "rank 1"]),
    "unknown embedding precision": (lambda c: c.update(embedding={"precision": "fp16"}),
                                    ["'fp16' is not one of ['fp32', 'bf16']"]),
    "standardize not a list": (lambda c: c.update(methods={"neural": {"standardize": True}}),
                               ["True is not of type 'array'"]),
    "dataset name with a trailing newline": (lambda c: c["datasets"][0].update(name="digits\n"),
                                             ["datasets[0].name: 'digits\\n' must be lower-case letters"]),
    "model name with a trailing newline": (lambda c: c["models"][0].update(name="m\n"), ["models[0].name: 'm\\n'"]),
    "device with a trailing newline": (lambda c: c.update(device="cpu\n"), ["device: 'cpu\\n' must be"]),
    "query limit below the classes": (lambda c: c["datasets"][0].update(query_limit=5),
                                      ["datasets[0] ('digits').query_limit: 5 is below the 10 classes"]),
    "gallery limit below the classes": (lambda c: c["datasets"][0].update(gallery_limit=9),
                                        ["gallery_limit: 9 is below the 10 classes"]),
    "K above the gallery limit": (
        lambda c: (c["datasets"][0].update(gallery_limit=300, grids={"kmeans": {"K": [5, 500]}}),
                   c.update(methods={"kmeans": {"spaces": ["m"]}})),
        ["datasets[0] ('digits').grids.kmeans.K: 500 exceeds the 300 gallery images"]),
    "grid without spaces": (lambda c: c["datasets"][0].update(grids={"kmeans": {"K": [5]}}),
                            ["methods.kmeans.spaces is empty but datasets ['digits'] have a grids.kmeans"]),
    "spaces without a grid": (lambda c: c.update(methods={"hyperplane": {"spaces": ["m"]}}),
                              ["methods.hyperplane.spaces is set (['m']) but no dataset has a grids.hyperplane"]),
    "colliding pca space names": (lambda c: c["models"][0].update(pca={"variance": [0.95, 0.9500001]}),
                                  ["give the same space name 'm-pcavar95'"]),
    # values that passed parsing and failed only inside a job (issue 16), some deleting embeddings first
    "K of 5.0": (lambda c: (c["datasets"][0].update(grids={"kmeans": {"K": [5.0]}}),
                            c.update(methods={"kmeans": {"spaces": ["m"]}})),
                 ["datasets[0].grids.kmeans.K[0]: 5.0 is not of type 'integer'", "5, not 5.0"]),
    "L of 2.0": (lambda c: (c["datasets"][0].update(grids={"hyperplane": {"H": [4], "L": [2.0]}}),
                            c.update(methods={"hyperplane": {"spaces": ["m"]}})),
                 ["datasets[0].grids.hyperplane.L[0]: 2.0 is not of type 'integer'"]),
    "embedding batch size of 64.0": (lambda c: c.update(embedding={"batch_size": 64.0}),
                                     ["embedding.batch_size: 64.0 is not of type 'integer'"]),
    "image size of 32.0": (lambda c: c["models"][0].update(image_size=32.0),
                           ["models[0].image_size: 32.0 is not of type 'integer'"]),
    "neural epochs of 2.0": (lambda c: (c["datasets"][0].update(grids={"neural": {"J": [4]}}),
                                        c.update(methods={"neural": {"spaces": ["m"], "epochs": 2.0}})),
                             ["methods.neural.epochs: 2.0 is not of type 'integer'"]),
    "evaluation threads of 1.0": (lambda c: c.update(evaluation={"threads": 1.0}),
                                  ["evaluation.threads: 1.0 is not of type 'integer'"]),
    "embedding threads of 1.0": (lambda c: c.update(embedding={"threads": 1.0}),
                                 ["embedding.threads: 1.0 is not of type 'integer'"]),
    "unknown arch": (lambda c: c["models"][0].update(arch="resnet19"),
                     ["models[0] ('m').arch: 'resnet19' is not a torchvision classification model",
                      "did you mean resnet18"]),
    "arch with a trailing newline": (lambda c: c["models"][0].update(arch="resnet18\n"),
                                     ["models[0] ('m').arch: 'resnet18\\n' is not a torchvision classification"]),
    "arch without a linear classifier": (lambda c: c["models"][0].update(arch="squeezenet1_0"),
                                         ["models[0] ('m').arch: 'squeezenet1_0' is not"]),
    # a field of another source passed and re-planned every job of a finished run (issue 26)
    "a Hugging Face field on a digits dataset": (
        lambda c: c["datasets"][0].update(hf_id="x"),
        ["datasets[0] ('digits').hf_id: not a field of source 'digits' (it is a field of source huggingface)",
         "Source 'digits' takes query_fraction, besides every source's name, source"]),
    "an ImageFolder path on a CIFAR dataset": (
        lambda c: c["datasets"].append({"name": "c10", "source": "cifar10", "path": "images"}),
        ["datasets[1] ('c10').path: not a field of source 'cifar10' (it is a field of source imagefolder)"]),
    "a misspelt field of the dataset's source": (
        lambda c: c["datasets"].append({"name": "inet", "source": "huggingface", "hf_idd": "x/y"}),
        ["datasets[1] ('inet').hf_idd: not a field of source 'huggingface' (did you mean hf_id?)"]),
}


def test_a_source_fills_in_its_own_defaults_only(repo):
    config = copy.deepcopy(GOOD)
    config["datasets"].append({"name": "inet", "source": "huggingface", "hf_id": "x/y"})
    validate(config, repo / "schemas" / "config.schema.yaml")
    digits, inet = config["datasets"]
    assert digits["query_fraction"] == 0.2 and not {"hf_config", "image_column", "path", "classes"} & set(digits)
    assert inet["image_column"] == "image" and inet["query_split"] == "test" and "query_fraction" not in inet


def test_imagefolder_query_path_equal_to_path_is_rejected(tmp_path):
    folder = tmp_path / "images"
    (folder / "a").mkdir(parents=True)
    config = with_change(lambda c: c["datasets"].append(
        {"name": "folder", "source": "imagefolder", "path": str(folder), "query_path": str(folder) + "/"}))
    result = snakemake(tmp_path, config, "-n", check=False)
    assert result.returncode != 0
    assert "datasets[1] ('folder').query_path" in result.output and "rank 1" in result.output


def test_good_config_dry_runs(tmp_path):
    result = snakemake(tmp_path, GOOD, "-n")
    assert "embed" in result.output


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_config_fails_before_any_job_naming_the_field(tmp_path, case):
    change, expected = BAD[case]
    result = snakemake(tmp_path, with_change(change), "-n", check=False)
    assert result.returncode != 0
    for text in expected:
        assert text in result.output, f"{case}: {text!r} not in:\n{result.output[-3000:]}"
    assert not (tmp_path / "results").exists() and not (tmp_path / "resources").exists()


def test_default_config_dry_runs_offline(tmp_path, repo):
    result = snakemake(tmp_path, repo / "config.yaml", "-n")
    counts = {line.split()[0]: int(line.split()[1]) for line in result.output.splitlines()
              if len(line.split()) == 2 and line.split()[1].isdigit()}
    assert counts["download"] == 3  # cifar10, cifar100, imagenet
    assert counts["fetch_weights"] == 2  # resnet18, resnet50 IMAGENET1K_V1
    assert counts["embed"] == 3 * 2 * 2  # datasets x models x splits
    assert counts["pca"] == 3 * 2  # 248 dims and 95% variance on ResNet-18
    seeds = 5  # config.yaml's seeds: every randomised configuration five times, exact search once
    kmeans = 2 * (5 + 5 + 4) * 3 * seeds  # Figure 1: two spaces x (CIFAR-10, CIFAR-100, ImageNet grids) x probes 1, 2, 4
    hyperplane = 3 * (5 + 5 + 4) * seeds  # Figure 2: L in 3, 6, 12
    neural = 2 * (4 + 4 + 3) * seeds  # Figure 4, standardised and as the report (standardize: [true, false])
    exact = 3 * 3  # resnet18, resnet18-pca248, resnet50 on each dataset
    # the ANN indexes on ResNet-18 (CIFAR-10, CIFAR-100; ImageNet): IVF-PQ and RaBitQ seeded, HNSW deterministic
    ivfpq = (2 * (2 * 7 * 2) + 1 * 5 * 2) * seeds  # M in 32, 64 on CIFAR; nprobe x rerank
    rabitq = (2 * (7 * 2) + 5 * 2) * seeds
    hnsw = 2 * (2 * 7) + 4  # M in 8, 32 on CIFAR x efSearch; ImageNet: 4 efSearch
    assert counts["train"] == 2 * 3 * seeds  # a network per standardize value, dataset and seed
    # one job per dataset, space and method builds and evaluates all of that grid's configurations
    assert counts["run_method"] == 3 * (2 + 1 + 1 + 3 + 3)  # k-means on 2 spaces, hyperplanes, neural, exact on 3, ANN
    assert counts["metrics"] == counts["run_method"]  # each method job's metrics, derived from its rankings
    config = yaml.safe_load((repo / "config.yaml").read_text())
    validate(config, repo / "schemas" / "config.schema.yaml")
    assert len(plan(config)) == kmeans + hyperplane + neural + exact + ivfpq + rabitq + hnsw
    assert counts["exact_neighbours"] == 3 * 3


def test_method_space_must_exist(tmp_path):
    config = with_change(lambda c: c.update(methods={"kmeans": {"spaces": ["m-pca248"]}}))
    result = snakemake(tmp_path, config, "-n", check=False)
    assert result.returncode != 0 and "methods.kmeans.spaces: 'm-pca248' is not an embedding space" in result.output


def test_neural_j_larger_than_h(tmp_path):
    config = with_change(lambda c: (c["datasets"][0].update(grids={"neural": {"J": [900]}}),
                                    c.update(methods={"neural": {"spaces": ["m"]}})))
    result = snakemake(tmp_path, config, "-n", check=False)
    assert result.returncode != 0 and "grids.neural.J: 900 exceeds methods.neural.H = 800" in result.output


def test_the_shipped_model_list_is_torchvisions_classification_models_with_a_linear_classifier():
    import torch
    import torchvision

    from lshbench.config import TORCHVISION_MODELS

    everything = torchvision.models.list_models(module=torchvision.models)
    without_linear = {"squeezenet1_0", "squeezenet1_1"}  # their classifier is a convolution
    assert list(TORCHVISION_MODELS) == [arch for arch in everything if arch not in without_linear]
    for arch in without_linear:
        model = torchvision.models.get_model(arch, weights=None)
        assert not any(isinstance(module, torch.nn.Linear) for module in model.modules())
