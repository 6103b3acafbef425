"""The learning-to-hash protocol through the workflow: the plan of code lengths and replicates, one Hamming job per
method and space, the hashing and literature tables, the precision-recall plot, and what re-runs when bits change."""

import copy
import re

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from conftest import snakemake
from lshbench.config import ConfigError, check, hamming_plan, validate
from lshbench.hamming import hamming_ranking
from lshbench.hamming_protocol import run_hamming
from lshbench.io import Embeddings
from lshbench.layout import Key
from lshbench.methods import REGISTRY, ITQ
from lshbench.tables import hamming_metrics, hashing_table, literature_numbers, literature_table

CODE_METHODS = ["hyperplane", "neural", "itq", "pcah", "spectral"]


def config_with(repo, methods=None, **dataset):
    config = yaml.safe_load((repo / "presets" / "demo.yaml").read_text())
    config["datasets"] = [{**config["datasets"][1], **dataset}]
    config["methods"].update(methods or {})
    validate(config, repo / "schemas" / "config.schema.yaml")
    check(config)
    return config


def test_every_code_method_is_planned_per_bits_and_replicate(repo):
    config = config_with(repo, hamming={"bits": [16, 32]})
    rows = hamming_plan(config)
    assert sorted({k.method for _, k in rows}) == sorted(CODE_METHODS)
    for method in CODE_METHODS:
        builds = [(b, k.folder) for b, k in rows if k.method == method]
        seeds = len(config["seeds"]) if REGISTRY[method].seeded else 1  # PCAH and spectral hashing run once
        assert len(builds) == 2 * seeds, (method, builds)
    found = {(k.dataset, k.space, k.method, b, k.folder) for b, k in rows}
    assert ("digits", "resnet18", "itq", 32, "H=32_L=1_seed=2") in found
    assert ("digits", "resnet18", "pcah", 16, "H=16") in found
    # neural LSH ranks by table 0 of a build that uses the bucket runs' training: one training serves both
    neural = REGISTRY["neural"]
    key = next(k for b, k in rows if k.method == "neural" and b == 16 and k.seed == 1)
    bucket = Key.of("digits", "resnet18", "neural", neural.plan({"J": [4]}, config["methods"]["neural"], [1])[0])
    assert key.training == bucket.training


def test_no_bits_no_hamming_jobs(repo):
    hamming_only = {"pcah": {"spaces": []}, "spectral": {"spaces": []}}
    assert hamming_plan(config_with(repo, hamming_only, hamming={"bits": []})) == []
    with pytest.raises(ConfigError, match=r"methods\.pcah\.spaces is set .* no dataset has a grids\.pcah or "
                                          r"hamming\.bits"):
        config_with(repo, hamming={"bits": []})  # PCAH on a space, but nothing for it to run


@pytest.mark.parametrize("hamming, message", [
    ({"bits": [16, 1024]}, r"hamming\.bits: 1024 bits for neural: .*methods\.neural\.H"),
    ({"bits": [16], "protocol": "cifar10-10k"}, r"hamming\.protocol: 'cifar10-10k' is not a protocol of .*cifar10-1k-59k"),
    ({"bits": [0]}, r"hamming\.bits\[0\]"),
])
def test_impossible_hamming_settings_fail_at_parse_time_naming_the_field(repo, hamming, message):
    with pytest.raises(ConfigError, match=message):
        config_with(repo, hamming=hamming)


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = x.astype(np.float32)

    def split(rows):
        return Embeddings(ids=rows.astype(np.int64), labels=y[rows].astype(np.int32), vectors=x[rows], metadata={})

    return split(np.arange(0, 1400)), split(np.arange(1400, 1797))


