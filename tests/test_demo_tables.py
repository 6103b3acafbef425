"""The report's tables from the demo's metrics are byte-identical to what the demo produced before the method
registry (tests/data/demo_tables: results/metrics.csv, the neural training histories and every table of a demo run
of commit 6f5fa7b, `snakemake --cores 2 --configfile presets/demo.yaml`)."""

from pathlib import Path

import pandas as pd
import pytest

from lshbench.tables import figure_cells, history_table, table_methods, to_markdown, vs_report, wide

DATA = Path(__file__).parent / "data" / "demo_tables"
DATASETS = ["mnist5k", "digits"]
TRAINING = "H=800_L=8_networks=shared_standardize=true_epochs=20_lr=0.001_batch=256_alpha=0.3_beta=0.3_gamma=0.4"


def written(table: pd.DataFrame, tmp_path: Path, name: str) -> tuple[bytes, bytes]:
    """The table as the `table` rule writes it (workflow/scripts/tables.py): CSV and Markdown bytes."""
    table.to_csv(tmp_path / f"{name}.csv", index=False)
    (tmp_path / f"{name}.md").write_text(to_markdown(table))
    return (tmp_path / f"{name}.csv").read_bytes(), (tmp_path / f"{name}.md").read_bytes()


def read_metrics(path: Path) -> pd.DataFrame:
    """The stored run's metrics, one seed and no seed in its folder names: a configuration is its folder name."""
    metrics = pd.read_csv(path)
    return metrics.assign(configuration=metrics["params"])


def expected(name: str) -> tuple[bytes, bytes]:
    return (DATA / f"{name}.csv").read_bytes(), (DATA / f"{name}.md").read_bytes()


@pytest.mark.parametrize("method,name", [("kmeans", "figure1_kmeans"), ("hyperplane", "figure2_hyperplane"),
                                         ("neural", "figure4_neural")])
def test_figures_1_2_4_are_unchanged(method, name, tmp_path):
    metrics = read_metrics(DATA / "metrics.csv")
    assert written(wide(figure_cells(metrics, method), DATASETS), tmp_path, name) == expected(name)


def test_vs_report_is_unchanged_beside_its_interval_columns(tmp_path):
    """One seed (the stored run's): the report's and our numbers as before; the interval columns, new with the
    seeds, are empty (no interval from one replicate)."""
    metrics = read_metrics(DATA / "metrics.csv")
    cells = pd.concat([figure_cells(metrics, m) for m in table_methods()], ignore_index=True)
    table = vs_report(cells)
    assert table[["ci_low", "ci_high", "within_ci"]].isna().all().all()
    old = table.drop(columns=["ci_low", "ci_high", "within_ci"])
    assert written(old, tmp_path, "vs_report") == expected("vs_report")
    trainings = [(d, "resnet50", TRAINING) for d in DATASETS]
    histories = [DATA / f"history_{d}_resnet50.csv" for d in DATASETS]
    assert written(history_table(histories, trainings), tmp_path, "figure3_neural_loss") == expected(
        "figure3_neural_loss")
