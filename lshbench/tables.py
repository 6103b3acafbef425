"""The report's Figures 1-4 as tables, side by side with the report, computed only from metrics.csv / losses.csv files.

A figure is first built in long form, one row per cell: (figure, block, dataset, parameter, value, metric, ours), with
the report's block labels ("Embedding: 512", "PCA: 248", "#Hashtables = 3", "#HashTables = 8"); the wide tables in
the report's layout and the comparison with the report are both derived from it.
"""

from __future__ import annotations

import io
import re
from importlib import resources
from pathlib import Path

import pandas as pd

from .methods import REGISTRY

METRICS = {"precision_at_10": "Mean Precision @10", "precision_at_50": "Mean Precision @50",
           "mAP": "Mean Average Precision"}
CELL_COLUMNS = ["figure", "block", "dataset", "parameter", "value", "metric"]


def read_metrics(paths) -> pd.DataFrame:
    return pd.concat([pd.read_csv(p) for p in paths], ignore_index=True) if paths else pd.DataFrame()


def report_numbers() -> pd.DataFrame:
    """The report's 243 numbers (lshbench/data/report_figures.csv), in percent."""
    text = resources.files("lshbench").joinpath("data/report_figures.csv").read_text()
    lines = [line for line in text.splitlines() if not line.startswith("# ")]  # the note on the source
    return pd.read_csv(io.StringIO("\n".join(lines)))


def figure_cells(metrics: pd.DataFrame, method: str) -> pd.DataFrame:
    """Long form of one method's table (the report's Figures 1, 2, 4 for its methods): one row per (block, dataset,
    parameter value, metric), ``ours`` in percent. Blocks and the parameter come from the method's registry entry."""
    entry = REGISTRY[method]
    rows = metrics[metrics["method"] == method] if len(metrics) else metrics
    cells = []
    for _, row in rows.iterrows():
        for metric in METRICS:
            cells.append({"figure": entry.table, "block": entry.block(row), "dataset": row["dataset"],
                          "parameter": entry.axis, "value": int(row[entry.axis]), "metric": metric,
                          "ours": round(100 * float(row[metric]), 2), "space": row["space"]})
    return pd.DataFrame(cells, columns=[*CELL_COLUMNS, "ours", "space"])


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
    """Every report number beside ours and the difference (ours - report); a cell we did not run stays empty."""
    report = report_numbers()
    ours = cells[CELL_COLUMNS + ["ours"]] if len(cells) else pd.DataFrame(columns=CELL_COLUMNS + ["ours"])
    merged = report.merge(ours, on=CELL_COLUMNS, how="left", validate="one_to_one")
    merged["delta"] = (merged["ours"] - merged["report"]).round(2)
    return merged[[*CELL_COLUMNS, "report", "ours", "delta"]]


SUMMARY_PERCENT = ["precision_at_10", "precision_at_50", "strict_precision_at_10", "strict_precision_at_50", "mAP",
                   "mAP_all", "recall_at_10", "recall_at_50"]


def summary(metrics: pd.DataFrame, datasets: list[str]) -> pd.DataFrame:
    """Per dataset: exact search on each space, then each method's best configuration by mAP_all.

    Not by mAP: it divides by the relevant items retrieved, so it rises as buckets shrink (a K=200 k-means scanning
    0.7% of the demo gallery beats exact search on it). mAP_all divides by every relevant gallery item, so a
    method only scores by finding them. Timings are in results/timings.csv, so this table is the same on every run."""
    columns = ["dataset", "method", "space", "params", *SUMMARY_PERCENT, "candidates_fraction"]
    rows = []
    for dataset in datasets if len(metrics) else []:
        subset = metrics[metrics["dataset"] == dataset]
        exact = subset[subset["method"].map(lambda m: REGISTRY[m].baseline)]
        rows += [row for _, row in exact.iterrows()]
        for method in (name for name, entry in REGISTRY.items() if not entry.baseline):
            found = subset[subset["method"] == method]
            if len(found):
                rows.append(found.sort_values(["mAP_all", "params"], ascending=[False, True]).iloc[0])
    table = pd.DataFrame(rows, columns=metrics.columns)[columns].reset_index(drop=True) if rows else pd.DataFrame(
        columns=columns)
    for column in SUMMARY_PERCENT:
        table[column] = (100 * table[column].astype(float)).round(2)  # percent, as the figures
    table["candidates_fraction"] = (100 * table["candidates_fraction"].astype(float)).round(3)
    return table.rename(columns={"candidates_fraction": "candidates_percent"})


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


def make_table(kind: str, method: str, datasets: list[str], metrics: list, histories: list,
               trainings: list) -> pd.DataFrame:
    """One table of the `table` rule (rules/common.smk's TABLES), from the files it is made of: a method's figure, a
    training history, the comparison with the report or the summary. ``verify`` makes it again to check the file."""
    if kind == "training":
        return history_table(list(histories), [tuple(t) for t in trainings])
    frame = read_metrics(list(metrics))
    if kind == "figure":
        return wide(figure_cells(frame, method), datasets)
    if kind == "vs_report":
        return vs_report(pd.concat([figure_cells(frame, m) for m in table_methods()], ignore_index=True))
    return summary(frame, datasets)
