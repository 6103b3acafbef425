"""Write one table (CSV and Markdown) of the report's registry (lshbench/report.py), from the files its entry reads."""

from lshbench import workflow
from lshbench.io import atomic_path
from lshbench.report import tables_of
from lshbench.tables import to_markdown


def main(sm):
    entry = tables_of(sm.config)[sm.wildcards.table]
    table = entry.make(entry, ".")
    with atomic_path(sm.output.csv) as tmp:
        table.to_csv(tmp, index=False)
    with atomic_path(sm.output.md) as tmp:
        tmp.write_text(to_markdown(table))


workflow.run(snakemake, main)  # noqa: F821
