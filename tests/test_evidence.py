"""Means and intervals over seeds, the summary at fixed budgets, Pareto frontiers and paired significance, from
metrics.csv rows and per_query.parquet files written by the tests (lshbench/evidence.py, lshbench/tables.py)."""

import numpy as np
import pandas as pd
import pytest

from lshbench.evidence import pareto, pareto_front, read_per_query, replicates, significance, summary
from lshbench.layout import Key, configuration_file
from lshbench.split import TEST, VALIDATION, query_split
from lshbench.tables import figure_cells, vs_report

N_QUERIES = 500
N_GALLERY = 1000
LABELS = np.arange(N_QUERIES) % 4
SPLIT = query_split(np.arange(N_QUERIES), LABELS, 0.2, 0)


def row(method, params, seed, space="resnet18", **values):
    base = {"dataset": "d", "space": space, "dim": 512, "method": method, "params": params, "seed": seed,
            "K": None, "probes": None, "H": None, "L": None, "center": None,
            "precision_at_10": 0.5, "precision_at_50": 0.4, "strict_precision_at_10": 0.5,
            "strict_precision_at_50": 0.3, "mAP": 0.3, "mAP_all": 0.2, "recall_at_10": 0.5, "recall_at_50": 0.5,
            "candidates_fraction": 0.1, "n_gallery": N_GALLERY, "n_queries": N_QUERIES}
    # what its replicates over seeds share (lshbench.evidence.read_metrics takes it from the configuration's key)
    configuration = params.removesuffix(f"_seed={seed}") if params != "all" else "all"
    return {**base, **values, "configuration": configuration}


def key(r) -> Key:
    """The key a fabricated row stands for (its folder name's parameters, in order)."""
    params = {} if r["params"] == "all" else dict(item.split("=") for item in r["params"].split("_"))
    return Key.of(r["dataset"], r["space"], r["method"], params)


def write_per_query(root, r, values: dict, split=SPLIT):
    """A configuration's per_query.parquet: ``values``, its candidates (``r``'s share of the gallery) and the split."""
    path = root / configuration_file(key(r), "per_query.parquet")
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame({"query_id": np.arange(N_QUERIES), "label": LABELS, "split": split,
                          "n_candidates": np.full(N_QUERIES, r["candidates_fraction"] * N_GALLERY), **values})
    frame.to_parquet(path, index=False)
    return key(r)


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
    table = summary(metrics, read_per_query(paths, tmp_path), ["d"])
    by_recall = table[(table.method == "kmeans") & (table.chosen_by == "recall_at_10")]
    assert dict(zip(by_recall.budget, by_recall.configuration)) == {"1%": "K=1000_probes=1", "10%": "K=100_probes=1",
                                                                    "any": "K=10_probes=1"}
    chosen = by_recall[by_recall.budget == "10%"].iloc[0]
    test = np.mean([pd.read_parquet(tmp_path / configuration_file(k, "per_query.parquet")).query("split == 'test'")
                    .recall_at_10.mean() for k in paths if "K=100_" in k.folder])
    assert chosen.value == round(100 * test, 2) and chosen.seeds == 3  # reported on the test queries alone
    assert abs(chosen.value - 61.0) < 2  # 0.60, 0.61, 0.62 plus noise
    assert chosen.seed_ci_low < chosen.value < chosen.seed_ci_high
    assert chosen.query_ci_low < chosen.value < chosen.query_ci_high
    assert (chosen.chosen_on, chosen.reported_on) == ("validation, 100 queries", "test, 400 queries")
    assert table.method.iloc[0] == "exact" and table.chosen_on.iloc[0] == "no choice"
    assert dict(zip(table.method, table.family)) == {"exact": "exact", "kmeans": "clustering"}


