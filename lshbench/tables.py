"""The report's Figures 1-4 as tables, side by side with the report, computed only from metrics.csv / losses.csv files.

A figure is first built in long form, one row per cell: (figure, block, dataset, parameter, value, metric, ours), with
the report's block labels ("Embedding: 512", "PCA: 248", "#Hashtables = 3", "#HashTables = 8"); the wide tables in
the report's layout and the comparison with the report are both derived from it.
"""

from __future__ import annotations

import io
import re
from decimal import Decimal
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from .methods import REGISTRY

METRICS = {"precision_at_10": "Mean Precision @10", "precision_at_50": "Mean Precision @50",
           "mAP": "Mean Average Precision"}
CELL_COLUMNS = ["figure", "block", "dataset", "parameter", "value", "metric"]


def read_metrics(paths) -> pd.DataFrame:
    return pd.concat([pd.read_csv(p) for p in paths], ignore_index=True) if paths else pd.DataFrame()


SEED = re.compile(r"(^|_)seed=\d+$")
CONFIGURATION_KEYS = ["dataset", "space", "method", "configuration"]


def configuration_of(params: str) -> str:
    """A folder name without its replicate's seed: what the replicates of one configuration share
    ('K=10_probes=1_seed=2' -> 'K=10_probes=1'; exact search's 'all' stays)."""
    return SEED.sub("", params) or "all"


def replicates(metrics: pd.DataFrame, interval_columns=None, level: float = 0.95) -> pd.DataFrame:
    """One row per configuration (its replicates over seeds together): the first replicate's descriptive columns,
    the mean over seeds of every metric, and for ``interval_columns`` (default: the figures' and the summary's
    metrics) the standard deviation over seeds and the t-interval of the mean (``{column}_std``, ``_low``,
    ``_high``; NaN with one seed); ``seeds``: how many replicates. With one seed a metric's mean is its value, bit
    for bit."""
    from scipy.special import stdtrit  # Student t's quantile (scipy.stats takes seconds to import)

    if metrics.empty:
        return metrics.assign(configuration=[], seeds=[])
    columns = list(interval_columns or dict.fromkeys([*METRICS, *SUMMARY_PERCENT, "candidates_fraction"]))
    frame = metrics.assign(configuration=metrics["params"].map(configuration_of))
    numeric = [c for c in frame.select_dtypes("number").columns if c != "seed"]
    columns = [c for c in columns if c in numeric]
    grouped = frame.groupby(CONFIGURATION_KEYS, sort=False)
    out = frame.drop_duplicates(CONFIGURATION_KEYS).set_index(CONFIGURATION_KEYS)  # the first replicate's row
    counts = grouped.size().reindex(out.index)
    # a column the replicates share (a parameter, or a metric equal on every seed) keeps its value bit for bit (the
    # mean of three 0.4s is not 0.4), the others are averaged
    same = grouped[numeric].nunique(dropna=False).reindex(out.index) <= 1
    out[numeric] = out[numeric].where(same, grouped[numeric].mean().reindex(out.index))
    std = grouped[columns].std(ddof=1).reindex(out.index)
    quantile = counts.map(lambda n: float(stdtrit(n - 1, (1 + level) / 2)) if n > 1 else np.nan)
    half = std.mul(quantile / np.sqrt(counts), axis=0)
    for column in columns:
        out[f"{column}_std"] = std[column]
        out[f"{column}_low"] = out[column] - half[column]
        out[f"{column}_high"] = out[column] + half[column]
    out["seeds"] = counts
    return out.reset_index()[[*frame.columns, *(c for c in out.columns if c not in frame.columns)]]


def data_table(name: str) -> pd.DataFrame:
    """A transcribed data file of the package (lshbench/data/{name}), its '# ' note on the source left out."""
    text = resources.files("lshbench").joinpath(f"data/{name}").read_text()
    lines = [line for line in text.splitlines() if not line.startswith("# ")]
    return pd.read_csv(io.StringIO("\n".join(lines)))


