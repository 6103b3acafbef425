"""Draw one plot of the report's registry (lshbench/report.py), from the files its entry reads, and write the points
it drew beside it (results/plots/{name}.csv)."""

from lshbench import workflow
from lshbench.io import atomic_path
from lshbench.report import plots_of


def main(sm):
    entry = plots_of(sm.config)[sm.wildcards.plot]
    with atomic_path(sm.output.png) as tmp:
        target = tmp.with_suffix(".png")  # matplotlib picks the format from the suffix
        drawn = entry.make(entry, ".", target)
        target.replace(tmp)
    with atomic_path(sm.output.csv) as tmp:
        drawn.to_csv(tmp, index=False)


workflow.run(snakemake, main)  # noqa: F821
