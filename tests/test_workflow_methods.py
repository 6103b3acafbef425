"""Index builds and evaluations through the real Snakemake CLI on scikit-learn's digits (small grids)."""

import copy
import hashlib
import json
import os
import shutil
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from conftest import snakemake
from test_workflow import planned_jobs

CONFIG = {
    "seed": 0,
    "seeds": [0],  # one replicate (config.yaml runs five)
    "embedding": {"batch_size": 64, "num_workers": 0, "threads": 1},
    "datasets": [{"name": "digits", "source": "digits", "gallery_limit": 300, "query_limit": 60,
                  "grids": {"kmeans": {"K": [5, 10]}, "hyperplane": {"H": [4], "L": [2]}, "neural": {"J": [4]}}}],
    "models": [{"name": "small", "arch": "resnet18", "weights": "none", "image_size": 32, "pca": {"dims": [16]}}],
    "methods": {"kmeans": {"spaces": ["small", "small-pca16"]}, "hyperplane": {"spaces": ["small"], "center": [True]},
                "neural": {"spaces": ["small"], "H": 32, "epochs": 2, "batch_size": 64}},
    "evaluation": {"threads": 1, "latency_queries": 20},
}
NEURAL = "H=32_J=4_L=8_networks=shared_standardize=true_epochs=2_lr=0.001_batch=64_alpha=0.3_beta=0.3_gamma=0.4_seed=0"
TRAINING = NEURAL.replace("_J=4", "")
CONFIGURATIONS = {
    ("small", "kmeans", "K=5_probes=1_seed=0"), ("small", "kmeans", "K=10_probes=1_seed=0"),
    ("small-pca16", "kmeans", "K=5_probes=1_seed=0"), ("small-pca16", "kmeans", "K=10_probes=1_seed=0"),
    ("small", "hyperplane", "H=4_L=2_center=true_seed=0"), ("small", "neural", NEURAL),
    ("small", "exact", "all"), ("small-pca16", "exact", "all"),
}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("methods")
    snakemake(root, CONFIG)
    return root


def test_one_metrics_file_per_configuration(workdir):
    combined = pd.read_csv(workdir / "results" / "metrics.csv")
    assert set(zip(combined.space, combined.method, combined.params)) == CONFIGURATIONS
    for space, method, params in CONFIGURATIONS:
        folder = workdir / "results" / "digits" / "metrics" / space / method / params
        row = pd.read_csv(folder / "metrics.csv").iloc[0]
        per_query = pd.read_parquet(folder / "per_query.parquet")
        assert len(per_query) == 60 and row.n_queries == 60 and row.n_gallery == 300
        assert row.precision_at_10 == pytest.approx(per_query.precision_at_10.mean())
        assert row.mAP == pytest.approx(per_query.average_precision.mean())
        build = params.replace("_probes=1", "")  # k-means' probes is a query parameter: one index per K
        assert (workdir / "results" / "digits" / "index" / space / method / build / "index.json").is_file()
        assert len(pd.read_parquet(folder / "ranking.parquet")) == 60
        timings = pd.read_csv(folder / "timings.csv").iloc[0]
        assert timings.build_seconds >= 0 and timings.search_p50_ms > 0 and row.latency_queries == 20
    exact = combined[(combined.method == "exact") & (combined.space == "small")].iloc[0]
    assert exact.recall_at_10 == 1.0 and exact.candidates_fraction == 1.0
    kmeans = combined[(combined.params == "K=10_probes=1_seed=0") & (combined.space == "small")].iloc[0]
    assert kmeans.candidates_fraction < 0.5 and kmeans.K == 10
    losses = pd.read_csv(workdir / "results" / "digits" / "train" / "small" / "neural" / TRAINING / "history.csv")
    assert list(losses.epoch) == [1, 2] and {"balance", "fence", "supervision", "total"} <= set(losses.columns)


