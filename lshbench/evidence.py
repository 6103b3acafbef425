"""Evidence beside every number: intervals over seeds and over queries, the best configuration at fixed budgets of
the gallery scanned, the Pareto-optimal configurations and paired significance tests (lshbench/stats.py does the
arithmetic; docs/evaluation.md defines each interval and test).

Computed from the per-configuration files alone (metrics.csv for what each configuration is, per_query.parquet for
the query-level values), so every table here is the same on every run of one config (checksums.sha256).

* Over seeds: each configuration's replicates (one per seed) give the mean, the standard deviation and the Student-t
  95% interval of the mean (``replicates``).
* Over queries: the test queries are a sample. Each query's value is first averaged over the seeds, then the queries
  are resampled (paired: the same resampled queries for every configuration of a dataset, ``RESAMPLES`` draws from
  ``np.random.default_rng(BOOTSTRAP_SEED)``) for the percentile interval of the mean.
* Chosen on validation, reported on test: whatever chooses a configuration (``summary``, ``pareto``,
  ``significance``, the retrieval pictures) chooses by its metrics over the dataset's validation queries and reports
  its metrics, intervals and tests over the test queries (lshbench.split; per_query.parquet's ``split`` column), so a
  winner's reported value is not inflated by the choice. ``figure_intervals`` chooses nothing and keeps every query.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from . import layout
from .layout import Key
from .methods import REGISTRY
from .methods.registry import FAMILIES
from .metrics import AGGREGATES, flagged
from .split import TEST, VALIDATION

RESAMPLES = 1000
BOOTSTRAP_SEED = 0
TEST_RESAMPLES = 5000  # sign flips per test: the smallest p-value 1/5001, below 0.05 after Holm over 250 tests
LEVEL = 0.95
ALPHA = 0.05
BUDGETS = (("1%", 0.01), ("10%", 0.10), ("any", None))  # candidates scanned, as a share of the gallery


def read_metrics(keys: list[Key], root: str | Path = ".", name: str = "metrics.csv") -> pd.DataFrame:
    """The metrics.csv rows (or ``name``: timings.csv) of configurations ``keys`` (lshbench.layout), in their order,
    each with its ``configuration``: what its replicates over seeds share (its folder name without the seed; exact
    search 'all'), taken from its key."""
    if not keys:
        return pd.DataFrame()
    frames = [pd.read_csv(Path(root, layout.configuration_file(k, name))) for k in keys]
    return pd.concat(frames, ignore_index=True).assign(configuration=[k.configuration for k in keys])


CONFIGURATION_KEYS = ["dataset", "space", "method", "configuration"]


def replicates(metrics: pd.DataFrame, interval_columns=None, level: float = 0.95) -> pd.DataFrame:
    """One row per configuration (its replicates over seeds together): the first replicate's descriptive columns,
    the mean over seeds of every metric, and for ``interval_columns`` (default: the metrics flagged ``interval`` in
    lshbench.metrics) the standard deviation over seeds and the t-interval of the mean (``{column}_std``, ``_low``,
    ``_high``; NaN with one seed), cut at the metric's bounds (a fraction's interval stays within [0, 1]);
    ``seeds``: how many replicates. With one seed a metric's mean is its value, bit for bit."""
    from scipy.special import stdtrit  # Student t's quantile (scipy.stats takes seconds to import)

    if metrics.empty:
        return metrics.assign(configuration=[], seeds=[])
    if "configuration" not in metrics:
        raise ValueError("metrics without a configuration column: read them with lshbench.evidence.read_metrics, "
                         "which takes it from each configuration's key")
    columns = list(interval_columns or [a.name for a in flagged("interval")])
    frame = metrics
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
        low, high = out[column] - half[column], out[column] + half[column]
        bounds = AGGREGATES[column].bounds if column in AGGREGATES else None
        if bounds is not None:  # a t-interval can leave a fraction's range (three seeds near 1): cut at its bounds
            low, high = low.clip(lower=bounds[0]), high.clip(upper=bounds[1])
        out[f"{column}_std"] = std[column]
        out[f"{column}_low"] = low
        out[f"{column}_high"] = high
    out["seeds"] = counts
    return out.reset_index()[[*frame.columns, *(c for c in out.columns if c not in frame.columns)]]


