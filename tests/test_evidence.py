"""Means and intervals over seeds, the summary at fixed budgets, Pareto frontiers and paired significance, from
metrics.csv rows and per_query.parquet files written by the tests (lshbench/evidence.py, lshbench/tables.py)."""

import numpy as np
import pandas as pd
import pytest

from lshbench.evidence import pareto, pareto_front, significance, summary
from lshbench.tables import figure_cells, replicates, vs_report

N_QUERIES = 400


def row(method, params, seed, space="resnet18", **values):
    base = {"dataset": "d", "space": space, "dim": 512, "method": method, "params": params, "seed": seed,
            "K": None, "probes": None, "H": None, "L": None, "center": None,
            "precision_at_10": 0.5, "precision_at_50": 0.4, "strict_precision_at_10": 0.5,
            "strict_precision_at_50": 0.3, "mAP": 0.3, "mAP_all": 0.2, "recall_at_10": 0.5, "recall_at_50": 0.5,
            "candidates_fraction": 0.1}
    return {**base, **values}


def write_per_query(root, r, values: dict):
    folder = root / "results" / r["dataset"] / "metrics" / r["space"] / r["method"] / r["params"]
    folder.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame({"query_id": np.arange(N_QUERIES), "label": np.zeros(N_QUERIES, int), **values})
    frame.to_parquet(folder / "per_query.parquet", index=False)
    return str(folder / "per_query.parquet")


def test_replicates_are_the_mean_sd_and_t_interval_over_seeds():
    rows = [row("kmeans", f"K=10_probes=1_seed={s}", s, K=10, probes=1, precision_at_10=v)
            for s, v in enumerate([0.1, 0.2, 0.3, 0.4])]
    out = replicates(pd.DataFrame(rows))
    assert len(out) == 1 and out.configuration[0] == "K=10_probes=1" and out.seeds[0] == 4
    assert out.precision_at_10[0] == pytest.approx(0.25)
    assert out.precision_at_10_std[0] == pytest.approx(0.1290994)
    half = 3.182446 * 0.1290994 / 2  # t_{0.975, 3} s / sqrt(n)
    assert (out.precision_at_10_low[0], out.precision_at_10_high[0]) == pytest.approx((0.25 - half, 0.25 + half), abs=1e-6)


def test_one_seed_keeps_its_value_bit_for_bit_and_has_no_interval():
    value = 0.1 + 0.2  # not a round number
    out = replicates(pd.DataFrame([row("kmeans", "K=10_probes=1_seed=0", 0, K=10, probes=1, mAP=value)]))
    assert out.mAP[0] == value and np.isnan(out.mAP_std[0]) and np.isnan(out.mAP_low[0])


def test_figure_cells_average_the_seeds_and_vs_report_says_within_ci():
    # the report's Figure 1, Embedding 512, cifar10, K=10, precision@10 is 75.58
    rows = [row("kmeans", f"K=10_probes=1_seed={s}", s, dataset="cifar10", K=10, probes=1, precision_at_10=v)
            for s, v in enumerate([0.74, 0.76, 0.78])]
    cells = figure_cells(pd.DataFrame(rows), "kmeans")
    cell = cells[cells.metric == "precision_at_10"].iloc[0]
    assert (cell.ours, cell.seeds) == (76.0, 3)
    compared = vs_report(cells)
    hit = compared[(compared.figure == "figure1_kmeans") & (compared.block == "Embedding: 512")
                   & (compared.dataset == "cifar10") & (compared.value == 10) & (compared.metric == "precision_at_10")]
    assert hit.within_ci.tolist() == ["yes"] and hit.ci_low.iloc[0] < 75.58 < hit.ci_high.iloc[0]
    narrow = [row("kmeans", f"K=10_probes=1_seed={s}", s, dataset="cifar10", K=10, probes=1, precision_at_10=v)
              for s, v in enumerate([0.700, 0.701, 0.702])]
    compared = vs_report(figure_cells(pd.DataFrame(narrow), "kmeans"))
    assert compared.within_ci.value_counts().to_dict() == {"no": 3}  # the three cells run: none holds the report


def test_pareto_front_by_hand():
    x = np.array([0.5, 0.1, 0.2, 0.3, 0.1])
    y = np.array([0.9, 0.2, 0.6, 0.5, 0.3])
    assert pareto_front(x, y).tolist() == [4, 2, 0]  # (0.1, 0.3), (0.2, 0.6), (0.5, 0.9); (0.3, 0.5) is dominated


def budget_configurations(tmp_path):
    """k-means at three K: 0.5%, 5% and 50% of the gallery scanned, recall rising with the share; exact search."""
    rng = np.random.default_rng(0)
    rows, paths = [], []
    for K, fraction, recall in ((1000, 0.005, 0.3), (100, 0.05, 0.6), (10, 0.5, 0.9)):
        for seed in range(3):
            r = row("kmeans", f"K={K}_probes=1_seed={seed}", seed, K=K, probes=1, candidates_fraction=fraction,
                    recall_at_10=recall + 0.01 * seed, mAP_all=recall / 2)
            rows.append(r)
            paths.append(write_per_query(tmp_path, r, {
                "recall_at_10": np.clip(recall + 0.01 * seed + rng.normal(0, 0.1, N_QUERIES), 0, 1),
                "average_precision_all": np.full(N_QUERIES, recall / 2),
                "precision_at_10": np.full(N_QUERIES, 0.5)}))
    exact = row("exact", "all", np.nan, candidates_fraction=1.0, recall_at_10=1.0, mAP_all=0.6)
    rows.append(exact)
    paths.append(write_per_query(tmp_path, exact, {"recall_at_10": np.ones(N_QUERIES),
                                                   "average_precision_all": np.full(N_QUERIES, 0.6),
                                                   "precision_at_10": np.full(N_QUERIES, 0.6)}))
    return pd.DataFrame(rows), paths


