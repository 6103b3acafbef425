"""Embed one split of one dataset with one model into results/{dataset}/embeddings/{model}/{split}.parquet."""

import json
import logging

from lshbench import layout, workflow
from lshbench.code import rule_files, write_code_record
from lshbench.sources import open_split, source
from lshbench.models import weights_kind
from lshbench.embed import build_model, embed_split, resolve_device


def main(sm):
    p = sm.params
    dataset = json.loads(p.dataset)
    split = open_split(dataset, layout.download_folder(sm.wildcards.dataset), sm.wildcards.split, image_size=p.image_size)
    named = p.weights if weights_kind(p.weights) == "named" else None
    model = build_model(p.arch, sm.input.weights or None, seed=p.seed, weights_name=named)
    workers = sm.config["embedding"]["num_workers"]
    result = embed_split(
        split,
        model,
        sm.output[0],
        image_size=p.image_size,
        batch_size=sm.config["embedding"]["batch_size"],
        device=resolve_device(sm.config["device"]),
        num_workers=sm.threads if workers is None else min(workers, sm.threads),
        decoder=sm.config["embedding"]["decoder"],
        on_bad_image=p.on_bad_image,
        precision=p.precision,
        metadata={"model": sm.wildcards.space, "arch": p.arch, "weights": p.weights, "seed": p.seed, "space": sm.wildcards.space},
    )
    write_code_record(sm.output[0], rule_files("embed.py", source(dataset["source"]).module))
    logging.info("wrote %s (%d x %d) in %.1f s", sm.output[0], result["rows"], result["dim"], result["seconds"])


workflow.run(snakemake, main)  # noqa: F821