def test_a_job_ranks_each_build_by_its_own_codes(digits):
    gallery, query = digits
    builds = [(b, Key.of("digits", "raw", "itq", {"H": b, "L": 1, "seed": s})) for b, s in ((16, 0), (16, 1), (8, 0))]
    frames = run_hamming(builds, gallery, query, settings={"iterations": 50}, trained={}, device=torch.device("cpu"),
                         R=100, radius=2)
    per_query, metrics = frames["per_query"], frames["metrics"]
    assert len(per_query) == 3 * len(query) and len(metrics) == 3 and len(frames["curves"]) == 17 + 17 + 9
    index = ITQ(16, 1, seed=1).fit(torch.from_numpy(gallery.vectors))
    expected = hamming_ranking(index.hamming_codes(torch.from_numpy(query.vectors)).numpy(),
                               index.hamming_codes(torch.from_numpy(gallery.vectors)).numpy(), query.labels,
                               gallery.labels, R=(100,))
    ours = per_query[per_query["params"] == "H=16_L=1_seed=1"]
    for column in ("ap_all", "ap_all_tie_aware", "ap_at_100", "precision_within_radius_2"):
        np.testing.assert_array_equal(ours[column].to_numpy(), expected[column])
    row = metrics[metrics["params"] == "H=16_L=1_seed=1"].iloc[0]
    assert row["seed"] == 1 and row["bits"] == 16
    assert row["ap_all"] == pytest.approx(expected["ap_all"].mean(), abs=1e-15)
    deterministic = run_hamming([(8, Key.of("digits", "raw", "pcah", {"H": 8}))], gallery, query, settings={},
                                trained={}, device=torch.device("cpu"), R=100, radius=2)["metrics"]
    assert deterministic["seed"].isna().all()  # one build, no replicate


def metrics_rows(**overrides):
    base = {"dataset": "d", "space": "s", "method": "itq", "bits": 16, "params": "p", "seed": 0,
            "ap_all": 0.2, "ap_all_tie_aware": 0.19, "ap_at_1000": 0.3, "ap_at_1000_tie_aware": 0.29,
            "precision_within_radius_2": 0.5, "recall_within_radius_2": 0.1}
    return {**base, **overrides}


def test_the_hashing_table_is_methods_by_bits_with_the_mean_over_seeds(tmp_path):
    rows = [metrics_rows(seed=0, ap_all=0.2), metrics_rows(seed=1, ap_all=0.3),
            metrics_rows(bits=32, ap_all=0.4), metrics_rows(method="pcah", seed=None, ap_all=0.1)]
    path = tmp_path / "metrics.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    table = hashing_table(hamming_metrics([path]), ["d"])
    assert list(table.columns) == ["dataset", "metric", "method", "space", "seeds", "16 bits", "32 bits"]
    first = table[table["metric"] == "mAP@ALL"]
    assert first["method"].tolist() == ["ITQ", "PCAH"]  # registry order
    assert first.iloc[0]["16 bits"] == pytest.approx(25.0) and first.iloc[0]["seeds"] == 2
    assert first.iloc[0]["32 bits"] == pytest.approx(40.0)
    assert pd.isna(first.iloc[1]["32 bits"])  # PCAH did not run at 32 bits
    assert table["metric"].unique().tolist() == [
        "mAP@ALL", "mAP@ALL (tie-aware)", "mAP@1000", "mAP@1000 (tie-aware)", "precision within Hamming radius 2",
        "recall within Hamming radius 2"]


def test_the_literature_table_sets_ours_beside_the_published_numbers_of_the_same_protocol(tmp_path):
    rows = [metrics_rows(dataset="ours", method="itq", bits=16, ap_all=0.25),
            metrics_rows(dataset="other", method="itq", bits=16, ap_all=0.9)]
    path = tmp_path / "metrics.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    table = literature_table(hamming_metrics([path]), {"ours": "cifar10-1k-59k", "other": None})
    assert len(table) == len(literature_numbers())  # every published number, ours or not
    itq16 = table[(table["method"] == "ITQ") & (table["bits"] == 16)].iloc[0]
    assert itq16["published"] == pytest.approx(21.75) and itq16["ours"] == pytest.approx(25.0)
    assert itq16["our_dataset"] == "ours" and itq16["source"].startswith("TreezzZ/ITQ_PyTorch@")
    assert table[(table["method"] == "ITQ") & (table["bits"] == 32)]["ours"].isna().all()  # not run: empty
    assert table[table["method"] == "random-hyperplane LSH"]["ours"].isna().all()


