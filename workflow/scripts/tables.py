"""Write one table (CSV and Markdown) from metrics.csv / history.csv files alone: a method's table (the report's
Figures 1, 2 and 4 for its methods), a training history (Figure 3), the comparison with the report, or the summary."""

import pandas as pd

from lshbench import workflow
from lshbench.io import atomic_path
from lshbench.tables import (
    figure_cells,
    history_table,
    read_metrics,
    summary,
    table_methods,
    to_markdown,
    vs_report,
    wide,
)


def main(sm):
    p = sm.params
    if p.kind == "training":
        table = history_table(list(sm.input.histories), [tuple(t) for t in p.trainings])
    else:
        metrics = read_metrics(list(sm.params.metrics))
        if p.kind == "figure":
            table = wide(figure_cells(metrics, p.method), p.datasets)
        elif p.kind == "vs_report":
            table = vs_report(pd.concat([figure_cells(metrics, m) for m in table_methods()], ignore_index=True))
        else:
            table = summary(metrics, p.datasets)
    with atomic_path(sm.output.csv) as tmp:
        table.to_csv(tmp, index=False)
    with atomic_path(sm.output.md) as tmp:
        tmp.write_text(to_markdown(table))


workflow.run(snakemake, main)  # noqa: F821