def test_summary_picks_the_best_within_each_budget(tmp_path):
    metrics, paths = budget_configurations(tmp_path)
    table = summary(metrics, paths, ["d"])
    by_recall = table[(table.method == "kmeans") & (table.chosen_by == "recall_at_10")]
    assert dict(zip(by_recall.budget, by_recall.configuration)) == {"1%": "K=1000_probes=1", "10%": "K=100_probes=1",
                                                                    "any": "K=10_probes=1"}
    chosen = by_recall[by_recall.budget == "10%"].iloc[0]
    assert chosen.value == 61.0 and chosen.seeds == 3  # mean of 0.60, 0.61, 0.62
    assert chosen.seed_ci_low < 61.0 < chosen.seed_ci_high and chosen.query_ci_low < 61.0 < chosen.query_ci_high
    assert table.method.iloc[0] == "exact"


def test_pareto_table_keeps_the_frontier(tmp_path):
    metrics, _ = budget_configurations(tmp_path)
    dominated = row("kmeans", "K=50_probes=1_seed=0", 0, K=50, probes=1, candidates_fraction=0.2, recall_at_10=0.4)
    table = pareto(pd.concat([metrics, pd.DataFrame([dominated])], ignore_index=True), ["d"])
    assert table[table.method == "kmeans"].configuration.tolist() == ["K=1000_probes=1", "K=100_probes=1",
                                                                      "K=10_probes=1"]


def two_methods(tmp_path, difference):
    """Two methods within 10% of the gallery, per-query AP of the second lower by ``difference``; exact search."""
    rng = np.random.default_rng(1)
    base = rng.uniform(0.2, 0.8, N_QUERIES)
    rows, paths = [], []
    for method, params, shift in (("kmeans", "K=100_probes=1", 0.0), ("hyperplane", "H=8_L=3_center=true", difference)):
        for seed in range(2):
            values = np.clip(base - shift + rng.normal(0, 0.05, N_QUERIES), 0, 1)
            r = row(method, f"{params}_seed={seed}", seed, candidates_fraction=0.05, mAP_all=float(values.mean()),
                    K=100 if method == "kmeans" else None, probes=1 if method == "kmeans" else None,
                    H=8 if method == "hyperplane" else None, L=3 if method == "hyperplane" else None,
                    center=True if method == "hyperplane" else None)
            rows.append(r)
            paths.append(write_per_query(tmp_path, r, {"average_precision_all": values, "precision_at_10": values,
                                                       "recall_at_10": values}))
    exact = row("exact", "all", np.nan, candidates_fraction=1.0, mAP_all=float(base.mean()) + 0.1)
    rows.append(exact)
    paths.append(write_per_query(tmp_path, exact, {"average_precision_all": np.clip(base + 0.1, 0, 1),
                                                   "precision_at_10": np.clip(base + 0.1, 0, 1),
                                                   "recall_at_10": np.ones(N_QUERIES)}))
    return pd.DataFrame(rows), paths


def test_significance_finds_a_real_difference_and_holm_adjusts(tmp_path):
    metrics, paths = two_methods(tmp_path, 0.05)
    table = significance(metrics, paths, ["d"])
    pair = table[(table.a.str.startswith("kmeans")) & (table.b.str.startswith("hyperplane"))
                 & (table.measure == "average_precision_all")].iloc[0]
    assert pair.significant == "yes" and pair.ci_low < 5.0 < pair.ci_high and pair.difference > 3
    assert (table.p_holm >= table.p_value).all() and len(table) == 3 * 3  # 1 pair + 2 against exact, 3 measures


def test_significance_without_a_difference_is_not_significant(tmp_path):
    metrics, paths = two_methods(tmp_path, 0.0)
    table = significance(metrics, paths, ["d"])
    pair = table[(table.a.str.startswith("kmeans")) & (table.b.str.startswith("hyperplane"))]
    assert (pair.significant == "no").all() and (pair.ci_low < 0).all() and (pair.ci_high > 0).all()


def test_parameters_shared_by_the_replicates_keep_their_values():
    rows = [row("neural", f"J=4_seed={s}", s, J=4, L=8, gamma=0.4, precision_at_10=v)
            for s, v in enumerate([0.1, 0.2, 0.3])]
    out = replicates(pd.DataFrame(rows))
    assert out.gamma[0] == 0.4 and out.J[0] == 4  # (0.4 + 0.4 + 0.4) / 3 would not be 0.4
    assert out.precision_at_10[0] == pytest.approx(0.2)