def test_metrics_carry_the_index_parameters(workdir):
    folder = workdir / "results" / "digits" / "metrics" / "small"
    neural = pd.read_csv(folder / "neural" / NEURAL / "metrics.csv").iloc[0]
    assert (neural.networks, neural.standardize, neural.epochs, neural.batch, neural.H) == ("shared", True, 2, 64, 32)
    kmeans = pd.read_csv(folder / "kmeans" / "K=5_probes=1_seed=0" / "metrics.csv").iloc[0]
    assert (kmeans.algorithm, kmeans.max_iter, kmeans.tol) == ("lloyd", 300, 1e-4)  # scikit-learn's defaults
    assert kmeans.strict_precision_at_50 <= kmeans.precision_at_50


KMEANS_JOBS = {("run_method", space, "kmeans") for space in ("small", "small-pca16")}
def with_pages(jobs: set[str]) -> set[str]:
    """The jobs downstream of a change of every configuration's metrics, with what follows from them in the report:
    the headline table, every table's page and the interactive page."""
    jobs = jobs | {"table headline", "interactive explorer"}
    return jobs | {"page " + job.split(" ", 1)[1] for job in jobs if job.startswith("table ")}


KMEANS_DOWNSTREAM = with_pages({"metrics", "collect_metrics", "table figure1_kmeans", "table figure1_kmeans_ci",
                                "table vs_report", "table summary", "table pareto", "table significance",
                                "plot digits_kmeans", "plot digits_tradeoff", "plot digits_qps",
                                "plot digits_retrieved_kmeans", "checksums", "all"})


def job_name(rule: str, wildcards: dict) -> str:
    """'table figure1_kmeans', 'plot digits_qps' for the generic table and plot rules, else the rule."""
    target = wildcards.get("table") or wildcards.get("plot")
    return f"{rule} {target}" if target else rule
RERUN_SCOPES = {  # setting -> (change, jobs of configurations that must re-run, other rules that must re-run)
    "embedding.batch_size": (lambda c: c["embedding"].update(batch_size=7), set(), set()),
    "embedding.num_workers": (lambda c: c["embedding"].update(num_workers=1), set(), set()),
    "embedding.threads": (lambda c: c["embedding"].update(threads=2), set(), set()),
    "device": (lambda c: c.update(device="cpu"), set(), set()),
    "evaluation.memory_mb": (lambda c: c["evaluation"].update(memory_mb=77), set(), set()),
    "evaluation.threads": (lambda c: c["evaluation"].update(threads=2), set(), set()),
    "methods.kmeans.tol": (lambda c: c["methods"]["kmeans"].update(tol=0.01), KMEANS_JOBS, KMEANS_DOWNSTREAM),
    "methods.kmeans.max_iter": (lambda c: c["methods"]["kmeans"].update(max_iter=7), KMEANS_JOBS, KMEANS_DOWNSTREAM),
}


@pytest.mark.parametrize("setting", sorted(RERUN_SCOPES))
def test_a_setting_reruns_exactly_what_it_changes(workdir, setting):
    change, expected_jobs, expected_rules = RERUN_SCOPES[setting]
    changed = copy.deepcopy(CONFIG)
    change(changed)
    path = workdir / "changed-setting.yaml"
    path.write_text(yaml.safe_dump(changed))
    planned = planned_jobs(snakemake(workdir, path, "-n").output)
    jobs = {(rule, w.get("space"), w.get("method")) for rule, w in planned
            if rule in ("run_method", "train", "embed", "pca", "exact_neighbours")}
    assert jobs == expected_jobs
    assert {job_name(rule, w) for rule, w in planned} - {job[0] for job in jobs} == expected_rules


def test_another_checkout_reruns_nothing(workdir, repo, tmp_path):
    # copytree keeps the files' times: a checkout older than the results (a newer script file re-runs its jobs,
    # Snakemake's own code trigger, docs/workflow.md)
    checkout = tmp_path / "checkout"
    shutil.copytree(repo, checkout, ignore=shutil.ignore_patterns(".venv", ".git", "results", "resources",
                                                                  ".snakemake", "__pycache__", "*.egg-info"))
    result = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(checkout / "Snakefile"),
                             "--directory", str(workdir), "--cores", "1", "--configfile",
                             str(workdir / "test-config.yaml"), "-n"], capture_output=True, text=True)
    assert result.returncode == 0 and "Nothing to be done" in result.stdout + result.stderr, result.stdout[-3000:]


