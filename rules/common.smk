import hashlib
import json
import os

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from lshbench.config import (
    ConfigError,
    check,
    dataset_spaces,
    kmeans_settings,
    neural_training_folder,
    pca_space_names,
    plan,
    weights_kind,
)

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

# Rules that run on the device ask for one GPU unless the config pins them to the CPU.
GPU = 0 if config["device"] == "cpu" else 1

DATASETS = {d["name"]: d for d in config["datasets"]}
MODELS = {m["name"]: m for m in config["models"]}
SPLITS = ["gallery", "query"]


wildcard_constraints:
    dataset="|".join(DATASETS),
    model="|".join(MODELS),
    split="|".join(SPLITS),
    pca=r"[0-9]+|var[0-9.]+",
    arch="|".join(sorted({m["arch"] for m in config["models"]})),
    weights_name="[A-Z0-9_]+",
    space="[a-z][a-z0-9_]*(-pca(var)?[0-9.]+)?",
    params="[A-Za-z0-9_=.-]+",


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


IMPORTED = {d["name"]: d for d in config["datasets"] if d["source"] == "embeddings"}


def embedding_targets():
    return [
        f"results/{dataset}/embeddings/{space}/{split}.parquet"
        for dataset in DATASETS
        for space in dataset_spaces(config, DATASETS[dataset])
        for split in SPLITS
    ]


def imported_files(wildcards):
    """The precomputed feature files (and label files) of a `source: embeddings` dataset: inputs, so editing one
    re-imports it."""
    d = IMPORTED[wildcards.dataset]
    files = {"gallery": d["gallery_file"], "query": d["query_file"]}
    files |= {f"{s}_labels": d[f"{s}_labels"] for s in SPLITS if d.get(f"{s}_labels")}
    return files


def never_if_empty(names):
    """A wildcard constraint matching exactly these names (one that matches nothing when there are none)."""
    return "|".join(names) or "(?!)"


PLAN = plan(config)


def method_settings(wildcards):
    """The config settings of this configuration's method (JSON; the grid values are in the folder name): only the
    jobs of that method re-run when one changes."""
    if wildcards.method == "kmeans":
        return json.dumps(kmeans_settings(config, DATASETS[wildcards.dataset]))
    return "{}"


def metrics_targets(name="metrics.csv"):
    return [
        f"results/{dataset}/metrics/{space}/{method}/{params}/{name}"
        for dataset, space, method, params in PLAN
    ]


def timings_targets():
    return metrics_targets("timings.csv")


TABLES = [
    "figure1_kmeans",
    "figure2_hyperplane",
    "figure4_neural",
    "vs_report",
    "summary",
]


def checksum_targets():
    """Every table, metrics file and embedding: what two runs of one config must reproduce byte for byte."""
    if not PLAN:
        return embedding_targets()
    tables = [f"results/tables/{t}.{ext}" for t in TABLES for ext in ("csv", "md")]
    tables += [
        f"results/tables/figure3_neural_loss.{ext}" for ext in ("csv", "md", "png")
    ]
    return (
        embedding_targets()
        + metrics_targets()
        + metrics_targets("per_query.parquet")
        + ["results/metrics.csv"]
        + tables
    )


def neural_training_input(wildcards):
    training = neural_training_folder(wildcards.params)
    return f"results/{wildcards.dataset}/train/{wildcards.space}/neural/{training}/networks.npz"


def library(module):
    """The SHA-256 of a module of the lshbench package, as a param: editing the module re-runs the cheap jobs built
    on it (tables, plots), and another checkout of the same code re-runs nothing (a path would differ).
    Snakemake tracks only a script's own file as its code."""
    path = os.path.join(workflow.basedir, "lshbench", module)
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()[:16]


def method_metrics(*methods):
    """metrics.csv of every configuration of these methods, plus the exact baselines of their spaces."""
    return [
        f"results/{d}/metrics/{s}/{m}/{p}/metrics.csv"
        for d, s, m, p in PLAN
        if m in methods
    ]


def dataset_metrics(wildcards):
    return [
        f"results/{d}/metrics/{s}/{m}/{p}/metrics.csv"
        for d, s, m, p in PLAN
        if d == wildcards.dataset
    ]


def dataset_timings(wildcards):
    return [
        f"results/{d}/metrics/{s}/{m}/{p}/timings.csv"
        for d, s, m, p in PLAN
        if d == wildcards.dataset
    ]


def dataset_method_metrics(wildcards):
    return [
        f"results/{d}/metrics/{s}/{m}/{p}/metrics.csv"
        for d, s, m, p in PLAN
        if d == wildcards.dataset and m in (wildcards.method, "exact")
    ]


def neural_trainings():
    """(dataset, space, training folder) of every neural LSH training the plan uses."""
    return list(
        dict.fromkeys(
            (d, s, neural_training_folder(p)) for d, s, m, p in PLAN if m == "neural"
        )
    )


def neural_losses():
    return [
        f"results/{d}/train/{s}/neural/{t}/losses.csv" for d, s, t in neural_trainings()
    ]


def report_targets():
    """Everything after the embeddings; nothing when the config runs no method (an embeddings-only run)."""
    if not PLAN:
        return []
    methods = sorted({(d, m) for d, _, m, _ in PLAN if m != "exact"})
    return (
        ["results/metrics.csv"]
        + [f"results/tables/{t}.csv" for t in TABLES]
        + ["results/tables/figure3_neural_loss.png"]
        + [f"results/plots/{d}_{m}.png" for d, m in methods]
        + [
            f"results/plots/{d}_{plot}.png"
            for d in DATASETS
            if any(p[0] == d for p in PLAN)
            for plot in ("tradeoff", "qps")
        ]
    )
