import json
import os
import sys
from argparse import Namespace

from snakemake.exceptions import WorkflowError

from lshbench.code import changed_code, rule_code, rule_files
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
    REGISTRY as SOURCES,
    data_fingerprint,
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


# One experiment per config, wherever it runs: say which config files were read (the Snakefile reads the project's
# config.yaml, or one in the working directory; presets given with --configfile go over it).
def config_files_read():
    """The config files this run read, in the order they apply: the Snakefile's, then each --configfile over it."""
    given = [os.path.abspath(f) for f in workflow.config_settings.configfiles]
    read = [os.path.abspath(f) for f in workflow.configfiles]
    return [f for f in read if f not in given] + given


if workflow.is_main_process:
    print(
        "Config files read (each over the one before): "
        + ", ".join(config_files_read()),
        file=sys.stderr,
    )

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


def dataset_fingerprint(wildcards):
    """The listing (names, sizes, modification times) of the user's files a dataset is read from, hashed: adding,
    removing or replacing an image re-runs the preparation, the embedding and what follows (lshbench.sources).
    """
    return data_fingerprint(DATASETS[wildcards.dataset])


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


def method_code(script):
    """The ``code`` param of the jobs of one method: its script, what that imports and the method's module
    with what it imports (lshbench.code): an edit re-runs the jobs it can change, of that method only.
    """

    def get(wildcards):
        return rule_code(script, REGISTRY[wildcards.method].module)

    return get


def source_module(dataset):
    """The module of a dataset's source (lshbench/sources/*.py), which its download, embedding or import runs."""
    return SOURCES[DATASETS[dataset]["source"]].module


def source_code(script):
    """The ``code`` param of a rule whose jobs open one dataset's source (import, synthesis)."""

    def get(wildcards):
        return rule_code(script, source_module(wildcards.dataset))

    return get


def hamming_files(name, dataset=None):
    """A file of every Hamming job (of one dataset): metrics.csv, pr_curve.csv, per_query.parquet."""
    return [
        f"results/{d}/hamming/{s}/{m}/{name}"
        for d, s, m in HAMMING_RUNS
        if dataset in (None, d)
    ]


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
        )
        TABLES[f"{_entry.table}_ci"] = dict(
            kind="figure_ci",
            method=_m,
            caption=caption_text("figure_ci"),
            category=figure_category(_entry.table, _entry.title),
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
    )
    for _kind in ("summary", "pareto", "significance"):
        TABLES[_kind] = dict(
            kind=_kind,
            method="",
            caption=caption_text(_kind),
            category="Summary",
        )

if HAMMING:
    TABLES["hashing"] = dict(
        kind="hashing",
        method="",
        caption=caption_text("hashing"),
        category="Hamming ranking",
    )
    TABLES["literature"] = dict(
        kind="literature",
        method="",
        caption=caption_text("literature"),
        category="Hamming ranking",
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
            )
    if _here and has_images(DATASETS[_d]):
        PLOTS[f"{_d}_retrieved"] = dict(
            kind="retrieved",
            dataset=_d,
            method="",
            caption=caption_text("plot_retrieved"),
            category="Plots",
        )
    if _here:
        for _kind in ("tradeoff", "qps"):
            PLOTS[f"{_d}_{_kind}"] = dict(
                kind=_kind,
                dataset=_d,
                method="",
                caption=caption_text(f"plot_{_kind}"),
                category="Plots",
            )
for _d in dict.fromkeys(d for d, _, _ in HAMMING_RUNS):
    PLOTS[f"{_d}_hamming_pr"] = dict(
        kind="hamming_pr",
        dataset=_d,
        method="",
        caption=caption_text("plot_hamming_pr"),
        category="Plots",
    )
for _m in TRAINED:
    PLOTS[REGISTRY[_m].training.table] = dict(
        kind="training",
        dataset="",
        method=_m,
        caption=REGISTRY[_m].training.caption,
        category=TABLES[REGISTRY[_m].training.table]["category"],
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
PER_QUERY_KINDS = ("figure_ci", "summary", "pareto", "significance", "retrieved")


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


def entry_modules(entry):
    """The plug-in modules a table's or plot's code dispatches to: the modules of the methods whose files it reads,
    and, for a retrieval picture, its dataset's source (which opens the images)."""
    if entry["kind"] == "training":
        methods = [entry["method"]]
    elif entry["kind"] in HAMMING_KINDS:
        methods = [
            m for d, s, m in HAMMING_RUNS if entry.get("dataset") in ("", None, d)
        ]
    else:
        methods = [m for d, s, m, p in PLAN if entry_select(entry)(d, s, m, p)]
    modules = [REGISTRY[m].module for m in dict.fromkeys(methods)]
    if entry["kind"] == "retrieved":
        modules.append(source_module(entry["dataset"]))
    return modules


def entry_code(entries, wildcard, script):
    """A table's or plot's ``code`` param: its script, what that imports, and the plug-ins it reads (lshbench.code)."""
    return lambda wildcards: rule_code(
        script, *entry_modules(entries[wildcards[wildcard]])
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
        stale_code=STALE,
    )


# The jobs a code edit does not re-run (hours at ImageNet's size: downloads, embeddings, PCA): each records the code
# that made its output (lshbench.code); every start of the workflow says which outputs other code made.
def recorded_outputs():
    """{output: its code files} of every download, weights file, embedding and PCA space the config makes."""
    outputs = {}
    for d in IMAGES:
        outputs[f"resources/{d}/manifest.json"] = ("download.py", source_module(d))
        for space in MODELS:
            for split in SPLITS:
                outputs[f"results/{d}/embeddings/{space}/{split}.parquet"] = (
                    "embed.py",
                    source_module(d),
                )
    for model in MODELS.values():
        if weights_kind(model["weights"]) == "named":
            path = f"resources/weights/{model['arch']}.{model['weights']}.pth"
            outputs[path] = ("fetch_weights.py",)
    for d in DATASETS:
        for space in dataset_spaces(config, DATASETS[d]):
            if space in PCA_SPACES:
                for name in ("gallery.parquet", "query.parquet", "pca.json"):
                    outputs[f"results/{d}/embeddings/{space}/{name}"] = ("pca.py",)
    return outputs


RERUN_RULE = {
    "download.py": "download",
    "embed.py": "embed",
    "pca.py": "pca",
    "fetch_weights.py": "fetch_weights",
}


def stale_outputs():
    """{output: the code files changed since it was made} of the outputs made by other code than this checkout's."""
    stale, files = {}, {}
    for path, code in recorded_outputs().items():
        if code not in files:
            files[code] = rule_files(*code)
        changed = changed_code(path, files[code])
        if changed:
            stale[path] = dict(changed=changed, rule=RERUN_RULE[code[0]])
    return stale


STALE = stale_outputs() if workflow.is_main_process else {}
if STALE:
    rules_to_force = " ".join(dict.fromkeys(v["rule"] for v in STALE.values()))
    print(
        f"WARNING: code changed since these {len(STALE)} files were made; they are not re-run by a code edit "
        "(downloads, embeddings and PCA take hours at ImageNet's size), so what follows them describes the old code:\n"
        + "\n".join(
            f"  {path}: code changed since this file was made ({', '.join(v['changed'])})"
            for path, v in STALE.items()
        )
        + f"\nRe-run them with `--forcerun {rules_to_force}` (what follows re-runs too), or keep them knowingly: "
        "`snakemake verify` lists them until they are re-made.",
        file=sys.stderr,
    )
