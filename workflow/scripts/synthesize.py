"""A split of synthetic features (source: synthetic) in a model's space: results/{dataset}/embeddings/{model}/{split}
.parquet, with the model's feature size and the dataset's sizes times the config's scale."""

import json
import logging

from lshbench import workflow
from lshbench.sources import synthesize


def main(sm):
    p = sm.params
    meta = synthesize(json.loads(p.dataset), sm.wildcards.space, p.dim, sm.wildcards.split, p.scale, sm.output[0])
    logging.info("wrote %s: %d x %d synthetic vectors in %d classes", sm.output[0], meta["rows"], meta["dim"],
                 meta["classes"])


workflow.run(snakemake, main)  # noqa: F821
