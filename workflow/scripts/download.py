"""Download or check one dataset; writes resources/{dataset}/manifest.json."""

import json
from pathlib import Path

from lshbench import workflow
from lshbench.sources import prepare


def main(sm):
    prepare(json.loads(sm.params.dataset), Path(sm.output[0]).parent)


workflow.run(snakemake, main)  # noqa: F821 (injected by Snakemake)
