"""The exact cosine top 50 of every query over the whole gallery of one space (reused by every recall@k)."""

import logging

import torch

from lshbench import workflow
from lshbench.device import resolve_device
from lshbench.evaluate import exact_top_k
from lshbench.io import read_embeddings, write_neighbours


def main(sm):
    device = resolve_device(sm.config["device"])
    gallery, query = read_embeddings(sm.input.gallery), read_embeddings(sm.input.query)
    ids, scores = exact_top_k(torch.from_numpy(gallery.vectors).to(device), torch.from_numpy(query.vectors).to(device),
                              k=50, memory_mb=sm.config["evaluation"]["memory_mb"])
    write_neighbours(sm.output[0], query.ids, ids.cpu().numpy(), scores.cpu().numpy())
    logging.info("exact top %d of %d queries over %d gallery items", ids.shape[1], len(query), len(gallery))


workflow.run(snakemake, main)  # noqa: F821