def report_numbers() -> pd.DataFrame:
    """The report's 243 numbers (lshbench/data/report_figures.csv), in percent."""
    return data_table("report_figures.csv")


def figure_cells(metrics: pd.DataFrame, method: str) -> pd.DataFrame:
    """Long form of one method's table (the report's Figures 1, 2, 4 for its methods): one row per (block, dataset,
    parameter value, metric), ``ours`` in percent. Blocks and the parameter come from the method's registry entry."""
    entry = REGISTRY[method]
    rows = replicates(metrics[metrics["method"] == method]) if len(metrics) else metrics
    cells = []
    for _, row in rows.iterrows():
        for metric in METRICS:
            cells.append({"figure": entry.table, "block": entry.block(row), "dataset": row["dataset"],
                          "parameter": entry.axis, "value": int(row[entry.axis]), "metric": metric,
                          "ours": round(100 * float(row[metric]), 2), "space": row["space"],
                          "configuration": row["configuration"], "seeds": int(row["seeds"]),
                          **{k: round(100 * float(row[f"{metric}_{k}"]), 2) for k in INTERVAL}})
    return pd.DataFrame(cells, columns=[*CELL_COLUMNS, "ours", "space", "configuration", "seeds", *INTERVAL])


INTERVAL = ("std", "low", "high")  # over seeds: standard deviation and the 95% t-interval of the mean


def table_methods() -> list[str]:
    """The methods with a table, in registry order."""
    return [name for name, entry in REGISTRY.items() if entry.table]


def wide(cells: pd.DataFrame, datasets: list[str]) -> pd.DataFrame:
    """The report's layout: one row per (block, metric), one column per (dataset, parameter value)."""
    if cells.empty:
        return pd.DataFrame(columns=["block", "metric"])
    order = {d: i for i, d in enumerate(datasets)}
    columns = sorted({(d, p, v) for d, p, v in zip(cells.dataset, cells.parameter, cells.value)},
                     key=lambda c: (order.get(c[0], len(order)), c[2]))
    blocks = list(dict.fromkeys(sorted(cells.block, key=_block_order)))
    table = []
    for block in blocks:
        for metric, label in METRICS.items():
            line = {"block": block, "metric": label}
            subset = cells[(cells.block == block) & (cells.metric == metric)]
            values = {(d, p, v): o for d, p, v, o in zip(subset.dataset, subset.parameter, subset.value, subset.ours)}
            for column in columns:
                line[f"{column[0]} {column[1]}={column[2]}"] = values.get(column)
            table.append(line)
    return pd.DataFrame(table)


def _block_order(block: str):
    """Embedding blocks (largest dimension first), then PCA blocks, then the rest by the numbers in their labels
    before any parenthesis ("#Hashtables = 3, radius 2" -> (3, 2))."""
    kind = 0 if block.startswith("Embedding") else 1 if block.startswith("PCA") else 2
    numbers = tuple(int(n) for n in re.findall(r"\d+", block.split("(")[0]))
    return kind, tuple(-n for n in numbers) if kind < 2 else numbers, block


