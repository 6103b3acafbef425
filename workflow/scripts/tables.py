"""Write one table (CSV and Markdown) from metrics.csv / history.csv files alone: a method's table (the report's
Figures 1, 2 and 4 for its methods), a training history (Figure 3), the comparison with the report, the summary, or the Hamming-ranking tables
(hashing, literature)."""

import json

from lshbench import workflow
from lshbench.io import atomic_path
from lshbench.report import make_table
from lshbench.tables import to_markdown


def main(sm):
    p = sm.params
    table = make_table(p.kind, p.method, p.datasets, p.metrics, getattr(sm.input, "histories", []), p.trainings,
                       p.per_query, json.loads(p.protocols))
    with atomic_path(sm.output.csv) as tmp:
        table.to_csv(tmp, index=False)
    with atomic_path(sm.output.md) as tmp:
        tmp.write_text(to_markdown(table))


workflow.run(snakemake, main)  # noqa: F821
