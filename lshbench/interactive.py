"""The interactive page of the report (results/plots/explorer.html): every configuration of every method, recall@10
and mAP over all relevant items against the share of the gallery scanned and against queries per second, one
dataset at a time (a menu), methods toggled in the legend, each point's method, configuration, seeds and intervals
on hover. Plotly, with its JavaScript written into the page (no network); the static PNGs stay for papers.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from .evidence import replicates
from .methods import REGISTRY
from .plots import by_family, on_markers

PANELS = (("candidates_fraction", "recall_at_10"), ("candidates_fraction", "mAP_all"), ("qps", "recall_at_10"),
          ("qps", "mAP_all"))
AXES = {"candidates_fraction": "candidates scanned (% of the gallery, log)", "qps": "queries per second (log)",
        "recall_at_10": "recall@10 vs exact top 10 (%)", "mAP_all": "mAP over all relevant (%)"}
SYMBOLS = {"clustering": "square", "hashing": "circle", "quantisation": "triangle-up", "graph": "diamond",
           "exact": "star-open"}


def points(metrics: pd.DataFrame, timings: pd.DataFrame) -> pd.DataFrame:
    """One row per configuration and panel: x and y as drawn (percent; queries per second), y's 95% interval over
    seeds, and whether the point sits on an exact-search marker (``on_exact_marker``)."""
    keys = ["dataset", "space", "method", "params"]
    rows = metrics.merge(timings[keys + ["queries_per_second"]], on=keys, how="left")
    rows = replicates(rows.rename(columns={"queries_per_second": "qps"}))
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


def _hover(frame: pd.DataFrame) -> list[str]:
    def interval(low, high):
        return "no interval (one seed)" if np.isnan(low) else f"95% interval over seeds {low:.2f} to {high:.2f}"

    return [f"<b>{r.method}</b> ({r.family}) on {r.space}<br>configuration: {r.configuration}<br>seeds: {r.seeds}"
            f"<br>{AXES[r.y_name]}: {r.y:.2f} ({interval(r.y_ci_low, r.y_ci_high)})<br>{AXES[r.x_name]}: {r.x:.4g}"
            + ("<br>on an exact-search marker" if r.on_exact_marker else "") for r in frame.itertuples()]


def explorer(metrics: pd.DataFrame, timings: pd.DataFrame, datasets: list[str], path: str | os.PathLike):
    """Write the page; return its points (its CSV)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    drawn = points(metrics, timings)
    datasets = [d for d in datasets if d in set(drawn["dataset"])]
    figure = make_subplots(rows=2, cols=2, horizontal_spacing=0.08, vertical_spacing=0.12,
                           subplot_titles=[f"{AXES[y]} against {AXES[x].split(' (')[0]}" for x, y in PANELS])
    traces = []  # (dataset) of each trace, for the menu's visibility
    for dataset in datasets:
        here = drawn[drawn["dataset"] == dataset]
        methods = by_family(set(here["method"]))
        for method in methods:
            entry = REGISTRY[method]
            for panel, (x, y) in enumerate(PANELS):
                rows = here[(here["method"] == method) & (here["x_name"] == x) & (here["y_name"] == y)]
                error = None if rows["y_ci_low"].isna().all() else dict(
                    type="data", symmetric=False, array=(rows["y_ci_high"] - rows["y"]).to_numpy(),
                    arrayminus=(rows["y"] - rows["y_ci_low"]).to_numpy(), thickness=1, width=2)
                figure.add_trace(go.Scatter(
                    x=rows["x"], y=rows["y"], mode="markers",
                    name="exact search" if entry.baseline else f"{entry.family}: {method}",
                    legendgroup=f"{dataset}:{method}", showlegend=panel == 0, visible=dataset == datasets[0],
                    marker=dict(symbol=SYMBOLS[entry.family], size=14 if entry.baseline else 8,
                                color=_colour(entry.colour), line=dict(width=1.5 if entry.baseline else 0.5,
                                                                       color=_colour(entry.colour))),
                    error_y=error, hovertext=_hover(rows), hoverinfo="text",
                    customdata=rows["configuration"]), row=panel // 2 + 1, col=panel % 2 + 1)
                traces.append(dataset)
    for panel, (x, y) in enumerate(PANELS):
        figure.update_xaxes(type="log", title_text=AXES[x], row=panel // 2 + 1, col=panel % 2 + 1)
        figure.update_yaxes(title_text=AXES[y], row=panel // 2 + 1, col=panel % 2 + 1)
    menu = [dict(label=f"dataset: {d}", method="update", args=[{"visible": [t == d for t in traces]},
                                                 {"title.text": _title(d)}]) for d in datasets]
    figure.update_layout(
        title=dict(text=_title(datasets[0]) if datasets else "no configuration", x=0.12, xanchor="left", y=0.985),
        height=900, hovermode="closest",
        updatemenus=[dict(buttons=menu, direction="down", x=0, xanchor="left", y=1.13, yanchor="top",
                          showactive=True)] if len(datasets) > 1 else [],
        legend=dict(title="click: hide or show; double-click: only this", font=dict(size=11)),
        margin=dict(l=60, r=20, t=110, b=50), template="plotly_white")
    figure.write_html(str(path), include_plotlyjs=True, full_html=True, div_id="explorer",
                      config={"displaylogo": False, "responsive": True})
    return drawn


def _title(dataset: str) -> str:
    return f"{dataset}: every configuration (mean over seeds, bars: 95% interval over seeds)"


def _colour(name: str) -> str:
    """A matplotlib colour name ('tab:blue') as the hex Plotly takes."""
    from matplotlib.colors import to_hex

    return to_hex(name)