def test_checksums_list_tables_metrics_and_embeddings(workdir):
    # two runs agreeing byte for byte is checked by tests/test_slurm.py (a local and a cluster run of one preset)
    results = workdir / "results"
    listed = dict(line.split("  ")[::-1] for line in (results / "checksums.sha256").read_text().splitlines())
    for table in sorted((results / "tables").iterdir()):
        if table.suffix != ".html":  # a table's page renders its CSV: not a result of its own
            assert f"results/tables/{table.name}" in listed
    assert "results/digits/embeddings/small/gallery.parquet" in listed and "results/metrics.csv" in listed
    for path, digest in listed.items():
        assert hashlib.sha256((workdir / path).read_bytes()).hexdigest() == digest, path
    assert "build_seconds" in (results / "timings.csv").read_text().splitlines()[0]
    assert "seconds" not in (results / "metrics.csv").read_text().splitlines()[0]


def test_verify_finds_a_truncated_intermediate(workdir):
    config = workdir / "test-config.yaml"
    assert "0 problem(s)" in snakemake(workdir, None, "verify", "--configfile", str(config)).output
    target = workdir / "results" / "digits" / "embeddings" / "small-pca16" / "gallery.parquet"
    original, stat = target.read_bytes(), target.stat()
    try:
        target.write_bytes(original[: len(original) // 2])
        os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        assert "Nothing to be done" in snakemake(workdir, config, "-n").output  # Snakemake cannot see it
        result = snakemake(workdir, None, "verify", "--configfile", str(config), check=False)
        assert result.returncode != 0
        assert f"results/digits/embeddings/small-pca16/gallery.parquet: unreadable Parquet" in result.output
        assert "--forcerun results/digits/embeddings/small-pca16/gallery.parquet" in result.output
    finally:
        target.write_bytes(original)
        os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))


