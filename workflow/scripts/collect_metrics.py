"""All metrics.csv files in one table, results/metrics.csv; all timings.csv files in results/timings.csv (the files
of every configuration in the plan, written by the method jobs whose manifests are this rule's inputs)."""

import pandas as pd

from lshbench import workflow
from lshbench.io import atomic_path


def main(sm):
    for name in ("metrics", "timings"):
        frame = pd.concat([pd.read_csv(path) for path in sm.params[name]], ignore_index=True)
        with atomic_path(sm.output[name]) as tmp:
            frame.to_csv(tmp, index=False)


workflow.run(snakemake, main)  # noqa: F821
