import hashlib
import json
import os
from argparse import Namespace

from snakemake.exceptions import WorkflowError

from lshbench.code import code_hash, method_code
from lshbench.config import (
    FEATURE_DIMS,
    ConfigError,
    build_settings,
    check,
    dataset_spaces,
    datasets_of_kind,
    hamming_plan,
    parse_pca_space,
    pca_space_names,
    plan,
    source_inputs,
    training_folder,
    validate,
    weights_kind,
)
from lshbench.methods import REGISTRY
from lshbench.sources import (
    EMBEDDED,
    has_images,
    IMPORTED as IMPORTED_KIND,
    SYNTHETIC as SYNTHETIC_KIND,
)

try:
    # the schema file plus each method's config block and grid and each source's fields, from the registries
    validate(config, os.path.join(workflow.basedir, "schemas", "config.schema.yaml"))
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
PCA_SPACES = sorted({name for m in config["models"] for name in pca_space_names(m)})
SPLITS = ["gallery", "query"]

# Resources, declared once. Jobs on the device (embedding; exact neighbours, training and method jobs, with the
# evaluation settings) ask for the GPU; CPU jobs that hold one space's vectors in memory (PCA, imports, synthetic
# features) share one size.
EMBED_RESOURCES = dict(
    gpu=GPU,
    mem_mb=config["embedding"]["mem_mb"],
    runtime=config["embedding"]["runtime"],
)
DEVICE_RESOURCES = dict(
    gpu=GPU,
    mem_mb=config["evaluation"]["mem_mb"],
    runtime=config["evaluation"]["runtime"],
)
CPU_RESOURCES = dict(mem_mb=8000, runtime=60)


# One path segment, one name: {space} is an embedding space everywhere (a model's name, its PCA variants, an
# imported space); the rules that make each kind narrow it.
wildcard_constraints:
    dataset="|".join(DATASETS),
    split="|".join(SPLITS),
    arch="|".join(sorted({m["arch"] for m in config["models"]})),
    weights_name="[A-Z0-9_]+",
    space="[a-z][a-z0-9_]*(-pca(var)?[0-9.]+)?",
    params="[A-Za-z0-9_=.-]+",


def dataset_settings(wildcards):
    """The dataset's data settings (with the global seed) as one JSON string: a plain, order-stable param.
    Its method grids and Hamming settings are left out: changing them must not re-download or re-embed.
    """
    settings = {
        k: v
        for k, v in DATASETS[wildcards.dataset].items()
        if k not in ("grids", "hamming")
    }
    return json.dumps({**settings, "seed": config["seed"]}, sort_keys=True)


def model_setting(key):
    def get(wildcards):
        return MODELS[wildcards.space][key]

    return get


def weights_input(wildcards):
    """Named torchvision weights come from the fetch_weights rule, a file is used as it is, 'none' needs nothing."""
    model = MODELS[wildcards.space]
    kind = weights_kind(model["weights"])
    if kind == "named":
        return f"resources/weights/{model['arch']}.{model['weights']}.pth"
    if kind == "file":
        return model["weights"]
    return []


# Routing by how each dataset's source produces its vectors (the source registry, lshbench/sources/).
IMPORTED = datasets_of_kind(config, IMPORTED_KIND)
IMPORTED_SPACES = sorted(
    {s for d in IMPORTED.values() for s in dataset_spaces(config, d)}
)
SYNTHETIC = datasets_of_kind(config, SYNTHETIC_KIND)
IMAGES = list(datasets_of_kind(config, EMBEDDED))  # downloaded, embedded by a model


def feature_dim(wildcards):
    """A model's feature size, for synthetic features in its space."""
    return FEATURE_DIMS[MODELS[wildcards.space]["arch"]]


def embedding_targets():
    return [
        f"results/{dataset}/embeddings/{space}/{split}.parquet"
        for dataset in DATASETS
        for space in dataset_spaces(config, DATASETS[dataset])
        for split in SPLITS
    ]


def pca_input(wildcards):
    """A PCA space's source: the embeddings of its model (resnet18-pca248 -> resnet18)."""
    model, _, _ = parse_pca_space(wildcards.space)
    return {
        split: f"results/{wildcards.dataset}/embeddings/{model}/{split}.parquet"
        for split in SPLITS
    }


def imported_files(wildcards):
    """The precomputed feature files (and label files) of an imported dataset: inputs, so editing one re-imports it."""
    return source_inputs(IMPORTED[wildcards.dataset])