@pytest.mark.parametrize("name,expected", [
    ("results/tables/summary.csv", "does not match the table made again"),
    ("results/tables/figure1_kmeans.md", "does not match the table made again"),
    ("results/metrics.csv", "does not match the 8 per-configuration files"),
    ("results/timings.csv", "does not match the 8 per-configuration files"),
    (f"results/digits/train/small/neural/{TRAINING}/history.csv", "expected one per epoch (2)"),
    ("results/digits/embeddings/small-pca16/pca.json", "unreadable JSON"),
    ("results/digits/metrics/small/kmeans/K=5_probes=1_seed=0/timings.csv", "its row is cut short"),
    ("results/digits/metrics/small/kmeans/K=5_probes=1_seed=0/metrics.csv", "its row is cut short"),
    ("results/digits/metrics/small/kmeans/K=5_probes=1_seed=0/provenance.json", "unreadable JSON"),
    ("results/digits/runs/small/kmeans.json", "unreadable JSON"),
    ("results/digits/metrics/small/kmeans.json", "unreadable JSON"),
    ("results/digits/metrics/small/kmeans/K=5_probes=1_seed=0/ranking.parquet", "unreadable Parquet"),
    ("results/digits/metrics/small/kmeans/last_run.json", "unreadable JSON"),
    ("results/plots/digits_tradeoff.png", "truncated PNG"),
    ("results/checksums.sha256", "lines, expected"),
    ("resources/digits/manifest.json", "unreadable JSON"),
])
def test_verify_finds_every_kind_of_truncated_file(workdir, name, expected):
    config = workdir / "test-config.yaml"
    target = workdir / name
    original, stat = target.read_bytes(), target.stat()
    lines = original.splitlines(keepends=True)
    try:  # cut at a line end where there are lines (a CSV that still parses), else in the middle
        target.write_bytes(b"".join(lines[: len(lines) // 2]) if len(lines) > 2 else original[: len(original) // 2])
        os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        result = snakemake(workdir, None, "verify", "--configfile", str(config), check=False)
        assert result.returncode != 0
        assert f"{name}: " in result.output and expected in result.output, result.output[-3000:]
    finally:
        target.write_bytes(original)
        os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_verify_names_a_broken_configuration_and_its_fix_rebuilds_only_it(workdir, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(workdir, root, symlinks=True)
    config = root / "test-config.yaml"
    folder = root / "results" / "digits" / "metrics" / "small" / "kmeans" / "K=5_probes=1_seed=0"
    original = (folder / "ranking.parquet").read_bytes()
    (folder / "ranking.parquet").write_bytes(original[: len(original) // 2])
    result = snakemake(root, None, "verify", "--configfile", str(config), check=False)
    assert result.returncode != 0
    provenance = "results/digits/metrics/small/kmeans/K=5_probes=1_seed=0/provenance.json"
    assert f"delete {provenance} and run with `--forcerun results/digits/runs/small/kmeans.json`" in result.output
    (root / provenance).unlink()
    snakemake(root, config, "--forcerun", "results/digits/runs/small/kmeans.json")
    manifest = json.loads((root / "results" / "digits" / "runs" / "small" / "kmeans.json").read_text())
    assert {c["params"]: c["status"] for c in manifest["configurations"]} == {"K=5_probes=1_seed=0": "built",
                                                                                "K=10_probes=1_seed=0": "kept"}
    assert "0 problem(s)" in snakemake(root, None, "verify", "--configfile", str(config)).output


def test_a_broken_metrics_file_is_derived_again_without_a_rebuild(workdir, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(workdir, root, symlinks=True)
    config = root / "test-config.yaml"
    folder = root / "results" / "digits" / "metrics" / "small" / "kmeans" / "K=5_probes=1_seed=0"
    original = (folder / "per_query.parquet").read_bytes()
    (folder / "per_query.parquet").write_bytes(original[: len(original) // 2])
    result = snakemake(root, None, "verify", "--configfile", str(config), check=False)
    assert result.returncode != 0
    assert ("re-create it with `--forcerun results/digits/metrics/small/kmeans.json` (derives the metrics again, "
            "rebuilds nothing)") in result.output
    ranking = (folder / "ranking.parquet").stat().st_mtime_ns
    snakemake(root, config, "--forcerun", "results/digits/metrics/small/kmeans.json")
    assert (folder / "per_query.parquet").read_bytes() == original
    assert (folder / "ranking.parquet").stat().st_mtime_ns == ranking  # nothing re-ranked
    assert "0 problem(s)" in snakemake(root, None, "verify", "--configfile", str(config)).output


def test_grid_change_runs_only_new_configurations(workdir, tmp_path):
    assert "Nothing to be done" in snakemake(workdir, workdir / "test-config.yaml", "-n").output
    changed = copy.deepcopy(CONFIG)
    changed["datasets"][0]["grids"]["kmeans"]["K"] = [5, 10, 20]
    changed["datasets"][0]["grids"]["neural"]["J"] = [4, 6]
    path = workdir / "changed.yaml"
    path.write_text(yaml.safe_dump(changed))
    planned = planned_jobs(snakemake(workdir, path, "-n").output)
    upstream = {"download", "embed", "pca", "exact_neighbours", "train", "run_method"}
    jobs = {(rule, w.get("space"), w.get("method")) for rule, w in planned if rule in upstream}
    # the method jobs of the changed grids re-run (not training: J picks bits from the same networks) ...
    assert jobs == {("run_method", "small", "kmeans"), ("run_method", "small-pca16", "kmeans"),
                    ("run_method", "small", "neural")}
    downstream = {job_name(rule, w) for rule, w in planned if rule not in upstream}
    # not figure2 or figure3: their inputs did not change
    assert downstream == with_pages({
        "metrics", "collect_metrics", "table figure1_kmeans", "table figure4_neural", "table vs_report",
        "table summary", "plot digits_kmeans", "plot digits_neural", "plot digits_tradeoff", "plot digits_qps",
        "checksums", "all", "table figure1_kmeans_ci", "table figure4_neural_ci", "table pareto", "table significance",
        "plot digits_retrieved_kmeans", "plot digits_retrieved_neural"})
    # ... and build only the new configurations, keeping the others' files (run on a copy of the results)
    copy_root = tmp_path / "copy"
    shutil.copytree(workdir, copy_root, symlinks=True)
    old = {p: p.stat().st_mtime_ns for p in (copy_root / "results" / "digits" / "metrics").rglob("metrics.csv")}
    snakemake(copy_root, path)
    runs = copy_root / "results" / "digits" / "runs"
    manifests = [json.loads((runs / f).read_text()) for f in ("small/kmeans.json", "small-pca16/kmeans.json",
                                                               "small/neural.json")]
    status = {(m["space"], m["method"], c["params"]): c["status"] for m in manifests for c in m["configurations"]}
    assert {key for key, value in status.items() if value == "built"} == {
        ("small", "kmeans", "K=20_probes=1_seed=0"), ("small-pca16", "kmeans", "K=20_probes=1_seed=0"),
        ("small", "neural", NEURAL.replace("J=4", "J=6"))}
    assert list(status.values()).count("kept") == 5  # K=5 and K=10 on two spaces, J=4
    assert all(p.stat().st_mtime_ns == mtime for p, mtime in old.items())  # the other configurations' files kept


def test_k_larger_than_the_gallery_fails_at_parse_time(tmp_path):
    config = copy.deepcopy(CONFIG)
    config["datasets"][0]["grids"] = {"kmeans": {"K": [500]}}
    config["methods"] = {"kmeans": {"spaces": ["small"]}}
    result = snakemake(tmp_path, config, check=False)
    assert result.returncode != 0
    assert "grids.kmeans.K: 500 exceeds the 300 gallery images of this dataset" in result.output
    assert not (tmp_path / "results").exists()  # before any job


def test_tables_and_plots_come_from_the_metrics_files(workdir):
    tables = workdir / "results" / "tables"
    figure1 = pd.read_csv(tables / "figure1_kmeans.csv")
    assert list(figure1.columns) == ["block", "metric", "digits K=5", "digits K=10"]
    assert list(figure1.block) == ["Embedding: 512"] * 3 + ["PCA: 16"] * 3
    row = pd.read_csv(workdir / "results" / "digits" / "metrics" / "small" / "kmeans" / "K=10_probes=1_seed=0" / "metrics.csv")
    assert figure1.loc[0, "digits K=10"] == round(100 * row.precision_at_10[0], 2)
    assert list(pd.read_csv(tables / "figure2_hyperplane.csv").block.unique()) == ["#Hashtables = 2 (centred)"]
    assert list(pd.read_csv(tables / "figure4_neural.csv").columns) == ["block", "metric", "digits J=4"]
    losses = pd.read_csv(tables / "figure3_neural_loss.csv")
    assert len(losses) == 2 and set(losses.dataset) == {"digits"}
    vs = pd.read_csv(tables / "vs_report.csv")
    assert len(vs) == 243 and vs.ours.isna().all()  # digits is not a dataset of the report
    summary = pd.read_csv(tables / "summary.csv")
    assert list(dict.fromkeys(summary.method)) == ["exact", "kmeans", "hyperplane", "neural"]  # exact first
    assert list(summary.space[:4]) == ["small", "small", "small-pca16", "small-pca16"]  # by recall@10 and mAP_all
    assert set(summary[summary.method == "kmeans"].budget) <= {"1%", "10%", "any"}
    assert {"value", "seed_ci_low", "query_ci_low", "recall_at_10", "mAP_all", "candidates_percent"} <= set(
        summary.columns)
    assert list(pd.read_csv(tables / "figure4_neural.csv").block.unique()) == [
        "#HashTables = 8 (H=32, standardised, epochs=2, batch=64)"]  # each departure from the report named
    assert (tables / "figure1_kmeans.md").read_text().startswith("| block | metric | digits K=5 |")
    for name in ("digits_kmeans", "digits_hyperplane", "digits_neural", "digits_tradeoff", "digits_qps",
                 "digits_retrieved_exact", "digits_retrieved_kmeans"):
        assert (workdir / "results" / "plots" / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
        drawn = pd.read_csv(workdir / "results" / "plots" / f"{name}.csv")  # the points it drew
        assert len(drawn) and {"method", "configuration"} <= set(drawn.columns), name
    tradeoff = pd.read_csv(workdir / "results" / "plots" / "digits_tradeoff.csv")
    assert {"x", "y", "y_ci_low", "y_ci_high", "pareto", "on_exact_marker"} <= set(tradeoff.columns)
    assert set(tradeoff.method) >= {"exact", "kmeans", "hyperplane", "neural"}
    headline = pd.read_csv(tables / "headline.csv")
    assert list(headline.budget[:1]) == ["all"] and set(headline.budget) <= {"all", "1%", "10%"}
    page = (tables / "summary.html").read_text()
    assert page.count("<tr>") == len(summary) + 1 and "data:text/csv;base64," in page
    assert (workdir / "results" / "plots" / "figure3_neural_loss.png").stat().st_size > 1000


def test_one_changed_metrics_file_changes_one_cell(workdir):
    config = workdir / "test-config.yaml"
    assert "Nothing to be done" in snakemake(workdir, config, "-n").output  # aggregates do not re-run by themselves
    before = pd.read_csv(workdir / "results" / "tables" / "figure1_kmeans.csv")
    path = workdir / "results" / "digits" / "metrics" / "small-pca16" / "kmeans" / "K=5_probes=1_seed=0" / "metrics.csv"
    row = pd.read_csv(path)
    row.loc[0, "mAP"] = 0.123456
    row.to_csv(path, index=False)
    # a configuration's files belong to its method job (their manifest is the rule output): an edit by hand is not
    # seen until the tables are forced
    assert "Nothing to be done" in snakemake(workdir, config, "-n").output
    snakemake(workdir, config, "--forcerun", "results/tables/figure1_kmeans.csv")
    after = pd.read_csv(workdir / "results" / "tables" / "figure1_kmeans.csv")
    changed = (before.fillna(-1) != after.fillna(-1))
    assert changed.to_numpy().sum() == 1
    assert after.loc[5, "digits K=5"] == 12.35 and after.loc[5, "block"] == "PCA: 16"


def test_html_report(workdir):
    snakemake(workdir, workdir / "test-config.yaml", "--report", "report.html")
    html = (workdir / "report.html").read_text(errors="replace")
    assert "figure1_kmeans.html" in html and "digits_tradeoff.png" in html and "explorer.html" in html
    assert "mailto:" not in html  # "recall@10" in a caption is escaped
    assert "align-items: safe center" in html  # profiles/default/report.css, read through the workflow profile


def checkout_copy(repo, root):
    """A copy of the repository (file times kept: nothing re-runs for its own sake) to edit the code of."""
    checkout = root / "checkout"
    shutil.copytree(repo, checkout, ignore=shutil.ignore_patterns(".venv", ".git", "results", "resources",
                                                                  ".snakemake", "__pycache__", "*.egg-info"))
    return checkout


def run_checkout(checkout, workdir, *args, check=True):
    result = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(checkout / "Snakefile"),
                             "--directory", str(workdir), "--cores", "2", "--scheduler", "greedy", "--configfile",
                             str(workdir / "test-config.yaml"), *args], capture_output=True, text=True,
                            env={**os.environ, "TORCH_HOME": str(workdir / "torch-home")})
    result.output = result.stdout + result.stderr
    assert not check or result.returncode == 0, result.output[-4000:]
    return result


def statuses(root, space, method):
    manifest = json.loads((root / "results" / "digits" / "runs" / space / f"{method}.json").read_text())
    return {c["params"]: c["status"] for c in manifest["configurations"]}


def test_an_edit_of_a_method_module_reruns_its_jobs_and_rebuilds_them(workdir, repo, tmp_path):
    root = tmp_path / "run"
    shutil.copytree(workdir, root, symlinks=True)
    checkout = checkout_copy(repo, tmp_path)
    assert "Nothing to be done" in run_checkout(checkout, root, "-n").output
    module = checkout / "lshbench" / "methods" / "hyperplane.py"
    module.write_text(module.read_text() + "\n# an edit\n")
    planned = planned_jobs(run_checkout(checkout, root, "-n").output)
    upstream = {"download", "embed", "pca", "exact_neighbours", "train", "run_method"}
    assert {(rule, w.get("space"), w.get("method")) for rule, w in planned if rule in upstream} == {
        ("run_method", "small", "hyperplane")}
    assert {job_name(rule, w) for rule, w in planned if rule not in upstream} == with_pages({
        "metrics", "collect_metrics", "table figure2_hyperplane", "table vs_report", "table summary",
        "plot digits_hyperplane", "plot digits_tradeoff", "plot digits_qps", "checksums", "all",
        "table figure2_hyperplane_ci", "table pareto", "table significance", "plot digits_retrieved_hyperplane"})
    assert [w["method"] for rule, w in planned if rule == "metrics"] == ["hyperplane"]
    kmeans = {p: p.stat().st_mtime_ns for p in (root / "results" / "digits" / "metrics").rglob("kmeans/*/metrics.csv")}
    run_checkout(checkout, root)
    assert statuses(root, "small", "hyperplane") == {"H=4_L=2_center=true_seed=0": "built"}
    provenance = root / "results" / "digits" / "metrics" / "small" / "hyperplane" / "H=4_L=2_center=true_seed=0"
    assert json.loads((provenance / "provenance.json").read_text())["code"] != json.loads(
        (workdir / provenance.relative_to(root) / "provenance.json").read_text())["code"]
    assert all(p.stat().st_mtime_ns == mtime for p, mtime in kmeans.items())  # other methods untouched
    assert "Nothing to be done" in run_checkout(checkout, root, "-n").output


def test_an_edit_of_the_metrics_rederives_every_metric_and_rebuilds_nothing(workdir, repo, tmp_path):
    root = tmp_path / "run"
    shutil.copytree(workdir, root, symlinks=True)
    checkout = checkout_copy(repo, tmp_path)
    module = checkout / "lshbench" / "metrics.py"
    module.write_text(module.read_text() + "\n# a new metric would go here\n")
    planned = planned_jobs(run_checkout(checkout, root, "-n").output)
    upstream = {"download", "embed", "pca", "exact_neighbours", "train", "run_method"}
    assert [rule for rule, _ in planned if rule in upstream] == []
    assert {(w["space"], w["method"]) for rule, w in planned if rule == "metrics"} == {
        (space, method) for space, method, _ in CONFIGURATIONS}
    rankings = {p: p.stat().st_mtime_ns for p in (root / "results").rglob("ranking.parquet")}
    assert len(rankings) == len(CONFIGURATIONS)
    run_checkout(checkout, root)
    assert all(p.stat().st_mtime_ns == mtime for p, mtime in rankings.items())  # nothing re-ranked
    # the same values, derived again (per_query.parquet: metrics.csv of workdir may hold another test's edit by hand)
    derived = list((root / "results" / "digits" / "metrics").rglob("per_query.parquet"))
    assert len(derived) == len(CONFIGURATIONS)
    assert [p for p in derived if p.read_bytes() != (workdir / p.relative_to(root)).read_bytes()] == []
    for per_query in derived:
        row = pd.read_csv(per_query.parent / "metrics.csv").iloc[0]
        assert row.mAP == pd.read_parquet(per_query).average_precision.mean()


def test_forcerun_of_a_method_job_rebuilds_every_configuration(workdir, tmp_path):
    root = tmp_path / "run"
    shutil.copytree(workdir, root, symlinks=True)
    config = root / "test-config.yaml"
    snakemake(root, config, "--forcerun", "results/digits/runs/small/kmeans.json")
    assert statuses(root, "small", "kmeans") == {"K=5_probes=1_seed=0": "built", "K=10_probes=1_seed=0": "built"}
    assert statuses(root, "small-pca16", "kmeans") == statuses(workdir, "small-pca16", "kmeans")  # not forced
    for params in ("K=5_probes=1_seed=0", "K=10_probes=1_seed=0"):  # deterministic: the same numbers again
        metrics = ("results", "digits", "metrics", "small", "kmeans", params, "metrics.csv")
        assert root.joinpath(*metrics).read_bytes() == workdir.joinpath(*metrics).read_bytes()


def test_adding_a_seed_builds_only_that_seed(workdir, tmp_path):
    changed = copy.deepcopy(CONFIG)
    changed["seeds"] = [0, 1]
    copy_root = tmp_path / "copy"
    shutil.copytree(workdir, copy_root, symlinks=True)
    path = copy_root / "two-seeds.yaml"
    path.write_text(yaml.safe_dump(changed))
    planned = planned_jobs(snakemake(copy_root, path, "-n").output)
    upstream = {(rule, w.get("space"), w.get("method")) for rule, w in planned
                if rule in ("run_method", "train", "embed", "pca", "exact_neighbours")}
    # every seeded method's job on each space, and the new seed's networks; exact search is not seeded
    assert upstream == {("run_method", "small", "kmeans"), ("run_method", "small-pca16", "kmeans"),
                        ("run_method", "small", "hyperplane"), ("run_method", "small", "neural"),
                        ("train", "small", "neural")}
    snakemake(copy_root, path)
    manifest = json.loads((copy_root / "results" / "digits" / "runs" / "small" / "kmeans.json").read_text())
    assert {c["params"]: c["status"] for c in manifest["configurations"]} == {
        "K=5_probes=1_seed=0": "kept", "K=5_probes=1_seed=1": "built",
        "K=10_probes=1_seed=0": "kept", "K=10_probes=1_seed=1": "built"}
    ci = pd.read_csv(copy_root / "results" / "tables" / "figure1_kmeans_ci.csv")
    assert set(ci.seeds) == {2} and ci.seed_ci_low.notna().all()  # two replicates: an interval in every cell
    figure1 = pd.read_csv(copy_root / "results" / "tables" / "figure1_kmeans.csv")
    rows = [pd.read_csv(copy_root / "results" / "digits" / "metrics" / "small" / "kmeans" / f"K=10_probes=1_seed={s}"
                        / "metrics.csv").precision_at_10[0] for s in (0, 1)]
    assert figure1.loc[0, "digits K=10"] == round(100 * (rows[0] + rows[1]) / 2, 2)  # the mean over seeds


def test_trace_names_the_files_behind_a_row(workdir, repo):
    """`python -m lshbench.trace` on a summary row and a figure row: the configurations of the row (from the plan),
    each replicate's files, all there."""
    summary = pd.read_csv(workdir / "results" / "tables" / "summary.csv")
    row = int(summary.index[(summary.method == "kmeans")][0])
    command = [sys.executable, "-m", "lshbench.trace", "summary", str(row), "--configfile",
               str(workdir / "test-config.yaml"), "--directory", str(workdir)]
    printed = subprocess.run(command, cwd=repo, capture_output=True, text=True, check=True).stdout
    space, configuration = summary.space[row], summary.configuration[row]
    folder = workdir / "results" / "digits" / "metrics" / space / "kmeans" / f"{configuration}_seed=0"
    for name in ("metrics.csv", "per_query.parquet", "ranking.parquet", "timings.csv", "provenance.json"):
        assert f"    {folder / name}\n" in printed
    assert "(missing)" not in printed and printed.count("\n- ") == 1  # one seed: one configuration file set
    figure = subprocess.run([*command[:3], "figure1_kmeans", "0", *command[5:]], cwd=repo, capture_output=True,
                            text=True, check=True).stdout
    assert figure.count("\n- ") == 2 and "/kmeans/K=5_probes=1_seed=0/metrics.csv" in figure  # K=5, K=10 of a block
    refused = subprocess.run([*command[:3], "summary", "999", *command[5:]], cwd=repo, capture_output=True, text=True)
    assert refused.returncode == 2 and "has rows 0 to" in refused.stderr
