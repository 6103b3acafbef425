"""The tables of the report, each made from the files it reads: the dispatcher above the tables of the report's
figures and of the Hamming protocol (lshbench.tables) and the evidence (lshbench.evidence), which do not import it."""

from __future__ import annotations

import pandas as pd

from . import evidence, tables


def make_table(kind: str, method: str, datasets: list[str], metrics: list, histories: list,
               trainings: list, per_query: list = (), protocols: dict | None = None) -> pd.DataFrame:
    """One table of the `table` rule (rules/common.smk's TABLES), from the files it is made of: a method's figure
    (means over seeds) and its intervals, a training history, the comparison with the report, the summary at fixed
    budgets, the Pareto-optimal configurations or the significance tests (lshbench/evidence.py). ``verify`` makes it
    again to check the file."""
    if kind == "training":
        return tables.history_table(list(histories), [tuple(t) for t in trainings])
    if kind == "hashing":
        return tables.hashing_table(tables.hamming_metrics(list(metrics)), datasets)
    if kind == "literature":
        return tables.literature_table(tables.hamming_metrics(list(metrics)), protocols or {})
    frame = evidence.read_metrics(list(metrics))
    if kind == "figure":
        return tables.wide(tables.figure_cells(frame, method), datasets)
    if kind == "figure_ci":
        return tables.figure_intervals(frame, list(per_query), method)
    if kind == "vs_report":
        cells = [tables.figure_cells(frame, m) for m in tables.table_methods()]
        return tables.vs_report(pd.concat(cells, ignore_index=True))
    if kind == "pareto":
        return evidence.pareto(frame, list(per_query), datasets)
    if kind == "significance":
        return evidence.significance(frame, list(per_query), datasets)
    return evidence.summary(frame, list(per_query), datasets)
