"""Write one of the report's tables (CSV and Markdown) from metrics.csv / losses.csv files alone."""

import pandas as pd

from lshbench import workflow
from lshbench.io import atomic_path
from lshbench.plots import loss_plot
from lshbench.tables import FIGURES, figure_cells, loss_table, read_metrics, summary, to_markdown, vs_report, wide


def write(table, sm):
    with atomic_path(sm.output.csv) as tmp:
        table.to_csv(tmp, index=False)
    with atomic_path(sm.output.md) as tmp:
        tmp.write_text(to_markdown(table))


def main(sm):
    figure = sm.params.figure
    if figure == "figure3_neural_loss":
        losses = loss_table(list(sm.input.losses), [tuple(t) for t in sm.params.trainings])
        write(losses, sm)
        with atomic_path(sm.output.png) as tmp:
            loss_plot(losses, tmp.with_suffix(".png"))
            tmp.with_suffix(".png").replace(tmp)
        return
    metrics = read_metrics(list(sm.input.metrics))
    if figure in FIGURES:
        write(wide(figure_cells(metrics, figure), sm.params.datasets), sm)
    elif figure == "vs_report":
        cells = [figure_cells(metrics, f) for f in FIGURES]
        write(vs_report(pd.concat(cells, ignore_index=True)), sm)
    else:
        write(summary(metrics, sm.params.datasets), sm)


workflow.run(snakemake, main)  # noqa: F821
