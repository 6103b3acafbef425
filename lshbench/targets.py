"""What a config makes, file by file (paths from lshbench.layout): the targets of ``rule all``, the files
``results/checksums.sha256`` covers, what ``snakemake verify`` checks (with what each file must agree with), and the
outputs a code edit does not re-run (downloads, embeddings, PCA: hours at ImageNet's size), each with the code that
made it.

Torch-free: Snakemake calls it while it parses the workflow.
"""

from __future__ import annotations

from . import layout
from .code import changed_code, rule_files
from .config import dataset_spaces, datasets_of_kind, hamming_plan, pca_space_names, plan, weights_kind
from .methods import REGISTRY
from .report import interactive_of, plots_of, tables_of, trained_methods
from .sources import EMBEDDED
from .sources import REGISTRY as SOURCES

SPLITS = layout.SPLITS


def embedding_targets(config: dict) -> list[str]:
    return [layout.embeddings(d["name"], space, split)
            for d in config["datasets"] for space in dataset_spaces(config, d) for split in SPLITS]


def configuration_files(config: dict, name: str) -> list[str]:
    """One file (metrics.csv, per_query.parquet, timings.csv) of every configuration of the plan."""
    return [layout.configuration_file(k, name) for k in plan(config)]


def metrics_manifests(config: dict) -> list[str]:
    """The metrics jobs' outputs: what reads a configuration's metrics.csv or per_query.parquet depends on."""
    return list(dict.fromkeys(layout.metrics_manifest(*k.job) for k in plan(config)))


def hamming_files(config: dict, name: str) -> list[str]:
    """A file of every Hamming job: metrics.csv, pr_curve.csv, per_query.parquet."""
    return [layout.hamming_file(*job, name) for job in dict.fromkeys(k.job for _, k in hamming_plan(config))]


def runs_anything(config: dict) -> bool:
    return bool(plan(config) or hamming_plan(config))


def checksum_targets(config: dict) -> list[str]:
    """Every table, metrics file and embedding: what two runs of one config must reproduce byte for byte."""
    if not runs_anything(config):
        return embedding_targets(config)
    tables = [layout.table_file(t, ext) for t in tables_of(config) for ext in ("csv", "md")]
    losses = [layout.plot_file(REGISTRY[m].training.table) for m in trained_methods(config)]
    hamming = [f for name in ("metrics.csv", "pr_curve.csv", "per_query.parquet") for f in hamming_files(config, name)]
    collected = [layout.collected("metrics.csv")] if plan(config) else []
    return (embedding_targets(config) + configuration_files(config, "metrics.csv")
            + configuration_files(config, "per_query.parquet") + collected + hamming + tables + losses)


def checksum_inputs(config: dict) -> list[str]:
    """The outputs of rules among checksum_targets(), plus the metrics jobs that write the per-configuration files."""
    if not runs_anything(config):
        return embedding_targets(config)
    own = set(configuration_files(config, "metrics.csv") + configuration_files(config, "per_query.parquet"))
    return [f for f in checksum_targets(config) if f not in own] + metrics_manifests(config)


def report_targets(config: dict) -> list[str]:
    """Everything after the embeddings; nothing when the config runs no method (an embeddings-only run)."""
    if not runs_anything(config):
        return []
    return (([layout.collected("metrics.csv")] if plan(config) else [])
            + [layout.table_file(t, ext) for t in tables_of(config) for ext in ("csv", "html")]
            + [layout.plot_file(p, ext) for p in plots_of(config) for ext in ("png", "csv")]
            + [layout.plot_file(p, ext) for p in interactive_of(config) for ext in ("html", "csv")])


def images(config: dict) -> list[str]:
    """The datasets downloaded and embedded by a model."""
    return list(datasets_of_kind(config, EMBEDDED))


def source_module(config: dict, dataset: str) -> str:
    """The module of a dataset's source (lshbench/sources/*.py), which its download, embedding or import runs."""
    return SOURCES[{d["name"]: d for d in config["datasets"]}[dataset]["source"]].module


# The jobs a code edit does not re-run (hours at ImageNet's size): each records the code that made its output
# (lshbench.code); every start of the workflow says which outputs other code made.
RERUN_RULE = {"download.py": "download", "embed.py": "embed", "pca.py": "pca", "fetch_weights.py": "fetch_weights"}


