"""All metrics.csv files in one table, results/metrics.csv."""

import pandas as pd

from lshbench import workflow
from lshbench.io import atomic_path


def main(sm):
    frame = pd.concat([pd.read_csv(path) for path in sm.input], ignore_index=True)
    with atomic_path(sm.output[0]) as tmp:
        frame.to_csv(tmp, index=False)


workflow.run(snakemake, main)  # noqa: F821
