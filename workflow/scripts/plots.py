"""One plot: a method's metrics against its parameter on one dataset, the quality/candidates trade-off, recall
against queries per second, a training step's history (Figure 3's loss), or the Hamming-ranking precision-recall
curves."""

from pathlib import Path

from lshbench import workflow
from lshbench.io import atomic_path
from lshbench.plots import hamming_pr_plot, history_plot, method_plot, qps_plot, tradeoff_plot
from lshbench.evidence import read_metrics
from lshbench.tables import history_table


def main(sm):
    p = sm.params
    with atomic_path(sm.output[0]) as tmp:
        target = tmp.with_suffix(".png")  # matplotlib picks the format from the suffix
        if p.kind == "training":
            history_plot(history_table(list(sm.input.histories), [tuple(t) for t in p.trainings]), p.method, target)
        elif p.kind == "hamming_pr":
            import pandas as pd

            hamming_pr_plot(pd.concat([pd.read_csv(f) for f in sm.input.runs], ignore_index=True), p.dataset, target)
        else:
            metrics = read_metrics(list(sm.params.metrics))
            if p.kind == "method":
                method_plot(metrics, p.dataset, p.method, target)
            elif p.kind == "retrieved":
                import json

                from lshbench.pictures import retrieved_plot

                metrics = metrics.assign(path=list(sm.params.metrics))
                dataset = json.loads(p.dataset_settings)
                galleries = {Path(g).parent.name: g for g in sm.input.galleries}  # embeddings/{space}/gallery.parquet
                retrieved_plot(metrics, dataset, f"resources/{p.dataset}", galleries, target)
            elif p.kind == "qps":
                qps_plot(metrics, read_metrics(list(sm.params.timings)), p.dataset, target)
            else:
                tradeoff_plot(metrics, p.dataset, target)
        target.replace(tmp)


workflow.run(snakemake, main)  # noqa: F821
