"""The workflow's files say what they hold: rule files named for their rules, one wildcard name per path segment,
resources declared once (rules/common.smk)."""

import re

from conftest import REPO

RULES = REPO / "rules"
EXPECTED = {  # rule file -> the rules it holds
    "data.smk": {"download", "fetch_weights"},
    "embed.smk": {"embed", "pca", "import_embeddings", "synthesize"},
    "methods.smk": {"exact_neighbours", "train", "run_method", "metrics", "hamming"},
    "report.smk": {"collect_metrics", "table", "page", "plot", "interactive", "checksums", "verify"},
}


def rules_in(path):
    return set(re.findall(r"^rule (\w+):", path.read_text(), flags=re.M))


def test_each_rule_file_holds_the_rules_its_name_says():
    files = {p.name: rules_in(p) for p in RULES.glob("*.smk") if rules_in(p)}
    assert files == EXPECTED
    assert not rules_in(RULES / "common.smk")  # config validation, wildcard constraints and input functions only
    includes = re.findall(r'^include: "rules/(\w+\.smk)"', (REPO / "Snakefile").read_text(), flags=re.M)
    assert set(includes) == set(EXPECTED) | {"common.smk"}


def test_an_embeddings_folder_has_one_wildcard_name():
    """Every path of results/ and resources/ in the rules comes from lshbench/layout.py (only logs and benchmark
    TSVs are spelled out), and the space segment is one wildcard name, {space}, everywhere."""
    text = "".join(p.read_text() for p in RULES.glob("*.smk"))
    literal = re.findall(r'"((?:results|resources)/[^"]*)"', text)
    assert all(p.startswith(("results/logs/", "results/benchmarks/")) for p in literal), literal
    spaces = re.findall(r'layout\.\w+\(\s*"\{dataset\}",\s*"(\{\w+\})"', text)
    assert len(spaces) > 10 and set(spaces) == {"{space}"}, spaces
    assert "{model}" not in text


def test_resources_are_declared_once():
    for path in RULES.glob("*.smk"):
        if path.name != "common.smk":
            assert not re.search(r"\b(mem_mb|runtime|gpu)=", path.read_text()), path.name
    common = (RULES / "common.smk").read_text()
    assert common.count("mem_mb=8000") == 1
