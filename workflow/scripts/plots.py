"""One plot of one dataset: a method's metrics against its parameter, the quality/candidates trade-off, or recall
against queries per second."""

from lshbench import workflow
from lshbench.io import atomic_path
from lshbench.plots import method_plot, qps_plot, tradeoff_plot
from lshbench.tables import read_metrics


def main(sm):
    metrics = read_metrics(list(sm.input.metrics))
    with atomic_path(sm.output[0]) as tmp:
        target = tmp.with_suffix(".png")  # matplotlib picks the format from the suffix
        if sm.rule == "plot_method":
            method_plot(metrics, sm.wildcards.dataset, sm.wildcards.method, target)
        elif sm.rule == "plot_qps":
            qps_plot(metrics, read_metrics(list(sm.input.timings)), sm.wildcards.dataset, target)
        else:
            tradeoff_plot(metrics, sm.wildcards.dataset, target)
        target.replace(tmp)


workflow.run(snakemake, main)  # noqa: F821
