"""The tiny preset through a real Slurm cluster with the project's profile, against a local run of the same preset:
two runs of one config, whose tables, metrics and embeddings must agree byte for byte (results/checksums.sha256).

.ci/run starts a single-node cluster (.ci/slurm-cluster.sh: Debian's Slurm with accounting and one scheduling-only
GPU) before the tests. In CI a missing cluster fails this test with the reason; elsewhere it is skipped."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO, own_config, snakemake

SLURM_DIR = Path(os.environ.get("LSHBENCH_SLURM_DIR", "/tmp/lshbench-slurm"))
COMPARED_TABLES = ["figure1_kmeans", "figure2_hyperplane", "figure4_neural", "vs_report"]


def slurm_env():
    return {**os.environ, "SLURM_CONF": "/etc/slurm/slurm.conf", "HF_HUB_OFFLINE": "1"}


@pytest.fixture(scope="module")
def cluster():
    if (SLURM_DIR / "error").exists():
        reason = (SLURM_DIR / "error").read_text().strip()
    elif not (SLURM_DIR / "slurm.conf").exists():
        reason = f"no cluster at {SLURM_DIR}: run .ci/slurm-cluster.sh start first"
    else:
        probe = subprocess.run(["sinfo", "-h", "-o", "%P %a"], capture_output=True, text=True, env=slurm_env())
        reason = None if probe.returncode == 0 and "up" in probe.stdout else f"sinfo failed: {probe.stderr.strip()}"
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"the Slurm cluster is not available: {reason}")
        pytest.skip(f"no Slurm cluster here ({reason}); .ci/run starts one")
    return slurm_env()


def test_profile_runs_the_tiny_preset_on_slurm_like_a_local_run(tmp_path, cluster):
    local, remote = tmp_path / "local", tmp_path / "slurm"
    local.mkdir()
    remote.mkdir()
    snakemake(local, REPO / "presets" / "tiny.yaml")
    own_config(remote)  # the same experiment as the local run's

    # The project's profile, with the test cluster's partition and sizes filled in where it says EDIT.
    profile = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
    profile["default-resources"] = {**profile["default-resources"], "slurm_partition": "debug", "mem_mb": 1000}
    for resources in profile["set-resources"].values():
        resources.update(slurm_partition="debug", mem_mb=1000, runtime=30)
        resources.pop("cpus_per_gpu", None)
    profile |= {"slurm-init-seconds-before-status-checks": 2, "slurm-no-account": True, "jobs": 4}
    (tmp_path / "profile").mkdir()
    (tmp_path / "profile" / "config.yaml").write_text(yaml.safe_dump(profile))

    command = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(remote),
               "--configfile", str(REPO / "presets" / "tiny.yaml"), "--profile", str(tmp_path / "profile"),
               "--verbose"]
    result = subprocess.run(command, cwd=remote, capture_output=True, text=True, env=cluster, timeout=1500)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-8000:]

    # the jobs went through Slurm: the plugin's submissions, each found in the accounting database
    submitted = sorted({int(line.split("SLURM jobid ")[1].split()[0].strip(").,")) for line in output.splitlines()
                        if "SLURM jobid " in line})
    assert len(submitted) >= 6, output[-4000:]
    accounting = subprocess.run(["sacct", "-X", "-n", "-P", "-o", "JobID,Comment,AllocTRES,State", "-j",
                                 ",".join(map(str, submitted))], capture_output=True, text=True, env=cluster,
                                check=True).stdout
    rows = [line.split("|") for line in accounting.splitlines() if line.strip()]
    print("Slurm jobs of this run:\n" + accounting)
    assert {int(r[0]) for r in rows} == set(submitted)
    assert all(r[3] == "COMPLETED" for r in rows), accounting
    gpu_rules = {r[1].split("_wildcards")[0] for r in rows if "gres/gpu=1" in r[2]}
    assert "rule_embed" in gpu_rules and any("rule_train" in r for r in gpu_rules), accounting
    assert "--gpus=1" in output  # the plugin turned `gpu: 1` into an sbatch flag
    # the 8 configurations travel as one job per method and space: 2 embed, 1 pca, 2 exact top-50, 1 training and
    # 6 run_method jobs (k-means on 2 spaces, hyperplanes, neural, exact on 2); downloads, tables, plots are local
    assert len(rows) == 12, accounting

    # two runs of one preset (here: local and on the cluster) give byte-identical tables, metrics and embeddings
    checksums = (local / "results" / "checksums.sha256").read_text()
    assert (remote / "results" / "checksums.sha256").read_text() == checksums
    for table in sorted((local / "results" / "tables").iterdir()):
        assert table.read_bytes() == (remote / "results" / "tables" / table.name).read_bytes(), table.name
        if table.suffix != ".html":  # a table's page renders its CSV: not a result of its own
            assert f"results/tables/{table.name}" in checksums
    assert {f"{t}.csv" for t in COMPARED_TABLES} <= {t.name for t in (local / "results" / "tables").iterdir()}
