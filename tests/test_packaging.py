import re
import tomllib

import yaml

# conda-forge names of the PyPI packages where they differ
CONDA_TO_PYPI = {"pytorch": "torch", "pytorch-gpu": "torch", "snakemake-minimal": "snakemake",
                 "matplotlib-base": "matplotlib"}


def names(requirements):
    return {re.split(r"[ <>=!\[]", r.strip(), maxsplit=1)[0].lower() for r in requirements}


def test_conda_envs_list_the_pyproject_dependencies(repo):
    declared = names(tomllib.loads((repo / "pyproject.toml").read_text())["project"]["dependencies"])
    envs = sorted((repo / "envs").glob("*.yaml"))
    assert len(envs) >= 2
    for env in envs:
        listed = {CONDA_TO_PYPI.get(n, n) for n in names(yaml.safe_load(env.read_text())["dependencies"])} - {"python"}
        assert listed == declared, f"{env.name}: missing {declared - listed}, extra {listed - declared}"


def test_every_rule_names_an_existing_conda_env(repo):
    for smk in (repo / "rules").glob("*.smk"):
        for env in re.findall(r'conda:\s*\n\s*"([^"]+)"', smk.read_text()):
            assert (smk.parent / env).resolve().is_file(), f"{smk.name}: {env}"
