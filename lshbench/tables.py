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

from .evidence import query_intervals, replicates, seed_averaged
from .methods import REGISTRY
from .metrics import AGGREGATES

METRICS = {"precision_at_10": "Mean Precision @10", "precision_at_50": "Mean Precision @50",
           "mAP": "Mean Average Precision"}
CELL_COLUMNS = ["figure", "block", "dataset", "parameter", "value", "metric"]


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


def figure_intervals(metrics: pd.DataFrame, per_query: list, method: str) -> pd.DataFrame:
    """A figure's companion: per cell (block, metric, dataset, parameter value) the mean over seeds, the standard
    deviation over seeds and the t-interval of the mean, and the bootstrap interval over queries; in percent."""
    cells = figure_cells(metrics, method)
    averaged = seed_averaged(per_query)
    keys = list(dict.fromkeys(zip(cells.dataset, cells.space, [method] * len(cells), cells.configuration)))
    bounds = {metric: query_intervals(averaged, keys, AGGREGATES[metric].of) for metric in METRICS}
    rows = []
    for _, cell in cells.iterrows():
        low, high = bounds[cell.metric].get((cell.dataset, cell.space, method, cell.configuration), (np.nan, np.nan))
        rows.append({"block": cell.block, "metric": cell.metric, "dataset": cell.dataset,
                     "parameter": cell.parameter, "value": cell.value, "space": cell.space,
                     "configuration": cell.configuration, "seeds": cell.seeds, "mean": cell.ours,
                     "seed_std": cell["std"], "seed_ci_low": cell["low"], "seed_ci_high": cell["high"],
                     "query_ci_low": round(100 * low, 2), "query_ci_high": round(100 * high, 2)})
    columns = ["block", "metric", "dataset", "parameter", "value", "space", "configuration", "seeds", "mean",
               "seed_std", "seed_ci_low", "seed_ci_high", "query_ci_low", "query_ci_high"]
    return pd.DataFrame(rows, columns=columns)