def recorded_outputs(config: dict) -> dict[str, tuple[str, ...]]:
    """{output: its script and plug-in modules} of every download, weights file, embedding and PCA space."""
    outputs = {}
    models = config["models"]
    for d in images(config):
        outputs[layout.download_manifest(d)] = ("download.py", source_module(config, d))
        for model in models:
            for split in SPLITS:
                outputs[layout.embeddings(d, model["name"], split)] = ("embed.py", source_module(config, d))
    for model in models:
        if weights_kind(model["weights"]) == "named":
            outputs[layout.weights_file(model["arch"], model["weights"])] = ("fetch_weights.py",)
    pca_spaces = {name for m in models for name in pca_space_names(m)}
    for d in config["datasets"]:
        for space in dataset_spaces(config, d):
            if space in pca_spaces:
                for split in SPLITS:
                    outputs[layout.embeddings(d["name"], space, split)] = ("pca.py",)
                outputs[layout.pca_record(d["name"], space)] = ("pca.py",)
    return outputs


def stale_outputs(config: dict) -> dict[str, dict]:
    """{output: the code files changed since it was made, and the rule to force} of the outputs made by other code
    than this checkout's."""
    stale, files = {}, {}
    for path, code in recorded_outputs(config).items():
        if code not in files:
            files[code] = rule_files(*code)
        changed = changed_code(path, files[code])
        if changed:
            stale[path] = dict(changed=changed, rule=RERUN_RULE[code[0]])
    return stale


def stale_warning(stale: dict[str, dict]) -> str:
    """What every start of the workflow says of the outputs made by other code ('' when none)."""
    if not stale:
        return ""
    rules = " ".join(dict.fromkeys(v["rule"] for v in stale.values()))
    return (f"WARNING: code changed since these {len(stale)} files were made; they are not re-run by a code edit "
            "(downloads, embeddings and PCA take hours at ImageNet's size), so what follows them describes the old "
            "code:\n" + "\n".join(f"  {path}: code changed since this file was made ({', '.join(v['changed'])})"
                                  for path, v in stale.items())
            + f"\nRe-run them with `--forcerun {rules}` (what follows re-runs too), or keep them knowingly: "
            "`snakemake verify` lists them until they are re-made.")


def verify_spec(config: dict, stale: dict[str, dict]) -> dict:
    """What `snakemake verify` checks beyond the embeddings and the configurations' files, with what each file must
    agree with (lshbench.verify.verify_outputs). ``stale``: ``stale_outputs(config)``."""
    keys, builds = plan(config), hamming_plan(config)
    runs, derived = {}, {}
    for k in keys:
        runs.setdefault(layout.run_manifest(*k.job), []).append(k.folder)
        derived.setdefault(layout.metrics_manifest(*k.job), []).append(k.folder)
    histories = {}
    for entry in tables_of(config).values():
        for k in entry.trainings:
            histories[layout.training_file(*k.job, k.training, "history.csv")] = k.training_settings
    hamming = {}
    for bits, k in builds:
        job = hamming.setdefault(layout.hamming_folder(*k.job), {"builds": [],
                                                                  "query": layout.embeddings(k.dataset, k.space, "query")})
        job["builds"].append([bits, k.folder])
    return dict(
        runs=runs,
        last_runs={layout.last_run(*job): manifest for job, manifest in
                   ((k.job, layout.run_manifest(*k.job)) for k in keys)},
        derived=derived,
        histories=histories,
        pca=[layout.pca_record(d["name"], s) for d in config["datasets"] for s in dataset_spaces(config, d)
             if any(s in pca_space_names(m) for m in config["models"])],
        downloads=[layout.download_manifest(d) for d in images(config)],
        collected=({layout.collected("metrics.csv"): configuration_files(config, "metrics.csv"),
                    layout.collected("timings.csv"): configuration_files(config, "timings.csv")} if keys else {}),
        hamming=hamming,
        plots=[layout.plot_file(p) for p in plots_of(config)],
        checksums=dict(path=layout.CHECKSUMS, files=len(checksum_targets(config))),
        tables=tables_of(config),
        stale_code=stale,
    )
