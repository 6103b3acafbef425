"""Draw one plot of the report's registry (lshbench/report.py), from the files its entry reads."""

from lshbench import workflow
from lshbench.io import atomic_path
from lshbench.report import plots_of


def main(sm):
    entry = plots_of(sm.config)[sm.wildcards.plot]
    with atomic_path(sm.output[0]) as tmp:
        target = tmp.with_suffix(".png")  # matplotlib picks the format from the suffix
        entry.make(entry, ".", target)
        target.replace(tmp)


workflow.run(snakemake, main)  # noqa: F821