def to_markdown(table: pd.DataFrame) -> str:
    """A GitHub Markdown table; empty cells stay empty, numbers keep two decimals."""
    def text(value):
        if value is None or (isinstance(value, float) and pd.isna(value)):
            return ""
        return f"{value:.2f}" if isinstance(value, float) else str(value)

    header = "| " + " | ".join(map(str, table.columns)) + " |"
    rule = "| " + " | ".join("---" for _ in table.columns) + " |"
    body = ["| " + " | ".join(text(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join([header, rule, *body]) + "\n"


def vs_report(cells: pd.DataFrame) -> pd.DataFrame:
    """Every report number beside ours (the mean over seeds) and the difference (ours - report), with our 95%
    interval over seeds (t-interval of the mean) and whether the report's number lies inside it (``within_ci``;
    empty with fewer than two seeds); a cell we did not run stays empty."""
    report = report_numbers()
    keep = CELL_COLUMNS + ["ours", "low", "high"]
    ours = cells[keep] if len(cells) else pd.DataFrame(columns=keep)
    merged = report.merge(ours, on=CELL_COLUMNS, how="left", validate="one_to_one")
    merged["delta"] = (merged["ours"] - merged["report"]).round(2)
    low, high = merged["low"].astype(float).fillna(np.inf), merged["high"].astype(float).fillna(-np.inf)
    known = merged["low"].notna() & merged["high"].notna()
    inside = (merged["report"] >= low) & (merged["report"] <= high)
    merged["within_ci"] = inside.where(known).map({True: "yes", False: "no"})
    merged = merged.rename(columns={"low": "ci_low", "high": "ci_high"})
    return merged[[*CELL_COLUMNS, "report", "ours", "delta", "ci_low", "ci_high", "within_ci"]]


SUMMARY_PERCENT = ["precision_at_10", "precision_at_50", "strict_precision_at_10", "strict_precision_at_50", "mAP",
                   "mAP_all", "recall_at_10", "recall_at_50"]


def history_table(paths: list[str | Path], trainings: list[tuple[str, str, str]]) -> pd.DataFrame:
    """A training step's history per epoch (Figure 3's loss terms for neural LSH), per training (dataset, space,
    training folder): every history column but the device and the seconds, in the history's order."""
    frames = []
    for (dataset, space, training), path in zip(trainings, paths):
        frame = pd.read_csv(path).drop(columns=["device", "seconds"], errors="ignore")
        frame.insert(0, "dataset", dataset)
        frame.insert(1, "space", space)
        frame.insert(2, "training", training)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["dataset", "space", "training"])


def hamming_metrics(paths) -> pd.DataFrame:
    """The Hamming jobs' metrics.csv files (one row per build), the mean over the replicates of each (dataset, space,
    method, bits) with ``seeds`` and each measure's ``_std`` over them (lshbench/hamming.py defines the measures)."""
    frame = pd.concat([pd.read_csv(p) for p in paths], ignore_index=True) if len(paths) else pd.DataFrame()
    if frame.empty:
        return frame
    keys = ["dataset", "space", "method", "bits"]
    measures = [c for c in frame.columns if c.startswith(("ap_", "precision_", "recall_"))]
    grouped = frame.groupby(keys, sort=False)[measures]
    out = grouped.mean()
    std = grouped.std(ddof=1)
    for column in measures:
        out[f"{column}_std"] = std[column]
    out["seeds"] = grouped.size()
    return out.reset_index()


def hamming_labels(columns) -> dict[str, str]:
    """The hashing table's measures, in the papers' words: mAP@ALL, mAP@R (both with ties by gallery position and
    tie-aware) and precision and recall within the Hamming radius."""
    labels = {"ap_all": "mAP@ALL", "ap_all_tie_aware": "mAP@ALL (tie-aware)"}
    for column in columns:
        if m := re.fullmatch(r"ap_at_(\d+)", column):
            labels[column] = f"mAP@{m[1]}"
            labels[f"{column}_tie_aware"] = f"mAP@{m[1]} (tie-aware)"
    for column in columns:
        if m := re.fullmatch(r"(precision|recall)_within_radius_(\d+)", column):
            labels[column] = f"{m[1]} within Hamming radius {m[2]}"
    return {k: v for k, v in labels.items() if k in columns}


def hashing_table(frame: pd.DataFrame, datasets: list[str]) -> pd.DataFrame:
    """The learning-to-hash papers' layout: per dataset and measure, one row per method (and space), one column per
    code length; means over the replicates, in percent."""
    if frame.empty:
        return pd.DataFrame(columns=["dataset", "metric", "method", "space", "seeds"])
    order = {d: i for i, d in enumerate(datasets)}
    methods = {name: i for i, name in enumerate(REGISTRY)}
    frame = frame.sort_values(["dataset", "method", "space", "bits"],
                              key=lambda c: c.map(order) if c.name == "dataset" else
                              c.map(methods) if c.name == "method" else c)
    rows = []
    for dataset, here in frame.groupby("dataset", sort=False):
        bits = sorted(here["bits"].unique())
        for column, label in hamming_labels(here.columns).items():
            for (method, space), group in here.groupby(["method", "space"], sort=False):
                values = dict(zip(group["bits"], group[column] * 100))
                rows.append({"dataset": dataset, "metric": label, "method": REGISTRY[method].title, "space": space,
                             "seeds": int(group["seeds"].max()),
                             **{f"{b} bits": values.get(b) for b in bits}})
    return pd.DataFrame(rows)


def literature_numbers() -> pd.DataFrame:
    """The published Hamming-ranking numbers (lshbench/data/literature_hashing.csv), as printed (fractions)."""
    return data_table("literature_hashing.csv")


LITERATURE_METRICS = {"mAP@ALL": "ap_all"}
OURS_DECIMALS = 4  # our numbers beside the published ones, in percent: to 1e-4 of a point


def literature_table(frame: pd.DataFrame, protocols: dict[str, str | None]) -> pd.DataFrame:
    """Every published number beside ours (percent): ours from each of our datasets that follows its protocol
    (``datasets[].hamming.protocol``), per space the method ran on; a cell we did not run stays empty."""
    published = literature_numbers()
    ours = []
    for dataset, protocol in protocols.items():
        if protocol is None or frame.empty:
            continue
        here = frame[frame["dataset"] == dataset]
        for metric, column in LITERATURE_METRICS.items():
            ours.append(pd.DataFrame({
                "protocol": protocol, "metric": metric, "method": here["method"], "bits": here["bits"],
                "our_dataset": dataset, "our_space": here["space"], "seeds": here["seeds"],
                "ours": (here[column] * 100).round(OURS_DECIMALS),
                "ours_tie_aware": (here[f"{column}_tie_aware"] * 100).round(OURS_DECIMALS)}))
    columns = ["protocol", "metric", "method", "bits", "our_dataset", "our_space", "seeds", "ours", "ours_tie_aware"]
    ours = pd.concat(ours, ignore_index=True) if ours else pd.DataFrame(columns=columns)
    merged = published.merge(ours, on=["protocol", "metric", "method", "bits"], how="left")
    # the transcribed fraction in percent by decimal arithmetic: 0.1588 is written 15.88, not 15.879999999999999
    merged["published"] = merged["value"].map(lambda v: float(Decimal(repr(float(v))) * 100))
    merged["method"] = merged["method"].map(lambda name: REGISTRY[name].title)
    return merged[["protocol", "dataset", "features", "metric", "method", "published_as", "bits", "published",
                   "our_dataset", "our_space", "seeds", "ours", "ours_tie_aware", "setting", "source"]]


def make_table(kind: str, method: str, datasets: list[str], metrics: list, histories: list,
               trainings: list, per_query: list = (), protocols: dict | None = None) -> pd.DataFrame:
    """One table of the `table` rule (rules/common.smk's TABLES), from the files it is made of: a method's figure
    (means over seeds) and its intervals, a training history, the comparison with the report, the summary at fixed
    budgets, the Pareto-optimal configurations or the significance tests (lshbench/evidence.py). ``verify`` makes it
    again to check the file."""
    from . import evidence

    if kind == "training":
        return history_table(list(histories), [tuple(t) for t in trainings])
    if kind == "hashing":
        return hashing_table(hamming_metrics(list(metrics)), datasets)
    if kind == "literature":
        return literature_table(hamming_metrics(list(metrics)), protocols or {})
    frame = read_metrics(list(metrics))
    if kind == "figure":
        return wide(figure_cells(frame, method), datasets)
    if kind == "figure_ci":
        return evidence.figure_intervals(frame, list(per_query), method)
    if kind == "vs_report":
        return vs_report(pd.concat([figure_cells(frame, m) for m in table_methods()], ignore_index=True))
    if kind == "pareto":
        return evidence.pareto(frame, list(per_query), datasets)
    if kind == "significance":
        return evidence.significance(frame, list(per_query), datasets)
    return evidence.summary(frame, list(per_query), datasets)
