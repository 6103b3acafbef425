"""Fit PCA on a gallery's embeddings and write the projected gallery and query files plus pca.json."""

import json
import logging

import torch

from lshbench import workflow
from lshbench.code import rule_files, write_code_record
from lshbench.models import parse_pca_space
from lshbench.io import Embeddings, atomic_path, read_embeddings, write_embeddings
from lshbench.pca import fit_pca


def main(sm):
    space = sm.wildcards.space
    model, kind, value = parse_pca_space(space)
    gallery, query = read_embeddings(sm.input.gallery), read_embeddings(sm.input.query)
    pca = fit_pca(gallery.vectors)
    dims = pca.n_components_for(value) if kind == "variance" else int(value)
    rank = min(gallery.dim, len(gallery) - 1)
    if dims > rank:
        raise workflow.ConfigError(
            f"pca.dims of model '{model}': {dims} components asked, but a gallery of {len(gallery)} "
            f"vectors of dimension {gallery.dim} has at most {rank}"
        )
    ratios = pca.explained_variance_ratio
    info = {
        "space": space,
        "source_model": model,
        "dims": dims,
        "input_dim": gallery.dim,
        "variance_target": value if kind == "variance" else None,
        "explained_variance_ratio": float(ratios[:dims].sum()),
        "explained_variance_ratio_per_component": [float(r) for r in ratios[:dims]],
        "fitted_on": {"split": "gallery", "rows": len(gallery)},
    }
    for name, emb in (("gallery", gallery), ("query", query)):
        vectors = pca.transform(torch.from_numpy(emb.vectors), dims).float().numpy()
        metadata = {**emb.metadata, "space": space, "dim": dims, "pca": {k: info[k] for k in ("dims", "explained_variance_ratio")}}
        write_embeddings(sm.output[name], Embeddings(emb.ids, emb.labels, vectors, metadata))
        write_code_record(sm.output[name], rule_files("pca.py"))
    with atomic_path(sm.output.info) as tmp:
        tmp.write_text(json.dumps(info, indent=2))
    write_code_record(sm.output.info, rule_files("pca.py"))
    logging.info("%s: %d components keep %.2f%% of the variance", space, dims, 100 * info["explained_variance_ratio"])


workflow.run(snakemake, main)  # noqa: F821