def read_per_query(per_query, root: str | Path = ".") -> dict[Key, pd.DataFrame]:
    """Each configuration's per_query.parquet, rows by query id ascending (``per_query``: the configurations' keys,
    or such a mapping already read)."""
    if isinstance(per_query, dict):
        return per_query
    return {k: pd.read_parquet(Path(root, layout.configuration_file(k, "per_query.parquet")))
            .sort_values("query_id", kind="stable").reset_index(drop=True) for k in per_query}


def query_splits(frames: dict[Key, pd.DataFrame]) -> dict[str, pd.Series]:
    """Per dataset, each query's split (index: query id, ascending): the same in every per_query.parquet of it."""
    out: dict[str, pd.Series] = {}
    for key, frame in frames.items():
        where = layout.configuration_file(key, "per_query.parquet")
        if "split" not in frame:
            raise ValueError(f"{where} has no split column (written before evaluation.validation_fraction): run the "
                             f"metrics jobs again (snakemake --forcerun metrics)")
        split = pd.Series(frame["split"].to_numpy(), index=frame["query_id"].to_numpy())
        seen = out.setdefault(key.dataset, split)
        if seen is not split and not seen.equals(split):
            raise ValueError(f"{where} splits the queries of '{key.dataset}' differently from another configuration of "
                             f"the dataset (a metrics job of an older evaluation.validation_fraction or seed): run "
                             f"the metrics jobs again (snakemake --forcerun metrics)")
    return out


def choosing_split(split: pd.Series) -> str:
    """The queries a dataset's configurations are chosen on: its validation queries, or with none
    (evaluation.validation_fraction 0) its test queries themselves."""
    return VALIDATION if (split == VALIDATION).any() else TEST


def queries_label(split: pd.Series, which: str) -> str:
    """'validation, 200 queries': which queries a number is from."""
    return f"{which}, {int((split == which).sum())} queries"


def on_queries(metrics: pd.DataFrame, frames: dict[Key, pd.DataFrame], splits: dict[str, pd.Series],
               which: str) -> pd.DataFrame:
    """metrics.csv's rows with every metric (lshbench.metrics' aggregates) recomputed over the queries of the split
    ``which`` of their dataset alone, and ``n_queries`` their number."""

    if metrics.empty:
        return metrics
    out = metrics.copy()
    by_row = {key.row: frame for key, frame in frames.items()}
    columns = [name for name in AGGREGATES if name in out]
    values = {name: [] for name in columns}
    counts = []
    for dataset, space, method, params, n_gallery in zip(out["dataset"], out["space"], out["method"], out["params"],
                                                         out["n_gallery"]):
        frame = by_row.get((dataset, space, method, params))
        if frame is None:
            raise ValueError(f"{dataset}/{space}/{method} '{params}': its per_query.parquet is not among the files "
                             f"read beside its metrics.csv: run its metrics job again")
        mask = (frame["split"] == which).to_numpy()
        if not mask.any():
            raise ValueError(f"dataset '{dataset}' has no {which} queries: lower evaluation.validation_fraction")
        here = {c: frame[c].to_numpy()[mask] for c in frame.columns if c not in ("query_id", "label", "split")}
        counts.append(int(mask.sum()))
        for name in columns:
            try:
                values[name].append(AGGREGATES[name].compute(here, int(n_gallery)))
            except KeyError:  # a per-query column this file does not have (no exact neighbours, say)
                values[name].append(np.nan)
    for name in columns:
        out[name] = values[name]
    out["n_queries"] = counts
    return out