def test_pareto_table_keeps_the_frontier(tmp_path):
    metrics, paths = budget_configurations(tmp_path)
    dominated = row("kmeans", "K=50_probes=1_seed=0", 0, K=50, probes=1, candidates_fraction=0.2, recall_at_10=0.4)
    paths.append(write_per_query(tmp_path, dominated, {"recall_at_10": np.full(N_QUERIES, 0.4)}))
    table = pareto(pd.concat([metrics, pd.DataFrame([dominated])], ignore_index=True), read_per_query(paths, tmp_path),
                   ["d"])
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
    table = significance(metrics, read_per_query(paths, tmp_path), ["d"])
    pair = table[(table.a.str.startswith("kmeans")) & (table.b.str.startswith("hyperplane"))
                 & (table.measure == "average_precision_all")].iloc[0]
    assert pair.significant == "yes" and pair.ci_low < pair.difference < pair.ci_high
    assert abs(pair.difference - 5.0) < 1  # the true difference, up to the test queries' noise
    assert (table.p_holm >= table.p_value).all() and len(table) == 3 * 3  # 1 pair + 2 against exact, 3 measures
    # the pair is also the best clustering method's against the best hashing method's: is hashing worth it
    family = table[table.comparison == "best clustering vs best hashing"]
    assert len(family) == 3 and family.a.str.startswith("kmeans").all()
    assert set(family.family_a) == {"clustering"} and set(family.family_b) == {"hashing"}
    assert set(table.comparison) == {"best clustering vs best hashing", "against exact"}


def test_significance_without_a_difference_is_not_significant(tmp_path):
    metrics, paths = two_methods(tmp_path, 0.0)
    table = significance(metrics, read_per_query(paths, tmp_path), ["d"])
    pair = table[(table.a.str.startswith("kmeans")) & (table.b.str.startswith("hyperplane"))]
    assert (pair.significant == "no").all() and (pair.difference.abs() < 1).all()


def test_parameters_shared_by_the_replicates_keep_their_values():
    rows = [row("neural", f"J=4_seed={s}", s, J=4, L=8, gamma=0.4, precision_at_10=v)
            for s, v in enumerate([0.1, 0.2, 0.3])]
    out = replicates(pd.DataFrame(rows))
    assert out.gamma[0] == 0.4 and out.J[0] == 4  # (0.4 + 0.4 + 0.4) / 3 would not be 0.4
    assert out.precision_at_10[0] == pytest.approx(0.2)


def same_mean_configurations(rng, dataset, n_configs, n_queries, split):
    """``n_configs`` k-means configurations whose per-query recall@10 and AP have the same true mean, 0.5, as
    metrics.csv rows and their per_query frames (in memory, keyed as lshbench.evidence.read_per_query keys them)."""
    rows, frames = [], {}
    labels = np.arange(n_queries) % 10
    for K in range(10, 10 + n_configs):
        r = row("kmeans", f"K={K}_probes=1_seed=0", 0, dataset=dataset, K=K, probes=1, candidates_fraction=0.05,
                n_queries=n_queries)
        rows.append(r)
        recall = rng.binomial(10, 0.5, n_queries) / 10
        frames[key(r)] = pd.DataFrame({
            "query_id": np.arange(n_queries), "label": labels, "split": split(labels),
            "recall_at_10": recall, "average_precision_all": rng.random(n_queries), "precision_at_10": recall,
            "n_candidates": np.full(n_queries, 0.05 * N_GALLERY)})
    return rows, frames


