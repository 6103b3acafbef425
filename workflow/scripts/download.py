"""Download or check one dataset; writes resources/{dataset}/manifest.json and the record of the code that made it."""

import json

from lshbench import layout, workflow
from lshbench.code import rule_files, write_code_record
from lshbench.sources import prepare, source


def main(sm):
    dataset = json.loads(sm.params.dataset)
    prepare(dataset, layout.download_folder(dataset["name"]))
    write_code_record(sm.output[0], rule_files("download.py", source(dataset["source"]).module))


workflow.run(snakemake, main)  # noqa: F821 (injected by Snakemake)