def seed_averaged(per_query, which: str | None = None) -> dict[tuple, pd.DataFrame]:
    """Per configuration, its per-query values averaged over its seeds (rows: query ids, ascending); ``which``: the
    queries of that split alone."""
    frames: dict[tuple, list[pd.DataFrame]] = {}
    for config, frame in read_per_query(per_query).items():
        if which is not None:
            frame = frame[frame["split"] == which]
        frame = frame.set_index("query_id").sort_index()
        key = config.replicates_key
        frames.setdefault(key, []).append(frame.drop(columns=["label", "split"], errors="ignore"))
    out = {}
    for key, parts in frames.items():
        index = parts[0].index
        if any(not p.index.equals(index) for p in parts):
            raise ValueError(f"{key}: the replicates' per_query.parquet files hold different queries; run the "
                             f"metrics job again (snakemake --forcerun metrics)")
        out[key] = sum(p.astype(float) for p in parts) / len(parts) if len(parts) > 1 else parts[0]
    return out


def query_intervals(averaged: dict[tuple, pd.DataFrame], keys: list[tuple], column: str) -> dict[tuple, tuple]:
    """The paired percentile bootstrap interval over queries of ``column``'s mean for each configuration: one set of
    resampled queries per dataset, shared by all its configurations."""
    from .stats import bootstrap_intervals

    out = {}
    for dataset in dict.fromkeys(k[0] for k in keys):
        here = [k for k in keys if k[0] == dataset and k in averaged and column in averaged[k]]
        if not here:
            continue
        matrix = np.stack([averaged[k][column].to_numpy(dtype=float) for k in here])
        _, lows, highs = bootstrap_intervals(matrix, level=LEVEL, resamples=RESAMPLES, seed=BOOTSTRAP_SEED)
        out.update({k: (lo, hi) for k, lo, hi in zip(here, lows, highs)})
    return out


