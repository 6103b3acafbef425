"""Every metric of one method's configurations on one space, derived from their stored rankings (lshbench/metrics.py):
metrics.csv and per_query.parquet beside each ranking.parquet. No index is built and nothing is re-ranked, so a new
metric re-runs only these jobs."""

import json
from pathlib import Path

from lshbench import layout, workflow
from lshbench.config import job_keys
from lshbench.io import atomic_path, read_labels, read_neighbours
from lshbench.metrics import write_metrics
from lshbench.ranking import read_ranking
from lshbench.split import query_split


def main(sm):
    w = sm.wildcards
    labels = read_labels(sm.input.gallery)
    query_ids, _, exact_scores = read_neighbours(sm.input.exact)
    rows, split = [], None
    for key in job_keys(sm.config, w.dataset, w.space, w.method, sm.params.configurations):
        folder = Path(layout.configuration_folder(key))
        ranking = read_ranking(folder / "ranking.parquet")
        if not (ranking.query_ids == query_ids).all():
            raise RuntimeError(f"{folder / 'ranking.parquet'} ranks other queries than {sm.input.exact}; re-run its "
                               f"method job with --forcerun {sm.input.run}")
        if split is None:  # the dataset's split: a function of its queries, the same for every configuration
            split = query_split(ranking.query_ids, ranking.labels, sm.params.validation_fraction, sm.params.seed)
        row = write_metrics(folder, ranking, labels, exact_scores, split)
        rows.append({"params": key.folder, "precision_at_10": row["precision_at_10"], "mAP": row["mAP"]})
    with atomic_path(sm.output[0]) as tmp:
        tmp.write_text(json.dumps({"dataset": w.dataset, "space": w.space, "method": w.method,
                                   "configurations": rows}, indent=2))


workflow.run(snakemake, main)  # noqa: F821
