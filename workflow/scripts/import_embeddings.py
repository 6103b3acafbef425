"""Precomputed features (source: embeddings) into results/{dataset}/embeddings/{space}/{gallery,query}.parquet."""

import json
import logging

from lshbench import workflow
from lshbench.sources import load_precomputed
from lshbench.io import write_embeddings


def main(sm):
    settings = json.loads(sm.params.dataset)
    gallery, query = load_precomputed(settings)
    for split, embeddings in (("gallery", gallery), ("query", query)):
        write_embeddings(sm.output[split], embeddings)
        logging.info("%s: %d x %d from %s", split, len(embeddings), embeddings.dim, settings[f"{split}_file"])


workflow.run(snakemake, main)  # noqa: F821
