"""The interactive page of the report (results/plots/explorer.html): every configuration of every method, recall@10
and mAP over all relevant items against the share of the gallery scanned and against queries per second, one
dataset at a time (a menu), methods toggled in the legend, each point's method, configuration, seeds and intervals
on hover. SVG drawn by a few lines of JavaScript written into the page (lshbench/data/explorer.html), no library
and no network: the HTML report shows a result as a data: URL in a frame, which Chromium refuses above 2 MB (Plotly's
library alone is 4.8 MB). The static PNGs stay for papers.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from .evidence import replicates
from .methods import REGISTRY
from .plots import by_family, on_markers, with_qps

PANELS = (("candidates_fraction", "recall_at_10"), ("candidates_fraction", "mAP_all"), ("qps", "recall_at_10"),
          ("qps", "mAP_all"))
AXES = {"candidates_fraction": "candidates scanned (% of the gallery, log)", "qps": "queries per second (log)",
        "recall_at_10": "recall@10 vs exact top 10 (%)", "mAP_all": "mAP over all relevant (%)"}
SYMBOLS = {"clustering": "square", "hashing": "circle", "quantisation": "triangle", "graph": "diamond",
           "exact": "star"}


def points(metrics: pd.DataFrame, timings: pd.DataFrame) -> pd.DataFrame:
    """One row per configuration and panel: x and y as drawn (percent; queries per second), y's 95% interval over
    seeds, and whether the point sits on an exact-search marker (``on_exact_marker``)."""
    rows = replicates(with_qps(metrics, timings))
    out = []
    for x, y in PANELS:
        scale = 100 if x == "candidates_fraction" else 1
        frame = pd.DataFrame({
            "dataset": rows["dataset"], "method": rows["method"],
            "family": rows["method"].map(lambda m: REGISTRY[m].family), "space": rows["space"],
            "configuration": rows["configuration"], "seeds": rows["seeds"], "x_name": x, "y_name": y,
            "x": scale * rows[x].astype(float), "y": 100 * rows[y].astype(float),
            "y_ci_low": 100 * rows[f"{y}_low"].astype(float), "y_ci_high": 100 * rows[f"{y}_high"].astype(float)})
        exact = frame["method"].map(lambda m: REGISTRY[m].baseline).astype(bool)
        frame["on_exact_marker"] = False
        for dataset in frame["dataset"].unique():
            here = frame["dataset"] == dataset
            markers = frame.loc[here & exact, ["x", "y"]].to_numpy(float)
            frame.loc[here & ~exact, "on_exact_marker"] = on_markers(frame.loc[here & ~exact, ["x", "y"]]
                                                                     .to_numpy(float), markers)
        out.append(frame)
    return pd.concat(out, ignore_index=True)


def explorer(metrics: pd.DataFrame, timings: pd.DataFrame, datasets: list[str], path: str | os.PathLike):
    """Write the page; return its points (its CSV)."""
    drawn = points(metrics, timings)
    datasets = [d for d in datasets if d in set(drawn["dataset"])]
    wide = drawn[drawn["x_name"] == "candidates_fraction"].reset_index(drop=True)
    qps = drawn[drawn["x_name"] == "qps"].reset_index(drop=True)
    rows = []
    for y in ("recall_at_10", "mAP_all"):
        share, speed = wide[wide["y_name"] == y].reset_index(drop=True), qps[qps["y_name"] == y].reset_index(drop=True)
        for i, r in share.iterrows():
            rows.append({"d": r.dataset, "m": r.method, "f": r.family, "s": r.space, "c": r.configuration,
                         "n": int(r.seeds), "y": y, "v": _number(r.y), "lo": _number(r.y_ci_low),
                         "hi": _number(r.y_ci_high), "share": _number(r.x), "qps": _number(speed.loc[i, "x"]),
                         "on": bool(r.on_exact_marker or speed.loc[i, "on_exact_marker"])})
    methods = by_family(set(drawn["method"]))
    legend = [{"m": m, "f": REGISTRY[m].family, "colour": _colour(REGISTRY[m].colour), "exact": REGISTRY[m].baseline,
               "symbol": SYMBOLS[REGISTRY[m].family]} for m in methods]
    data = json.dumps({"datasets": datasets, "methods": legend, "points": rows, "axes": AXES}, allow_nan=False)
    Path(path).write_text(PAGE.replace("/*DATA*/", data.replace("</", "<\\/")))
    return drawn


def _number(value) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), 6)


def _colour(name: str) -> str:
    """A matplotlib colour name ('tab:blue') as hex."""
    from matplotlib.colors import to_hex

    return to_hex(name)


PAGE = (Path(__file__).parent / "data" / "explorer.html").read_text()