def never_if_empty(names):
    """A wildcard constraint matching exactly these names (one that matches nothing when there are none)."""
    return "|".join(names) or "(?!)"


PLAN = plan(config)
PLANNED = list(
    dict.fromkeys(m for _, _, m, _ in PLAN)
)  # methods with configurations, registry order
HAMMING = hamming_plan(
    config
)  # (dataset, space, method, bits, folder) of the Hamming-ranking protocol
HAMMING_RUNS = list(dict.fromkeys((d, s, m) for d, s, m, _, _ in HAMMING))
HAMMING_METHODS = list(dict.fromkeys(m for _, _, m in HAMMING_RUNS))
TRAINED = [m for m in dict.fromkeys(PLANNED + HAMMING_METHODS) if REGISTRY[m].training]


def method_settings(wildcards):
    """The build settings of this configuration's method beyond its folder parameters (JSON): only the jobs of that
    method re-run when one changes."""
    dataset = DATASETS[wildcards.dataset]
    return json.dumps(build_settings(config, dataset, wildcards.method), sort_keys=True)


def metrics_targets(name="metrics.csv", select=lambda d, s, m, p: True):
    return [
        f"results/{d}/metrics/{s}/{m}/{p}/{name}"
        for d, s, m, p in PLAN
        if select(d, s, m, p)
    ]


def timings_targets():
    return metrics_targets("timings.csv")


def derived_targets(select=lambda d, s, m, p: True):
    """The manifests of the metrics jobs (one per dataset, space and method) holding the selected configurations:
    what reads metrics.csv or per_query.parquet depends on these."""
    return list(
        dict.fromkeys(
            f"results/{d}/metrics/{s}/{m}.json"
            for d, s, m, p in PLAN
            if select(d, s, m, p)
        )
    )


def run_configurations(wildcards):
    """The folder names of a method job's configurations: adding one re-runs the job, which builds only it."""
    w = wildcards
    return [p for d, s, m, p in PLAN if (d, s, m) == (w.dataset, w.space, w.method)]


def trained_inputs(wildcards):
    """The training step's arrays the configurations of a method job use ({} for methods without one)."""
    if REGISTRY[wildcards.method].training is None:
        return {}
    w = wildcards
    folders = dict.fromkeys(
        training_folder(w.method, p) for p in run_configurations(wildcards)
    )
    return {
        "trained": [
            f"results/{w.dataset}/train/{w.space}/{w.method}/{f}/model.npz"
            for f in folders
        ]
    }


def hamming_builds(wildcards):
    """The (bits, folder) builds of a Hamming job, as JSON: a new code length or seed re-runs the job."""
    w = wildcards
    return json.dumps(
        [
            [b, f]
            for d, s, m, b, f in HAMMING
            if (d, s, m) == (w.dataset, w.space, w.method)
        ]
    )


def hamming_trained_inputs(wildcards):
    """The training step's arrays a Hamming job's builds use (neural LSH's networks; {} for other methods)."""
    w = wildcards
    if REGISTRY[w.method].training is None:
        return {}
    folders = dict.fromkeys(
        training_folder(m, f)
        for d, s, m, b, f in HAMMING
        if (d, s, m) == (w.dataset, w.space, w.method)
    )
    return {
        "trained": [
            f"results/{w.dataset}/train/{w.space}/{w.method}/{t}/model.npz"
            for t in folders
        ]
    }


def hamming_code(wildcards):
    """The hash of a Hamming job's code: the method's module and the protocol's (lshbench/hamming*.py)."""
    return code_hash(REGISTRY[wildcards.method].module, "lshbench.hamming_protocol")


def hamming_files(name, dataset=None):
    """A file of every Hamming job (of one dataset): metrics.csv, pr_curve.csv, per_query.parquet."""
    return [
        f"results/{d}/hamming/{s}/{m}/{name}"
        for d, s, m in HAMMING_RUNS
        if dataset in (None, d)
    ]


def run_code(wildcards):
    """The hash of the code a method job's results come from (its module, what it imports, the batch runner and the
    evaluator; lshbench/code.py): an edit re-runs that method's jobs, and the job rebuilds its configurations.
    """
    return method_code(REGISTRY[wildcards.method].module)


def training_code(wildcards):
    """The hash of a method's training code (its module and what it imports)."""
    return code_hash(REGISTRY[wildcards.method].module)


def method_conda(wildcards):
    """Methods with a training step (a network) build with the GPU environment."""
    trained = REGISTRY[wildcards.method].training is not None
    return "../envs/gpu.yaml" if trained else "../envs/cpu.yaml"


