"""Pictures of the trade-offs, drawn only from metrics.csv rows and losses.csv files (matplotlib, PNG): means over
seeds with the 95% t-interval over seeds as error bars, each method's Pareto frontier as a line. Each function
returns the points it drew, which the rule writes beside the picture (results/plots/{name}.csv)."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

import numpy as np  # noqa: E402

from .methods import REGISTRY  # noqa: E402
from .methods.registry import FAMILIES  # noqa: E402
from .evidence import pareto_front  # noqa: E402
from .evidence import replicates  # noqa: E402
from .tables import METRICS  # noqa: E402


def _error(group: pd.DataFrame, column: str, scale: float = 100):
    """Error bars of the 95% t-interval over seeds (None with one seed)."""
    low, high = f"{column}_low", f"{column}_high"
    if low not in group or group[low].isna().all():
        return None
    return np.vstack([scale * (group[column] - group[low]), scale * (group[high] - group[column])]).clip(min=0)


def _series(rows: pd.DataFrame, method: str):
    """(label, rows) for each line of a method's plot: per space and the registry entry's series columns (probes for
    k-means, L and centring for hyperplanes, ...)."""
    entry = REGISTRY[method]
    keys = ["space", *entry.series]
    for values, group in rows.groupby(keys, sort=True):
        label = ", ".join(f"{k}={v}" for k, v in zip(keys, values) if k != "space" or rows["space"].nunique() > 1)
        yield label or values[0], group.sort_values(entry.axis)


def method_plot(metrics: pd.DataFrame, dataset: str, method: str, path: str | os.PathLike) -> pd.DataFrame:
    """P@10, P@50 and mAP against the method's parameter (K, H per L, J) on one dataset."""
    rows = replicates(metrics[(metrics["dataset"] == dataset) & (metrics["method"] == method)])
    figure, axes = plt.subplots(1, 3, figsize=(13, 3.8), constrained_layout=True)
    entry = REGISTRY[method]
    parameter = entry.axis
    exact = metrics[(metrics["dataset"] == dataset) & (metrics["method"] == "exact")]
    drawn = []
    for axis, (metric, title) in zip(axes, METRICS.items()):
        for label, group in _series(rows, method):
            axis.errorbar(group[parameter], 100 * group[metric], yerr=_error(group, metric), marker="o",
                          label=label, capsize=3)
            drawn.append(_points(group, title, label, parameter, metric))
        for _, row in exact[exact["space"].isin(rows["space"])].iterrows():
            axis.axhline(100 * row[metric], color="grey", linestyle=":", linewidth=1)
            drawn.append(_points(replicates(pd.DataFrame([row])), title, f"exact search ({row['space']})", None,
                                 metric))
        if entry.log_axis:
            axis.set_xscale("log")
        axis.set_xlabel(parameter)
        axis.set_ylabel(f"{title} (%)")
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    figure.suptitle(f"{dataset}: {entry.title} (mean over seeds, bars: 95% interval; dotted: exact search)")
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return pd.concat(drawn, ignore_index=True)


def _points(group: pd.DataFrame, panel: str, series: str, x: str | None, y: str, scale: float = 100) -> pd.DataFrame:
    """The points of one line or marker as its plot's CSV has them: the panel, the series, the configuration and its
    seeds, x and y (y in percent) and y's 95% interval over seeds (empty with one seed)."""
    low = group[f"{y}_low"] if f"{y}_low" in group else np.nan
    high = group[f"{y}_high"] if f"{y}_high" in group else np.nan
    return pd.DataFrame({"panel": panel, "series": series, "dataset": group["dataset"].to_numpy(),
                         "space": group["space"].to_numpy(), "method": group["method"].to_numpy(),
                         "configuration": group["configuration"].to_numpy(), "seeds": group["seeds"].to_numpy(),
                         "x_name": x or "", "x": group[x].to_numpy(float) if x else np.nan,
                         "y_name": y, "y": scale * group[y].to_numpy(float),
                         "y_ci_low": scale * np.asarray(low, float), "y_ci_high": scale * np.asarray(high, float)})


EXACT_MARKERS = ("*", "P", "X", "h", "p", "8")
# one marker shape per family of methods (lshbench.methods.registry.FAMILIES; exact search: EXACT_MARKERS per space)
FAMILY_MARKERS = {"clustering": "s", "hashing": "o", "quantisation": "^", "graph": "D", "exact": "*"}


def by_family(methods) -> list[str]:
    """Methods grouped by family (FAMILIES' order), registry order within one: the legends' order."""
    return sorted((m for m in REGISTRY if m in set(methods)),
                  key=lambda m: FAMILIES.index(REGISTRY[m].family))


