"""The report's pages and captions: table pages (rows, rounding, glossary, the CSV inside), captions that
reStructuredText cannot turn into mail links, intervals that stay within a fraction's bounds, points on an exact
marker found, the headline's rows, the interactive page's points."""

from __future__ import annotations

import base64
import html
import json
import re

import numpy as np
import pandas as pd
import pytest
from docutils.core import publish_parts

from lshbench.evidence import headline, replicates
from lshbench.pages import describe, table_page
from lshbench.plots import on_markers
from lshbench.pages import rst


def test_a_table_page_holds_every_row_rounded_as_markdown_and_the_csv():
    table = pd.DataFrame({"dataset": ["mnist5k", "digits"], "recall_at_10": [56.4849, np.nan], "seeds": [3, 1],
                          "mnist5k K=50": [12.0, 7.125]})
    csv = table.to_csv(index=False).encode()
    page = table_page(table, "summary", "a caption with recall@10 & <b>", csv)
    rows = re.findall(r"<tr>(.*?)</tr>", page.split("<tbody>")[1])
    assert len(rows) == 2
    assert re.findall(r"<td[^>]*>(.*?)</td>", rows[0]) == ["mnist5k", "56.48", "3", "12.00"]
    assert re.findall(r"<td[^>]*>(.*?)</td>", rows[1]) == ["digits", "", "1", "7.12"]  # empty stays empty
    assert "a caption with recall@10 &amp; &lt;b&gt;" in page
    embedded = re.search(r'href="data:text/csv;base64,([^"]+)"', page).group(1)
    assert base64.b64decode(embedded) == csv
    assert "http" not in page.split("<body>")[1], "the page reaches for the network"


def test_the_glossary_says_what_each_column_holds():
    assert "percent" in describe("recall_at_10") and "Student-t" in describe("seed_ci_low")
    assert describe("mnist5k K=50").startswith("mnist5k, K = 50")
    assert describe("32 bits").startswith("32-bit codes")
    assert describe("no such column") == ""


def test_an_escaped_caption_has_no_mail_link():
    text = "recall@10 and Precision@50 of hnsw_ (a_b) *bold*"
    assert "mailto:" in publish_parts(text, writer="html")["body"]
    body = html.unescape(publish_parts(rst(text), writer="html")["body"])
    assert "mailto:" not in body and "recall@10" in body and "hnsw_" in body and "*bold*" in body


def test_a_seed_interval_of_a_fraction_stays_within_its_bounds():
    metrics = pd.DataFrame({"dataset": "d", "space": "s", "method": "hyperplane", "configuration": "H=4",
                            "seed": [0, 1, 2], "recall_at_10": [0.99, 1.0, 1.0], "mean_candidates": [5.0, 6.0, 9.0]})
    row = replicates(metrics).iloc[0]
    assert row["recall_at_10_low"] == pytest.approx(0.9823244909, abs=1e-9)  # the t-interval's lower end
    assert row["recall_at_10_high"] == 1.0  # 1.0110 cut at the bound
    unbounded = replicates(metrics, interval_columns=["mean_candidates"]).iloc[0]
    assert unbounded["mean_candidates_high"] > 9.0  # no bounds: not cut


def test_points_on_an_exact_marker_are_found():
    markers = np.array([[100.0, 100.0]])
    points = np.array([[100.0, 100.0], [99.0, 99.5], [50.0, 100.0], [100.0, 95.0]])
    assert on_markers(points, markers).tolist() == [True, True, False, False]
    assert on_markers(points, np.empty((0, 2))).tolist() == [False] * 4


def test_the_headline_puts_the_ceiling_first_then_each_budget_best_first():
    def row(method, budget, value, by="recall_at_10"):
        return {"dataset": "d", "method": method, "family": "hashing", "budget": budget, "chosen_by": by,
                "chosen_on": "validation (20)", "reported_on": "test (80)", "space": "s", "configuration": "c",
                "seeds": 3, "value": value, "seed_ci_low": value - 1, "seed_ci_high": value + 1,
                "query_ci_low": value - 2, "query_ci_high": value + 2, "recall_at_10": value, "mAP_all": 10.0,
                "precision_at_10": 20.0, "candidates_percent": 5.0}

    summary = pd.DataFrame([row("a", "10%", 50.0), row("b", "10%", 60.0), row("a", "1%", 30.0),
                            row("exact", "all", 100.0), row("a", "any", 90.0), row("b", "10%", 70.0, "mAP_all")])
    table = headline(summary)
    assert table[["budget", "rank", "method", "recall_at_10"]].values.tolist() == [
        ["all", 0, "exact", 100.0], ["1%", 1, "a", 30.0], ["10%", 1, "b", 60.0], ["10%", 2, "a", 50.0]]
    assert table.loc[2, "seed_ci_low"] == 59.0


def test_the_interactive_page_has_every_point_with_its_hover_and_no_network(tmp_path):
    from lshbench.interactive import explorer

    rows = []
    for dataset in ("a", "b"):
        for method, params, recall, share in (("exact", "all", 1.0, 1.0), ("kmeans", "K=5_probes=1", 0.5, 0.2),
                                              ("hyperplane", "H=4_L=1_center=false", 1.0, 1.0)):
            for seed in (0, 1):
                rows.append({"dataset": dataset, "space": "s", "method": method, "params": f"{params}_seed={seed}",
                             "configuration": params, "seed": seed, "recall_at_10": recall - 0.01 * seed,
                             "mAP_all": recall / 2, "candidates_fraction": share})
    metrics = pd.DataFrame(rows)
    timings = metrics[["dataset", "space", "method", "params"]].assign(queries_per_second=1000.0)
    path = tmp_path / "explorer.html"
    drawn = explorer(metrics, timings, ["a", "b"], path)
    assert len(drawn) == 2 * 3 * 4  # datasets x configurations x panels
    on = drawn[drawn["on_exact_marker"]]
    assert set(on["method"]) == {"hyperplane"}  # the uncentred hyperplanes at 100% scanned sit on exact's star
    page = path.read_text()
    data = json.loads(re.search(r"const DATA = (.*);\n", page).group(1))
    assert data["datasets"] == ["a", "b"] and len(data["points"]) == 2 * 3 * 2  # datasets x configurations x y
    kmeans = [p for p in data["points"] if p["m"] == "kmeans" and p["d"] == "a" and p["y"] == "recall_at_10"][0]
    assert kmeans["c"] == "K=5_probes=1" and kmeans["n"] == 2 and kmeans["v"] == 49.5 and kmeans["share"] == 20.0
    assert [p["on"] for p in data["points"] if p["m"] == "hyperplane"] == [True] * 4
    assert "http" not in page.replace("http://www.w3.org/2000/svg", "")  # no network: everything inside
    assert len(page.encode()) < 1_000_000  # the report shows it as a data: URL, which Chromium refuses above 2 MB


def test_a_page_shows_the_caption_as_plain_text():
    from lshbench.pages import plain

    caption = rst("best recall@10 of hnsw_") + " See `explorer.html`_."
    assert plain(caption) == "best recall@10 of hnsw_ See explorer.html."
    page = table_page(pd.DataFrame({"a": [1]}), "t", caption, b"a\n1\n")
    assert "best recall@10 of hnsw_ See explorer.html." in page
