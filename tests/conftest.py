import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


def own_config(workdir: Path) -> None:
    """Give a test's work directory a config.yaml of its own, empty unless it has one: its --configfile is then the
    whole experiment over the schema's defaults (the Snakefile reads the working directory's config.yaml, else the
    project's, under every --configfile)."""
    path = Path(workdir) / "config.yaml"
    if not path.exists():
        path.write_text("# a test's experiment is its --configfile alone\n{}\n")


def snakemake(workdir: Path, config: dict | Path | None, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run the real Snakemake CLI on the repository's Snakefile in ``workdir`` (with a config.yaml of its own,
    ``own_config``); returns the finished process."""
    own_config(workdir)
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
               "--cores", "2", "--scheduler", "greedy"]
    if isinstance(config, dict):
        path = workdir / "test-config.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        command += ["--configfile", str(path)]
    elif config is not None:
        command += ["--configfile", str(config)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TORCH_HOME": str(workdir / "torch-home")}
    result = subprocess.run(command + list(args), cwd=workdir, capture_output=True, text=True, env=env)
    result.output = result.stdout + result.stderr
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed ({result.returncode}):\n{result.output[-6000:]}")
    return result


@pytest.fixture
def repo():
    return REPO