def test_published_numbers_are_as_printed_with_their_sources():
    published = literature_numbers()
    lsh = published[published["method"] == "hyperplane"].set_index("bits")["value"]
    assert lsh[16] == 0.1290 and lsh[32] == 0.1588 and lsh[64] == 0.1757  # TreezzZ/LSH_PyTorch README
    sh = published[published["method"] == "spectral"].set_index("bits")["value"]
    assert sh[16] == 0.1863 and sh[32] == 0.1892 and sh[64] == 0.2013
    assert published["source"].str.contains("README.md").all() and set(published["protocol"]) == {"cifar10-1k-59k"}
    written = literature_table(pd.DataFrame(), {}).to_csv(index=False)  # in percent, as transcribed
    assert ",32,15.88," in written and "15.879999" not in written


def jobs(output: str) -> list[str]:
    return re.findall(r"^\s*(?:local)?rule (\w+):$", output, flags=re.M)


def test_the_protocol_runs_end_to_end_and_new_bits_rerun_only_its_jobs(tmp_path):
    config = {
        "seed": 0, "seeds": [0, 1],
        "embedding": {"batch_size": 64, "num_workers": 0, "threads": 1},
        "evaluation": {"threads": 1},
        "datasets": [{"name": "digits", "source": "digits", "gallery_limit": 300, "query_limit": 60,
                      "hamming": {"bits": [8, 16], "protocol": "cifar10-1k-59k"}}],
        "models": [{"name": "rand", "arch": "resnet18", "weights": "none", "image_size": 32}],
        "methods": {"hyperplane": {"spaces": ["rand"]}, "itq": {"spaces": ["rand"]}, "pcah": {"spaces": ["rand"]},
                    "spectral": {"spaces": ["rand"]}, "neural": {"spaces": ["rand"], "H": 32, "epochs": 1},
                    "kmeans": {"spaces": []}, "multiprobe": {"spaces": []}},
    }
    snakemake(tmp_path, config)
    hashing = pd.read_csv(tmp_path / "results" / "tables" / "hashing.csv")
    assert set(hashing["method"]) == {REGISTRY[m].title for m in CODE_METHODS}
    assert {"8 bits", "16 bits"} <= set(hashing.columns) and hashing[["8 bits", "16 bits"]].notna().all().all()
    literature = pd.read_csv(tmp_path / "results" / "tables" / "literature.csv")
    assert literature[(literature["bits"] == 16) & (literature["method"] == "ITQ")]["ours"].notna().all()
    assert literature[literature["bits"] == 32]["ours"].isna().all()
    assert (tmp_path / "results" / "plots" / "digits_hamming_pr.png").stat().st_size > 10_000
    checksums = (tmp_path / "results" / "checksums.sha256").read_text()
    assert "results/digits/hamming/rand/spectral/per_query.parquet" in checksums
    assert jobs(snakemake(tmp_path, config, "-n").output) == []  # nothing to do on a second run
    configfile = str(tmp_path / "test-config.yaml")  # written by the run above; the target before --configfile
    assert "0 problem(s)" in snakemake(tmp_path, None, "verify", "--configfile", configfile).output
    curve = tmp_path / "results" / "digits" / "hamming" / "rand" / "pcah" / "pr_curve.csv"
    whole = curve.read_text()
    curve.write_text("\n".join(whole.splitlines()[:5]) + "\n")  # cut short after its job finished
    failed = snakemake(tmp_path, None, "verify", "--configfile", configfile, check=False)
    assert failed.returncode != 0 and "pcah/pr_curve.csv: 4 rows, expected 26" in failed.output
    curve.write_text(whole)
    more = copy.deepcopy(config)
    more["datasets"][0]["hamming"]["bits"] = [8, 16, 32]
    planned = jobs(snakemake(tmp_path, more, "-n").output)
    # no embedding, no training; the tables' pages follow their tables
    assert sorted(set(planned)) == ["all", "checksums", "hamming", "page", "plot", "table"], planned
    assert planned.count("hamming") == 5
