import pandas as pd
import pytest

from lshbench.tables import figure_cells, report_numbers, to_markdown, vs_report, wide

# Ten cells read off the seed report's Figures 1, 2 and 4 by hand.
SPOT_CHECKS = [
    ("figure1_kmeans", "Embedding: 512", "cifar10", 10, "precision_at_10", 75.58),
    ("figure1_kmeans", "Embedding: 512", "imagenet", 10000, "mAP", 35.38),
    ("figure1_kmeans", "PCA: 248", "cifar100", 2000, "precision_at_50", 37.19),
    ("figure1_kmeans", "PCA: 248", "cifar10", 1000, "mAP", 75.43),
    ("figure2_hyperplane", "#Hashtables = 3", "cifar10", 3, "precision_at_10", 76.25),
    ("figure2_hyperplane", "#Hashtables = 6", "cifar100", 7, "precision_at_10", 45.61),
    ("figure2_hyperplane", "#Hashtables = 12", "imagenet", 100, "mAP", 22.0),
    ("figure2_hyperplane", "#Hashtables = 12", "imagenet", 30, "precision_at_50", 39.33),
    ("figure4_neural", "#HashTables = 8", "cifar10", 8, "precision_at_10", 80.264),
    ("figure4_neural", "#HashTables = 8", "imagenet", 20, "mAP", 18.0),
]


def metrics_row(**values):
    base = {"dataset": "cifar10", "space": "resnet18", "dim": 512, "method": "kmeans", "params": "",
            "K": None, "probes": None, "H": None, "L": None, "J": None, "center": None, "networks": None,
            "precision_at_10": 0.5, "precision_at_50": 0.4, "strict_precision_at_10": 0.5,
            "strict_precision_at_50": 0.3, "mAP": 0.3, "mAP_all": 0.2, "recall_at_10": 0.9, "recall_at_50": 0.8,
            "candidates_fraction": 0.1, "build_seconds": 1.0, "search_p50_ms": 0.5}
    row = {**base, **values}
    # one replicate, no seed in its folder name: its configuration (lshbench.evidence.read_metrics) is its params
    return {**row, "configuration": row["params"]}


def test_report_numbers_are_all_there():
    report = report_numbers()
    assert len(report) == 243
    assert report.groupby("figure").size().to_dict() == {"figure1_kmeans": 84, "figure2_hyperplane": 126,
                                                         "figure4_neural": 33}
    assert not report.duplicated(["figure", "block", "dataset", "value", "metric"]).any()
    for figure, block, dataset, value, metric, expected in SPOT_CHECKS:
        cell = report[(report.figure == figure) & (report.block == block) & (report.dataset == dataset)
                      & (report.value == value) & (report.metric == metric)]
        assert cell.report.tolist() == [expected], (figure, block, dataset, value, metric)


def test_figure1_layout_and_vs_report():
    metrics = pd.DataFrame([
        metrics_row(K=10, probes=1, params="K=10_probes=1", precision_at_10=0.7512345),
        metrics_row(K=20, probes=1, params="K=20_probes=1"),
        metrics_row(K=10, probes=1, space="resnet18-pca248", dim=248),
        metrics_row(dataset="cifar100", K=100, probes=1),
        metrics_row(method="exact", params="all"),
    ])
    cells = figure_cells(metrics, "kmeans")
    table = wide(cells, ["cifar10", "cifar100"])
    assert list(table.columns) == ["block", "metric", "cifar10 K=10", "cifar10 K=20", "cifar100 K=100"]
    assert list(table.block) == ["Embedding: 512"] * 3 + ["PCA: 248"] * 3
    assert list(table.metric[:3]) == ["Mean Precision @10", "Mean Precision @50", "Mean Average Precision"]
    assert table.loc[0, "cifar10 K=10"] == 75.12  # percent, two decimals
    assert pd.isna(table.loc[3, "cifar10 K=20"])  # not run on PCA: empty, not zero
    compared = vs_report(cells)
    assert len(compared) == 243
    assert compared.ours.notna().sum() == 3 * 4  # 4 configurations of the report's grid, 3 metrics each
    cell = compared[(compared.block == "Embedding: 512") & (compared.dataset == "cifar10") & (compared.value == 10)
                    & (compared.metric == "precision_at_10")].iloc[0]
    assert (cell.report, cell.ours, cell.delta) == (75.58, 75.12, -0.46)
    assert "|  |" not in to_markdown(table).splitlines()[0]


@pytest.mark.parametrize("method,row,label", [
    ("hyperplane", metrics_row(method="hyperplane", H=8, L=6, center=True), "#Hashtables = 6 (centred)"),
    ("neural", metrics_row(method="neural", J=8, L=8, networks="shared", space="resnet50"),
     "#HashTables = 8"),
    ("neural", metrics_row(method="neural", J=8, L=8, networks="shared", space="resnet50", H=800,
                                   standardize=False, epochs=20, lr=0.001, batch=256), "#HashTables = 8"),
    ("neural", metrics_row(method="neural", J=8, L=8, networks="shared", space="resnet50", H=800,
                                   standardize=True, epochs=5, lr=0.001, batch=256),
     "#HashTables = 8 (standardised, epochs=5)"),
    ("neural", metrics_row(method="neural", J=8, L=8, networks="per_table", space="resnet50",
                                   standardize=False), "#HashTables = 8 (per_table)"),
])
def test_block_labels(method, row, label):
    assert set(figure_cells(pd.DataFrame([row]), method).block) == {label}


def test_blocks_sort_by_each_number_in_their_label():
    cells = pd.DataFrame([{"figure": "t", "block": block, "dataset": "d", "parameter": "H", "value": 8,
                           "metric": "mAP", "ours": 1.0, "space": "s"}
                          for block in ["#Hashtables = 12, radius 0", "#Hashtables = 1, radius 2",
                                        "#Hashtables = 3, radius 1", "#Hashtables = 1, radius 10"]])
    assert list(wide(cells, ["d"]).block.unique()) == ["#Hashtables = 1, radius 2", "#Hashtables = 1, radius 10",
                                                       "#Hashtables = 3, radius 1", "#Hashtables = 12, radius 0"]