def trainings(method):
    """(dataset, space, training folder) of every training of this method the plan and the Hamming protocol use."""
    return list(
        dict.fromkeys(
            [(d, s, training_folder(m, p)) for d, s, m, p in PLAN if m == method]
            + [
                (d, s, training_folder(m, f))
                for d, s, m, _, f in HAMMING
                if m == method
            ]
        )
    )


def history_files(method):
    return [
        f"results/{d}/train/{s}/{method}/{t}/history.csv"
        for d, s, t in trainings(method)
    ]


def module_file(method):
    """A method's module as a path inside the lshbench package (lshbench.methods.kmeans -> methods/kmeans.py)."""
    parts = REGISTRY[method].module.split(".")[1:]
    return os.path.join(*parts[:-1], parts[-1] + ".py")


def library(*modules):
    """The SHA-256 of modules of the lshbench package, as a param: editing one re-runs the cheap jobs built on it
    (tables, plots), and another checkout of the same code re-runs nothing (a path would differ).
    Snakemake tracks only a script's own file as its code."""
    digest = hashlib.sha256()
    for module in modules:
        with open(os.path.join(workflow.basedir, "lshbench", module), "rb") as handle:
            digest.update(handle.read())
    return digest.hexdigest()[:16]


def caption_text(name):
    with open(os.path.join(workflow.basedir, "report", f"{name}.rst")) as handle:
        return handle.read().strip()


def figure_category(table, title):
    """'figure1_kmeans' -> 'Figure 1: k-means' (the report's figures); other tables by their method's title."""
    head = table.split("_")[0]
    return f"Figure {head[6:]}: {title}" if head[6:].isdigit() else title


# Every table: results/tables/{name}.csv and .md, made by the one `table` rule from what its entry names.
def training_table(method):
    entry = REGISTRY[method]
    return dict(
        kind="training",
        method=method,
        caption=entry.training.caption,
        category=figure_category(entry.training.table, f"{entry.title} loss"),
        code=library("tables.py", module_file(method)),
    )


TABLES = {}
for _m in PLANNED:
    _entry = REGISTRY[_m]
    if _entry.table:
        TABLES[_entry.table] = dict(
            kind="figure",
            method=_m,
            caption=_entry.caption,
            category=figure_category(_entry.table, _entry.title),
            code=library("tables.py", module_file(_m)),
        )
        TABLES[f"{_entry.table}_ci"] = dict(
            kind="figure_ci",
            method=_m,
            caption=caption_text("figure_ci"),
            category=figure_category(_entry.table, _entry.title),
            code=library("tables.py", "evidence.py", "stats.py", module_file(_m)),
        )
    if _entry.training:
        TABLES[_entry.training.table] = training_table(_m)
for _m in TRAINED:  # a method trained only for the Hamming protocol
    TABLES.setdefault(REGISTRY[_m].training.table, training_table(_m))
if PLAN:
    TABLES["vs_report"] = dict(
        kind="vs_report",
        method="",
        caption=caption_text("vs_report"),
        category="Comparison with the report",
        code=library("tables.py", *map(module_file, PLANNED)),
    )
    for _kind in ("summary", "pareto", "significance"):
        TABLES[_kind] = dict(
            kind=_kind,
            method="",
            caption=caption_text(_kind),
            category="Summary",
            code=library(
                "tables.py", "evidence.py", "stats.py", *map(module_file, PLANNED)
            ),
        )

if HAMMING:
    TABLES["hashing"] = dict(
        kind="hashing",
        method="",
        caption=caption_text("hashing"),
        category="Hamming ranking",
        code=library("tables.py"),
    )
    TABLES["literature"] = dict(
        kind="literature",
        method="",
        caption=caption_text("literature"),
        category="Hamming ranking",
        code=library("tables.py", "data/literature_hashing.csv"),
    )

# Every plot: results/plots/{name}.png, made by the one `plot` rule.
PLOTS = {}
for _d in DATASETS:
    _here = [m for m in PLANNED if any(p[0] == _d and p[2] == m for p in PLAN)]
    for _m in _here:
        if not REGISTRY[_m].baseline:
            PLOTS[f"{_d}_{_m}"] = dict(
                kind="method",
                dataset=_d,
                method=_m,
                caption=caption_text("plot_method"),
                category="Plots",
                code=library(
                    "plots.py", "tables.py", "evidence.py", "stats.py", module_file(_m)
                ),
            )
    if _here and has_images(DATASETS[_d]):
        PLOTS[f"{_d}_retrieved"] = dict(
            kind="retrieved",
            dataset=_d,
            method="",
            caption=caption_text("plot_retrieved"),
            category="Plots",
            code=library(
                "pictures.py", "evidence.py", "tables.py", "stats.py", "sources/base.py"
            ),
        )
    if _here:
        for _kind in ("tradeoff", "qps"):
            PLOTS[f"{_d}_{_kind}"] = dict(
                kind=_kind,
                dataset=_d,
                method="",
                caption=caption_text(f"plot_{_kind}"),
                category="Plots",
                code=library(
                    "plots.py",
                    "tables.py",
                    "evidence.py",
                    "stats.py",
                    *map(module_file, _here),
                ),
            )
