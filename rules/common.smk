import json
import os

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from lshbench.config import (
    ConfigError,
    check,
    neural_training_params,
    pca_space_names,
    plan,
)
from lshbench.embed import ARCHS, weights_kind

validate(config, "../schemas/config.schema.yaml")
try:
    check(config)
except ConfigError as error:
    raise WorkflowError(f"Invalid config: {error}")

# Jobs import lshbench from this checkout, also inside `--sdm conda` environments that do not install it.
os.environ.update(
    PYTHONPATH=os.pathsep.join(
        filter(None, [workflow.basedir, os.environ.get("PYTHONPATH")])
    )
)

DATASETS = {d["name"]: d for d in config["datasets"]}
MODELS = {m["name"]: m for m in config["models"]}
SPLITS = ["gallery", "query"]


wildcard_constraints:
    dataset="|".join(DATASETS),
    model="|".join(MODELS),
    split="|".join(SPLITS),
    pca=r"[0-9]+|var[0-9.]+",
    arch="|".join(ARCHS),
    weights_name="[A-Z0-9_]+",
    space="[a-z][a-z0-9_]*(-pca(var)?[0-9.]+)?",
    params="[A-Za-z0-9_=.,]+",


def dataset_settings(wildcards):
    """The dataset's data settings (with the global seed) as one JSON string: a plain, order-stable param.
    Its method grids are left out: changing a grid must not re-download or re-embed."""
    settings = {k: v for k, v in DATASETS[wildcards.dataset].items() if k != "grids"}
    return json.dumps({**settings, "seed": config["seed"]}, sort_keys=True)


def model_setting(key):
    def get(wildcards):
        return MODELS[wildcards.model][key]

    return get


def weights_input(wildcards):
    """Named torchvision weights come from the fetch_weights rule, a file is used as it is, 'none' needs nothing."""
    model = MODELS[wildcards.model]
    kind = weights_kind(model["weights"])
    if kind == "named":
        return f"resources/weights/{model['arch']}.{model['weights']}.pth"
    if kind == "file":
        return model["weights"]
    return []


def embedding_targets():
    spaces = [
        (m, name) for m in MODELS.values() for name in [m["name"], *pca_space_names(m)]
    ]
    return [
        f"results/{dataset}/embeddings/{space}/{split}.parquet"
        for dataset in DATASETS
        for _, space in spaces
        for split in SPLITS
    ]


PLAN = plan(config)
NEURAL_TRAINING = neural_training_params(config)


def kmeans_algorithm(wildcards):
    grid = DATASETS[wildcards.dataset]["grids"].get("kmeans", {})
    return grid.get("algorithm", config["methods"]["kmeans"]["algorithm"])


def metrics_targets():
    return [
        f"results/{dataset}/metrics/{space}/{method}/{params}/metrics.csv"
        for dataset, space, method, params in PLAN
    ]


def neural_training_input(wildcards):
    return f"results/{wildcards.dataset}/train/{wildcards.space}/neural/{NEURAL_TRAINING}/networks.npz"