def test_choosing_on_validation_queries_does_not_inflate_the_reported_winner():
    """Twenty configurations of the same true recall@10 (50%): the best on the queries it is reported on is inflated
    (the maximum of twenty noisy means), the best on the validation queries reported on the test queries is not (its
    mean over seeded repetitions stays within two standard errors of the truth)."""
    n_configs, n_queries, repetitions = 20, 500, 60
    reported = {"same": [], "held_out": []}
    for repetition in range(repetitions):
        rng = np.random.default_rng(repetition)
        same_rows, same_frames = same_mean_configurations(rng, "same", n_configs, n_queries,
                                                          lambda labels: np.full(len(labels), TEST))
        held_rows, held_frames = same_mean_configurations(
            rng, "held_out", n_configs, n_queries, lambda labels: query_split(np.arange(len(labels)), labels, 0.2,
                                                                              repetition))
        table = summary(pd.DataFrame(same_rows + held_rows), {**same_frames, **held_frames}, ["same", "held_out"])
        chosen = table[(table.budget == "10%") & (table.chosen_by == "recall_at_10")].set_index("dataset")
        assert chosen.reported_on.to_dict() == {"same": "test, 500 queries", "held_out": "test, 400 queries"}
        assert chosen.chosen_on.to_dict() == {"same": "test, 500 queries", "held_out": "validation, 100 queries"}
        for dataset in reported:
            reported[dataset].append(chosen.value[dataset])
    errors = {}
    for dataset, values in reported.items():
        values = np.asarray(values)
        errors[dataset] = (values.mean() - 50, values.std(ddof=1) / np.sqrt(repetitions))
        print(f"{dataset}: reported {values.mean():.3f} +- {errors[dataset][1]:.3f} (standard error), truth 50, bias "
              f"{errors[dataset][0]:+.3f} = {errors[dataset][0] / errors[dataset][1]:+.1f} standard errors")
    bias, error = errors["same"]
    assert bias > 10 * error  # inflated: about 1.9 of one configuration's standard errors (1.4 points here)
    bias, error = errors["held_out"]
    assert abs(bias) < 2 * error


def test_the_split_is_stratified_seeded_and_independent_of_the_order():
    ids = np.arange(1000, 1500)
    labels = np.arange(500) % 7
    split = query_split(ids, labels, 0.2, seed=4)
    for label in range(7):  # round(0.2 x each label's queries) to validation
        assert (split[labels == label] == VALIDATION).sum() == round(0.2 * (labels == label).sum())
    shuffled = np.random.default_rng(0).permutation(500)
    assert (query_split(ids[shuffled], labels[shuffled], 0.2, seed=4) == split[shuffled]).all()
    assert (query_split(ids, labels, 0.2, seed=5) != split).any()  # another seed, another draw
    assert (query_split(ids, labels, 0.0) == TEST).all()
    with pytest.raises(ValueError, match="validation_fraction"):
        query_split(ids, labels, 1.0)


def test_a_metric_registered_in_one_place_reaches_every_table(tmp_path):
    """A new measure and its aggregate, registered here alone (no other file changed), appear in metrics.csv's
    columns, the intervals over seeds, the summary (flagged a criterion) and significance (flagged compared)."""
    from lshbench import metrics

    @metrics.measure("hits_at_5", "relevant among the top 5, over 5", ("ids",), depth=5)
    def _hits_at_5(x):
        return x.relevant[:, :5].sum(1) / 5

    try:
        metrics.mean("hits_at_5", percent=True, interval=True, criterion=3, compared=4, shown=4)
        values = {name: np.full(4, 0.5) for name in ("precision_at_10", "hits_at_5", "n_candidates")}
        assert metrics.summary(values, N_GALLERY)["hits_at_5"] == 0.5  # a metrics.csv column
        frame, paths = two_methods(tmp_path, 0.05)
        files = {k: tmp_path / configuration_file(k, "per_query.parquet") for k in paths}
        base = {k: pd.read_parquet(path) for k, path in files.items()}
        for k, table in base.items():  # the per-query column beside the others, its mean in metrics.csv
            table.assign(hits_at_5=table["precision_at_10"]).to_parquet(files[k], index=False)
        frame["hits_at_5"] = [base[k]["precision_at_10"].mean() for k in paths]
        assert {"hits_at_5_low", "hits_at_5_high"} <= set(replicates(frame).columns)
        paths = read_per_query(paths, tmp_path)
        table = summary(frame, paths, ["d"])
        assert "hits_at_5" in table.columns and (table.chosen_by == "hits_at_5").any()
        chosen = table[(table.chosen_by == "hits_at_5") & (table.budget == "any") & (table.method == "kmeans")]
        assert chosen.value.iloc[0] == chosen.hits_at_5.iloc[0] and chosen.seed_ci_low.notna().all()
        assert (significance(frame, paths, ["d"]).measure == "hits_at_5").sum() == 3  # 1 pair + 2 against exact
    finally:
        metrics.AGGREGATES.pop("hits_at_5", None)
        metrics.MEASURES.pop("hits_at_5", None)