def _scatter_panels(rows: pd.DataFrame, panels, title: str, path: str | os.PathLike) -> pd.DataFrame:
    """One panel per (x column, y column, x label, y label): every configuration of every method as a dot (mean over
    seeds, the seed interval as error bars) and the method's Pareto frontier as a line (x: less is better for the
    share scanned, more for queries per second), exact search once per space (labelled with it) as a hollow marker
    under the dots, and a note naming the methods whose points sit on an exact-search marker; x on a log scale,
    shares and y values in percent. Returns the points drawn (the plot's CSV)."""
    figure, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4), constrained_layout=True)
    drawn = []
    for axis, (x, y, x_label, y_label) in zip(axes, panels):
        scale = 100 if x == "candidates_fraction" else 1
        baseline = rows["method"].map(lambda m: REGISTRY[m].baseline).astype(bool)
        exact = rows[baseline].sort_values("space")
        for marker, (_, row) in zip(EXACT_MARKERS * 4, exact.iterrows()):
            axis.scatter([scale * row[x]], [100 * row[y]], label=f"{row['method']} ({row['space']})", marker=marker,
                         s=170, facecolors="none", edgecolors=REGISTRY[row["method"]].colour, linewidths=1.6,
                         zorder=1)
        points = _points(exact, y_label, "exact search", x, y).assign(x=scale * exact[x].to_numpy(float),
                                                                        pareto=False)
        drawn.append(points)
        markers, under = points[["x", "y"]].to_numpy(float), {}
        for method in by_family(set(rows.loc[~baseline, "method"])):
            group = rows[rows["method"] == method].reset_index(drop=True)
            colour, family = REGISTRY[method].colour, REGISTRY[method].family
            axis.errorbar(scale * group[x], 100 * group[y], yerr=_error(group, y), label=f"{family}: {method}",
                          marker=FAMILY_MARKERS[family], markersize=4, linestyle="none", color=colour, alpha=0.7,
                          capsize=2, zorder=3)
            sign = -1 if x == "qps" else 1  # the frontier: fewer candidates, or more queries per second, is better
            front = pareto_front(sign * group[x].to_numpy(float), group[y].to_numpy(float))
            axis.plot(scale * group[x].to_numpy(float)[front], 100 * group[y].to_numpy(float)[front], color=colour,
                      linewidth=1.2, zorder=2)
            on_front = np.isin(np.arange(len(group)), front)
            points = _points(group, y_label, f"{family}: {method}", x, y).assign(x=scale * group[x].to_numpy(float),
                                                                                 pareto=on_front)
            hidden = on_markers(points[["x", "y"]].to_numpy(float), markers)
            if hidden.any():
                under[method] = int(hidden.sum())
            drawn.append(points.assign(on_exact_marker=hidden))
        if under:
            note = "on an exact-search marker: " + ", ".join(f"{m} ({n})" for m, n in under.items())
            axis.text(0.01, 0.01, note, transform=axis.transAxes, fontsize=7, va="bottom", ha="left",
                      bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none"})
        axis.set_xscale("log")
        axis.set_xlabel(x_label)
        axis.set_ylabel(y_label)
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    figure.suptitle(title)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    out = pd.concat(drawn, ignore_index=True)
    out["on_exact_marker"] = out["on_exact_marker"].fillna(False).astype(bool)
    return out


def on_markers(points: np.ndarray, markers: np.ndarray, decades: float = 0.02, percent: float = 1.0) -> np.ndarray:
    """Which (x, y) ``points`` sit on one of the ``markers`` (x on a log scale: within ``decades`` of a decade; y in
    percent: within ``percent`` points): points a reader would not see apart from the marker."""
    if not len(points) or not len(markers):
        return np.zeros(len(points), bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        dx = np.abs(np.log10(points[:, None, 0]) - np.log10(markers[None, :, 0]))
    dy = np.abs(points[:, None, 1] - markers[None, :, 1])
    return ((dx <= decades) & (dy <= percent)).any(axis=1)


SCANNED = "candidates scanned (% of the gallery)"
RECALL = "recall@10 vs exact top 10 (%)"


def tradeoff_plot(metrics: pd.DataFrame, dataset: str, path: str | os.PathLike) -> pd.DataFrame:
    """recall@10 and mAP_all against the share of the gallery scanned. mAP_all, not mAP: mAP rises as buckets
    shrink."""
    panels = (("candidates_fraction", "recall_at_10", SCANNED, RECALL),
              ("candidates_fraction", "mAP_all", SCANNED, "mAP over all relevant (%)"))
    return _scatter_panels(replicates(metrics[metrics["dataset"] == dataset]), panels,
                           f"{dataset}: quality against candidates scanned (lines: Pareto frontiers)", path)


def with_qps(metrics: pd.DataFrame, timings: pd.DataFrame) -> pd.DataFrame:
    """The metrics rows with their search's queries per second (timings.csv ``queries_per_second``) as ``qps``."""
    keys = ["dataset", "space", "method", "params"]
    return metrics.merge(timings[keys + ["queries_per_second"]], on=keys, how="left").rename(
        columns={"queries_per_second": "qps"})


def qps_plot(metrics: pd.DataFrame, timings: pd.DataFrame, dataset: str, path: str | os.PathLike) -> pd.DataFrame:
    """recall@10 against queries per second (log scale) as ann-benchmarks plots it, and precision@10 against the
    share of the gallery scanned. Queries per second: the batch search's (timings.csv ``queries_per_second``:
    candidates, re-ranking, top 100; lshbench.search), never the evaluation's bookkeeping."""
    rows = replicates(with_qps(metrics[metrics["dataset"] == dataset], timings))
    panels = (("qps", "recall_at_10", "queries per second (log)", RECALL),
              ("candidates_fraction", "precision_at_10", SCANNED, "precision@10 (%)"))
    return _scatter_panels(rows, panels, f"{dataset}: recall against speed, precision against candidates scanned",
                           path)


GRID_COLUMNS = 2  # panels per row of a grid of plots: readable at the HTML report's width (about 1,100 px)


def history_plot(history: pd.DataFrame, method: str, path: str | os.PathLike) -> pd.DataFrame:
    """A training step's history per epoch (Figure 3's loss for neural LSH): one panel per training, two per row,
    one curve per column the registry entry names (network 0 where there are several). Returns the curves drawn."""
    training = REGISTRY[method].training
    keys = ["dataset", "space", "training"]
    panels = list(dict.fromkeys(history[keys].itertuples(index=False, name=None))) or [(f"(no {method} run)", "", "")]
    columns = min(GRID_COLUMNS, len(panels))
    lines = -(-len(panels) // columns)
    figure, axes = plt.subplots(lines, columns, figsize=(5 * columns, 3.6 * lines), constrained_layout=True,
                                squeeze=False)
    drawn = []
    for axis, (dataset, space, folder) in zip(axes.flat, panels):
        rows = history[(history["dataset"] == dataset) & (history["space"] == space) & (history["training"] == folder)]
        if "network" in rows:
            rows = rows[rows["network"] == 0]
        for column, label in training.curves.items():
            if len(rows):
                axis.plot(rows["epoch"], rows[column], marker=".", label=label)
                drawn.append(pd.DataFrame({"dataset": dataset, "space": space, "training": folder, "curve": label,
                                           "column": column, "epoch": rows["epoch"].to_numpy(),
                                           "loss": rows[column].to_numpy(float)}))
        axis.set_title(f"{dataset} {space}: {training.title(folder)}" if space else dataset, fontsize=10)
        axis.set_xlabel("epoch")
        axis.set_ylabel("loss (mean over batches)")
        axis.set_yscale("symlog")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    for axis in list(axes.flat)[len(panels):]:
        axis.set_visible(False)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return pd.concat(drawn, ignore_index=True) if drawn else pd.DataFrame(
        columns=["dataset", "space", "training", "curve", "column", "epoch", "loss"])


def hamming_pr_plot(curves: pd.DataFrame, dataset: str, path: str | os.PathLike) -> pd.DataFrame:
    """The precision-recall curve of Hamming-radius retrieval (every item within radius r, r = 0..B), one curve per
    method (and space) and code length, the mean over the replicates at each radius (lshbench.hamming.pr_curve)."""
    rows = curves[curves["dataset"] == dataset]
    figure, axis = plt.subplots(figsize=(7.5, 5.5), constrained_layout=True)
    styles = ["-", "--", ":", "-."]
    lengths = sorted(rows["bits"].unique())
    drawn = []
    for (method, space, bits), group in rows.groupby(["method", "space", "bits"], sort=False):
        mean = group.groupby("radius")[["precision", "recall"]].mean()
        label = f"{REGISTRY[method].title}{f' ({space})' if rows['space'].nunique() > 1 else ''}, {bits} bits"
        axis.plot(100 * mean["recall"], 100 * mean["precision"], color=REGISTRY[method].colour,
                  linestyle=styles[lengths.index(bits) % len(styles)], marker=".", label=label)
        drawn.append(pd.DataFrame({"dataset": dataset, "method": method, "space": space, "bits": bits,
                                   "radius": mean.index.to_numpy(), "recall": 100 * mean["recall"].to_numpy(),
                                   "precision": 100 * mean["precision"].to_numpy(), "seeds": group["seed"].nunique()
                                   if "seed" in group else 1}))
    axis.set_xlabel("recall within Hamming radius r (%)")
    axis.set_ylabel("precision within Hamming radius r (%)")
    axis.set_xlim(0, 100)
    axis.set_ylim(0, 100)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7, ncol=2)
    axis.set_title(f"{dataset}: Hamming-radius retrieval, r = 0..B\n(precision against recall, mean over seeds)")
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return pd.concat(drawn, ignore_index=True)