for _d in dict.fromkeys(d for d, _, _ in HAMMING_RUNS):
    PLOTS[f"{_d}_hamming_pr"] = dict(
        kind="hamming_pr",
        dataset=_d,
        method="",
        caption=caption_text("plot_hamming_pr"),
        category="Plots",
        code=library("plots.py"),
    )
for _m in TRAINED:
    PLOTS[REGISTRY[_m].training.table] = dict(
        kind="training",
        dataset="",
        method=_m,
        caption=REGISTRY[_m].training.caption,
        category=TABLES[REGISTRY[_m].training.table]["category"],
        code=library(
            "plots.py", "tables.py", "evidence.py", "stats.py", module_file(_m)
        ),
    )


def entry_select(entry):
    """Which configurations a table's or plot's entry reads."""
    if entry["kind"] in ("figure", "figure_ci"):
        return lambda d, s, m, p: m == entry["method"]
    if entry["kind"] == "vs_report":
        return lambda d, s, m, p: REGISTRY[m].table is not None
    if entry["kind"] == "method":
        return lambda d, s, m, p: d == entry["dataset"] and m in (
            entry["method"],
            "exact",
        )
    if entry["kind"] in ("tradeoff", "qps", "retrieved"):
        return lambda d, s, m, p: d == entry["dataset"]
    return lambda d, s, m, p: True


def entry_inputs(entries, wildcard):
    """A table's or plot's inputs: the training histories, or the manifests of the method jobs it reads."""

    def get(wildcards):
        entry = entries[wildcards[wildcard]]
        if entry["kind"] == "training":
            return {"histories": history_files(entry["method"])}
        if entry["kind"] in HAMMING_KINDS:
            return {
                "runs": entry_files(entries, wildcard, HAMMING_KINDS[entry["kind"]])(
                    wildcards
                )
            }
        runs = {"runs": derived_targets(entry_select(entry))}
        if (
            entry["kind"] == "retrieved"
        ):  # the images behind the ids: the gallery files and the source's data
            d = entry["dataset"]
            runs["galleries"] = list(gallery_files(d).values())
            runs["source"] = [f"resources/{d}/manifest.json"] if d in IMAGES else []
        return runs

    return get


# The kinds of table or plot made from the Hamming jobs' files, and the file each reads.
HAMMING_KINDS = {
    "hashing": "metrics.csv",
    "literature": "metrics.csv",
    "hamming_pr": "pr_curve.csv",
}


# The kinds of table or plot that read each query's values (per_query.parquet), beside metrics.csv.
PER_QUERY_KINDS = ("figure_ci", "summary", "significance", "retrieved")


def entry_files(entries, wildcard, name):
    """The per-configuration files (metrics.csv, timings.csv, per_query.parquet) a table or plot reads, as a
    param."""

    def get(wildcards):
        entry = entries[wildcards[wildcard]]
        if entry["kind"] in HAMMING_KINDS:
            if name != HAMMING_KINDS[entry["kind"]]:
                return []
            return hamming_files(name, entry.get("dataset") or None)
        if (
            entry["kind"] == "training"
            or (name == "timings.csv" and entry["kind"] != "qps")
            or (name == "per_query.parquet" and entry["kind"] not in PER_QUERY_KINDS)
        ):
            return []
        return metrics_targets(name, entry_select(entry))

    return get


def gallery_files(dataset):
    """The gallery embedding file of every space a dataset's configurations use (space -> path)."""
    spaces = dict.fromkeys(s for d, s, m, p in PLAN if d == dataset)
    return {s: f"results/{dataset}/embeddings/{s}/gallery.parquet" for s in spaces}


def hamming_protocols():
    """Each dataset's published protocol (datasets[].hamming.protocol), JSON: the literature table's matches."""
    return json.dumps(
        {d: (s.get("hamming") or {}).get("protocol") for d, s in DATASETS.items()}
    )


