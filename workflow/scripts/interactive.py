"""Write an interactive page of the report's registry (lshbench/report.py) and the points it draws."""

from lshbench import workflow
from lshbench.io import atomic_path
from lshbench.report import interactive_of


def main(sm):
    entry = interactive_of(sm.config)[sm.wildcards.plot]
    with atomic_path(sm.output.html) as tmp:
        target = tmp.with_suffix(".html")
        drawn = entry.make(entry, ".", target)
        target.replace(tmp)
    with atomic_path(sm.output.csv) as tmp:
        drawn.to_csv(tmp, index=False)


workflow.run(snakemake, main)  # noqa: F821