def pareto_front(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Indices of the points no other point dominates (x lower or equal and y higher or equal, one strictly), by x
    ascending: the line ann-benchmarks draws per algorithm."""
    order = np.lexsort((-y, x))  # x ascending, then y descending
    front, best = [], -np.inf
    for i in order:
        if y[i] > best:
            front.append(i)
            best = y[i]
    return np.asarray(front, dtype=int)


def _methods(configs: pd.DataFrame) -> list[str]:
    present = set(configs["method"])
    return [m for m in REGISTRY if m in present]


def choose(configs: pd.DataFrame, budget: float | None, criterion: str) -> pd.Series | None:
    """The configuration with the highest mean ``criterion`` among those scanning at most ``budget`` of the gallery
    (ties: the configuration name); None when none fits."""
    fit = configs if budget is None else configs[configs["candidates_fraction"] <= budget]
    if fit.empty:
        return None
    return fit.sort_values([criterion, "space", "configuration"], ascending=[False, True, True]).iloc[0]


def chosen_and_reported(metrics: pd.DataFrame, per_query) -> tuple[dict, pd.DataFrame, pd.DataFrame, dict]:
    """What every choosing table starts from: the frames (``read_per_query``), the configurations (``replicates``)
    with their metrics over each dataset's choosing queries, the same over its test queries (indexed by
    CONFIGURATION_KEYS), and per dataset its split."""
    frames = read_per_query(per_query)
    splits = query_splits(frames)
    if metrics.empty or not splits:
        return frames, replicates(metrics), replicates(metrics), splits
    choosing = pd.concat([on_queries(metrics[metrics["dataset"] == d], frames, splits, choosing_split(split))
                          for d, split in splits.items()] or [metrics], ignore_index=True)
    test = on_queries(metrics[metrics["dataset"].isin(list(splits))], frames, splits, TEST)
    return frames, replicates(choosing), replicates(test).set_index(CONFIGURATION_KEYS, drop=False), splits


def shown_scale(name: str) -> int:
    """100 for a metric shown in percent (its ``percent`` flag), else 1."""
    return 100 if AGGREGATES[name].percent else 1


def summary(metrics: pd.DataFrame, per_query, datasets: list[str]) -> pd.DataFrame:
    """Per dataset: exact search on each space, then for each method and each budget of the gallery scanned (at
    most 1%, 10%, any) its best configuration by recall@10 and by mAP_all on the validation queries (``chosen_on``),
    with its values and the 95% intervals over seeds and over queries of the value it was chosen by on the test
    queries (``reported_on``). A method with no configuration within a budget has no row there."""
    frames, configs, reported, splits = chosen_and_reported(metrics, per_query)
    averaged = seed_averaged(frames, TEST)
    keys = list(reported.index)
    criteria = [a.name for a in flagged("criterion")]
    bounds = {c: query_intervals(averaged, keys, AGGREGATES[c].of) for c in criteria}
    rows = []

    shown = [a.name for a in flagged("shown")]

    def line(chosen, budget_label, criterion):
        key = tuple(chosen[k] for k in CONFIGURATION_KEYS)
        row = reported.loc[key]
        split = splits[row["dataset"]]
        low, high = bounds[criterion].get(key, (np.nan, np.nan))
        scale = shown_scale(criterion)
        return {"dataset": row["dataset"], "method": row["method"], "family": REGISTRY[row["method"]].family,
                "budget": budget_label, "chosen_by": criterion,
                "chosen_on": "no choice" if budget_label == "all" else queries_label(split, choosing_split(split)),
                "reported_on": queries_label(split, TEST),
                "space": row["space"], "configuration": row["configuration"], "seeds": int(row["seeds"]),
                "value": scale * row[criterion], "seed_ci_low": scale * row[f"{criterion}_low"],
                "seed_ci_high": scale * row[f"{criterion}_high"], "query_ci_low": scale * low,
                "query_ci_high": scale * high, **{name: shown_scale(name) * row[name] for name in shown},
                "candidates_percent": 100 * row["candidates_fraction"]}

    for dataset in datasets if len(configs) else []:
        here = configs[configs["dataset"] == dataset]
        for method in _methods(here):
            own = here[here["method"] == method]
            if REGISTRY[method].baseline:
                rows += [line(row, "all", criterion) for _, row in own.iterrows() for criterion in criteria]
                continue
            for label, budget in BUDGETS:
                for criterion in criteria:
                    chosen = choose(own, budget, criterion)
                    if chosen is not None:
                        rows.append(line(chosen, label, criterion))
    columns = ["dataset", "method", "family", "budget", "chosen_by", "chosen_on", "reported_on", "space",
               "configuration", "seeds", "value", "seed_ci_low", "seed_ci_high", "query_ci_low", "query_ci_high", *shown,
               "candidates_percent"]
    table = pd.DataFrame(rows, columns=columns)
    for column in columns[10:]:
        table[column] = table[column].astype(float).round(3 if column == "candidates_percent" else 2)
    return table


HEADLINE_BUDGETS = ("all", "1%", "10%")  # exact search (the ceiling), then the two budgets a reader asks about first


def headline(summary_table: pd.DataFrame) -> pd.DataFrame:
    """What a reader asks first, from ``summary``'s rows chosen by recall@10: per dataset, exact search on each space
    (the ceiling), then each method's best configuration within 1% and within 10% of the gallery scanned, best
    first, with ``rank`` within the dataset and budget (exact search: 0)."""
    rows = summary_table[(summary_table["chosen_by"] == "recall_at_10")
                         & summary_table["budget"].isin(HEADLINE_BUDGETS)].copy()
    order = {d: i for i, d in enumerate(dict.fromkeys(summary_table["dataset"]))}
    rows["_d"] = rows["dataset"].map(order)
    rows["_b"] = rows["budget"].map({b: i for i, b in enumerate(HEADLINE_BUDGETS)})
    rows = rows.sort_values(["_d", "_b", "value", "method"], ascending=[True, True, False, True], kind="stable")
    rows["rank"] = rows.groupby(["dataset", "budget"]).cumcount() + 1
    rows.loc[rows["budget"] == "all", "rank"] = 0
    columns = ["dataset", "budget", "rank", "method", "family", "space", "configuration", "seeds", "recall_at_10",
               "seed_ci_low", "seed_ci_high", "query_ci_low", "query_ci_high", "mAP_all", "precision_at_10",
               "candidates_percent", "chosen_on", "reported_on"]
    return rows.drop(columns=["value"] if "recall_at_10" in rows else []).reindex(columns=columns).reset_index(drop=True)


def pareto(metrics: pd.DataFrame, per_query, datasets: list[str]) -> pd.DataFrame:
    """Per dataset and method, the Pareto-optimal configurations of recall@10 (mean over seeds) against the share of
    the gallery scanned on the validation queries (``chosen_on``), by candidates ascending, with their values on the
    test queries (``reported_on``); exact search on each space once."""
    _, configs, reported, splits = chosen_and_reported(metrics, per_query)
    rows = []
    for dataset in datasets if len(configs) else []:
        here = configs[configs["dataset"] == dataset]
        split = splits[dataset]
        groups = [(m, here[here["method"] == m]) for m in _methods(here) if not REGISTRY[m].baseline]
        groups = [(m, own) for m, baseline in ((m, here[here["method"] == m]) for m in _methods(here))
                  if REGISTRY[m].baseline for _, own in baseline.groupby("space", sort=True)] + groups
        for method, own in groups:
            own = own.reset_index(drop=True)
            front = pareto_front(own["candidates_fraction"].to_numpy(float), own["recall_at_10"].to_numpy(float))
            for i in front:
                row = reported.loc[tuple(own.iloc[i][k] for k in CONFIGURATION_KEYS)]
                rows.append({"dataset": dataset, "method": method, "family": REGISTRY[method].family,
                             "space": row["space"],
                             "configuration": row["configuration"],
                             "chosen_on": queries_label(split, choosing_split(split)),
                             "reported_on": queries_label(split, TEST), "seeds": int(row["seeds"]),
                             "candidates_percent": round(100 * row["candidates_fraction"], 3),
                             "recall_at_10": round(100 * row["recall_at_10"], 2),
                             "seed_ci_low": round(100 * row["recall_at_10_low"], 2),
                             "seed_ci_high": round(100 * row["recall_at_10_high"], 2),
                             "mAP_all": round(100 * row["mAP_all"], 2)})
    return pd.DataFrame(rows, columns=["dataset", "method", "family", "space", "configuration", "chosen_on", "reported_on",
                                       "seeds", "candidates_percent", "recall_at_10", "seed_ci_low", "seed_ci_high",
                                       "mAP_all"])


def chosen_configurations(configs: pd.DataFrame, dataset: str) -> list[pd.Series]:
    """What a user compares on a dataset: each method's best configuration by mAP_all within 10% of the gallery
    scanned (``budget`` "10%"; a method with none within 10%: its best at any budget, ``budget`` "any"), and exact
    search on each space (``budget`` "all"). ``configs``: the configurations' metrics over the queries they are
    chosen on (``chosen_and_reported``)."""
    here = configs[configs["dataset"] == dataset]
    out = []
    for method in _methods(here):
        own = here[here["method"] == method]
        if REGISTRY[method].baseline:
            out += [row.copy() for _, row in own.iterrows()]
            for row in out[len(out) - len(own):]:
                row["budget"] = "all"
            continue
        chosen, budget = choose(own, 0.10, "mAP_all"), "10%"
        if chosen is None:
            chosen, budget = choose(own, None, "mAP_all"), "any"
        chosen = chosen.copy()
        chosen["budget"] = budget
        out.append(chosen)
    return out


def label(row) -> str:
    """'kmeans K=100_probes=1 (resnet18, 10%)': method, configuration, space and the budget it was chosen within."""
    return f"{row['method']} {row['configuration']} ({row['space']}, {row['budget']})"


def best_of(chosen: list[pd.Series], family: str) -> pd.Series | None:
    """The chosen configuration of a family: its methods' chosen configuration of the highest validation mAP_all
    (ties: registry order)."""
    own = [r for r in chosen if REGISTRY[r["method"]].family == family and not REGISTRY[r["method"]].baseline]
    return max(own, key=lambda r: r["mAP_all"]) if own else None


def significance(metrics: pd.DataFrame, per_query: list, datasets: list[str]) -> pd.DataFrame:
    """Per dataset, every pair of methods' chosen configurations (``chosen_configurations``, chosen on the
    validation queries), and each against exact search on its space, compared on the test queries' AP (over all
    relevant), P@10 and recall@10 averaged over seeds: the difference of means (a - b), its paired bootstrap 95%
    interval, the paired randomisation test's p-value and Holm's adjustment over all comparisons of the dataset;
    significant when the adjusted p < 0.05. ``comparison`` says which: two methods, one against exact search, or
    a family's chosen configuration (``best_of``) against the best hashing method's (a: the family's, b: hashing's):
    is hashing worth using at all."""
    from .stats import holm, paired_test

    frames, configs, _, splits = chosen_and_reported(metrics, per_query)
    averaged = seed_averaged(frames, TEST)
    rows = []
    for dataset in datasets if len(configs) else []:
        chosen = chosen_configurations(configs, dataset)
        methods = [r for r in chosen if not REGISTRY[r["method"]].baseline]
        exact = {r["space"]: r for r in chosen if REGISTRY[r["method"]].baseline}
        hashing = best_of(chosen, "hashing")
        bests = {f: best_of(chosen, f) for f in FAMILIES if f not in ("hashing", "exact")} if hashing is not None \
            else {}
        family_of = {id(best): f for f, best in bests.items() if best is not None}
        pairs = []
        for i, a in enumerate(methods):
            for b in methods[i + 1:]:
                if id(b) in family_of and b is not hashing and a is hashing:
                    a, b = b, a  # a family's best first, against the best hashing method
                kind = f"best {family_of[id(a)]} vs best hashing" if id(a) in family_of and b is hashing else "pair"
                pairs.append((a, b, kind))
        pairs += [(a, exact[a["space"]], "against exact") for a in methods if a["space"] in exact]
        found = []
        for a, b, kind in pairs:
            key_a, key_b = (tuple(r[k] for k in CONFIGURATION_KEYS) for r in (a, b))
            if key_a not in averaged or key_b not in averaged:
                continue
            for compared in flagged("compared"):
                column, scale = compared.of, shown_scale(compared.name)
                x, y = averaged[key_a][column].to_numpy(float), averaged[key_b][column].to_numpy(float)
                test = paired_test(x, y, resamples=TEST_RESAMPLES, seed=BOOTSTRAP_SEED)
                found.append({"dataset": dataset, "measure": column, "comparison": kind, "a": label(a),
                              "family_a": REGISTRY[a["method"]].family, "b": label(b),
                              "family_b": REGISTRY[b["method"]].family,
                              "chosen_on": queries_label(splits[dataset], choosing_split(splits[dataset])),
                              "reported_on": queries_label(splits[dataset], TEST),
                              "mean_a": scale * x.mean(), "mean_b": scale * y.mean(),
                              "difference": scale * test["difference"], "ci_low": scale * test["low"],
                              "ci_high": scale * test["high"], "p_value": test["p_value"]})
        if found:
            adjusted = holm(np.array([f["p_value"] for f in found]))
            for f, p in zip(found, adjusted):
                f["p_holm"] = float(p)
                f["significant"] = "yes" if p < ALPHA else "no"
            rows += found
    columns = ["dataset", "measure", "comparison", "a", "family_a", "b", "family_b", "chosen_on", "reported_on",
               "mean_a", "mean_b", "difference", "ci_low", "ci_high", "p_value", "p_holm", "significant"]
    table = pd.DataFrame(rows, columns=columns)
    for column in ("mean_a", "mean_b", "difference", "ci_low", "ci_high"):
        table[column] = table[column].astype(float).round(2)
    for column in ("p_value", "p_holm"):  # two significant digits: 0.0002 stays readable in the Markdown table
        table[column] = table[column].astype(float).map(lambda p: f"{p:.2g}")
    return table