def table_setting(key):
    return lambda wildcards: TABLES[wildcards.table][key]


def plot_setting(key):
    return lambda wildcards: PLOTS[wildcards.plot][key]


def plot_dataset_settings(wildcards):
    """A retrieval picture's dataset settings (as the embedding job opened its splits), JSON; '' for other plots."""
    entry = PLOTS[wildcards.plot]
    if entry["kind"] != "retrieved":
        return ""
    return dataset_settings(Namespace(dataset=entry["dataset"]))


def plot_subcategory(wildcards):
    entry = PLOTS[wildcards.plot]
    return entry["dataset"] or "training"


def entry_trainings(entries, wildcard):
    """(dataset, space, training folder) of a training table's or plot's histories (in input order)."""

    def get(wildcards):
        entry = entries[wildcards[wildcard]]
        return trainings(entry["method"]) if entry["kind"] == "training" else []

    return get


def checksum_targets():
    """Every table, metrics file and embedding: what two runs of one config must reproduce byte for byte."""
    if not PLAN and not HAMMING:
        return embedding_targets()
    tables = [f"results/tables/{t}.{ext}" for t in TABLES for ext in ("csv", "md")]
    losses = [f"results/plots/{REGISTRY[m].training.table}.png" for m in TRAINED]
    hamming = [
        f
        for name in ("metrics.csv", "pr_curve.csv", "per_query.parquet")
        for f in hamming_files(name)
    ]
    return (
        embedding_targets()
        + metrics_targets()
        + metrics_targets("per_query.parquet")
        + (["results/metrics.csv"] if PLAN else [])
        + hamming
        + tables
        + losses
    )


def checksum_inputs():
    """The outputs of rules among checksum_targets(), plus the metrics jobs that write the per-configuration files."""
    if not PLAN and not HAMMING:
        return embedding_targets()
    configuration_files = set(metrics_targets() + metrics_targets("per_query.parquet"))
    listed = [f for f in checksum_targets() if f not in configuration_files]
    return listed + derived_targets()


def report_targets():
    """Everything after the embeddings; nothing when the config runs no method (an embeddings-only run)."""
    if not PLAN and not HAMMING:
        return []
    return (
        (["results/metrics.csv"] if PLAN else [])
        + [f"results/tables/{t}.csv" for t in TABLES]
        + [f"results/plots/{p}.png" for p in PLOTS]
    )


def verify_spec():
    """What `snakemake verify` checks beyond the embeddings and the configurations' files, with what each file must
    agree with (lshbench.verify.verify_outputs)."""
    tables = {}
    for name in TABLES:
        w = {"table": name}
        tables[f"results/tables/{name}.csv"] = dict(
            kind=TABLES[name]["kind"],
            method=TABLES[name]["method"],
            datasets=list(DATASETS),
            metrics=entry_files(TABLES, "table", "metrics.csv")(w),
            per_query=entry_files(TABLES, "table", "per_query.parquet")(w),
            histories=entry_inputs(TABLES, "table")(w).get("histories", []),
            trainings=[list(t) for t in entry_trainings(TABLES, "table")(w)],
            protocols=json.loads(hamming_protocols()),
        )
    runs, derived = {}, {}
    for d, s, m, p in PLAN:
        runs.setdefault(f"results/{d}/runs/{s}/{m}.json", []).append(p)
        derived.setdefault(f"results/{d}/metrics/{s}/{m}.json", []).append(p)
    return dict(
        runs=runs,
        derived=derived,
        histories={
            f"results/{d}/train/{s}/{m}/{t}/history.csv": [m, t]
            for m in TRAINED
            for d, s, t in trainings(m)
        },
        pca=[
            f"results/{d}/embeddings/{s}/pca.json"
            for d in DATASETS
            for s in dataset_spaces(config, DATASETS[d])
            if "-pca" in s
        ],
        downloads=[f"resources/{d}/manifest.json" for d in IMAGES],
        collected=(
            {
                "results/metrics.csv": metrics_targets(),
                "results/timings.csv": timings_targets(),
            }
            if PLAN
            else {}
        ),
        hamming={
            f"results/{d}/hamming/{s}/{m}": [
                [b, f] for d2, s2, m2, b, f in HAMMING if (d2, s2, m2) == (d, s, m)
            ]
            for d, s, m in HAMMING_RUNS
        },
        tables=tables,
        plots=[f"results/plots/{p}.png" for p in PLOTS],
        checksums=dict(path="results/checksums.sha256", files=len(checksum_targets())),
    )
