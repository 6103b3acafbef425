"""Fetch torchvision's pretrained weights into resources/weights/ (GPU nodes often have no internet)."""

from lshbench import workflow
from lshbench.code import rule_files, write_code_record
from lshbench.embed import fetch_weights


def main(sm):
    fetch_weights(sm.wildcards.arch, sm.wildcards.weights_name, sm.output[0])
    write_code_record(sm.output[0], rule_files("fetch_weights.py"))


workflow.run(snakemake, main)  # noqa: F821
