# Tables and plots take a second each: they run where Snakemake runs, not as cluster jobs.
localrules:
    plot_qps,
    figure1,
    figure2,
    figure3,
    figure4,
    vs_report,
    summary,
    plot_method,
    plot_tradeoff,


rule figure1:
    input:
        metrics=method_metrics("kmeans"),
    output:
        csv=report(
            "results/tables/figure1_kmeans.csv",
            caption="../report/figure1.rst",
            category="Figure 1: k-means",
        ),
        md="results/tables/figure1_kmeans.md",
    log:
        "results/logs/tables/figure1.log",
    conda:
        "../envs/cpu.yaml"
    threads: 1
    params:
        code=library("tables.py"),
        figure="figure1_kmeans",
        datasets=list(DATASETS),
    script:
        "../workflow/scripts/tables.py"


rule figure2:
    input:
        metrics=method_metrics("hyperplane"),
    output:
        csv=report(
            "results/tables/figure2_hyperplane.csv",
            caption="../report/figure2.rst",
            category="Figure 2: random-hyperplane LSH",
        ),
        md="results/tables/figure2_hyperplane.md",
    log:
        "results/logs/tables/figure2.log",
    conda:
        "../envs/cpu.yaml"
    threads: 1
    params:
        code=library("tables.py"),
        figure="figure2_hyperplane",
        datasets=list(DATASETS),
    script:
        "../workflow/scripts/tables.py"


rule figure3:
    input:
        losses=neural_losses(),
    output:
        csv=report(
            "results/tables/figure3_neural_loss.csv",
            caption="../report/figure3.rst",
            category="Figure 3: neural LSH loss",
        ),
        md="results/tables/figure3_neural_loss.md",
        png=report(
            "results/tables/figure3_neural_loss.png",
            caption="../report/figure3.rst",
            category="Figure 3: neural LSH loss",
        ),
    log:
        "results/logs/tables/figure3.log",
    conda:
        "../envs/cpu.yaml"
    threads: 1
    params:
        code=library("tables.py"),
        plot_code=library("plots.py"),
        figure="figure3_neural_loss",
        trainings=neural_trainings(),
    script:
        "../workflow/scripts/tables.py"


rule figure4:
    input:
        metrics=method_metrics("neural"),
    output:
        csv=report(
            "results/tables/figure4_neural.csv",
            caption="../report/figure4.rst",
            category="Figure 4: neural LSH",
        ),
        md="results/tables/figure4_neural.md",
    log:
        "results/logs/tables/figure4.log",
    conda:
        "../envs/cpu.yaml"
    threads: 1
    params:
        code=library("tables.py"),
        figure="figure4_neural",
        datasets=list(DATASETS),
    script:
        "../workflow/scripts/tables.py"


rule vs_report:
    input:
        metrics=method_metrics("kmeans", "hyperplane", "neural"),
    output:
        csv=report(
            "results/tables/vs_report.csv",
            caption="../report/vs_report.rst",
            category="Comparison with the report",
        ),
        md="results/tables/vs_report.md",
    log:
        "results/logs/tables/vs_report.log",
    conda:
        "../envs/cpu.yaml"
    threads: 1
    params:
        code=library("tables.py"),
        figure="vs_report",
        datasets=list(DATASETS),
    script:
        "../workflow/scripts/tables.py"


rule summary:
    input:
        metrics=metrics_targets(),
    output:
        csv=report(
            "results/tables/summary.csv",
            caption="../report/summary.rst",
            category="Summary",
        ),
        md="results/tables/summary.md",
    log:
        "results/logs/tables/summary.log",
    conda:
        "../envs/cpu.yaml"
    threads: 1
    params:
        code=library("tables.py"),
        figure="summary",
        datasets=list(DATASETS),
    script:
        "../workflow/scripts/tables.py"


rule plot_method:
    input:
        metrics=dataset_method_metrics,
    output:
        report(
            "results/plots/{dataset}_{method}.png",
            caption="../report/plot_method.rst",
            category="Plots",
            subcategory="{dataset}",
        ),
    log:
        "results/logs/plots/{dataset}_{method}.log",
    wildcard_constraints:
        method="kmeans|hyperplane|neural",
    conda:
        "../envs/cpu.yaml"
    threads: 1
    params:
        code=library("plots.py"),
    script:
        "../workflow/scripts/plots.py"


rule plot_tradeoff:
    input:
        metrics=dataset_metrics,
    output:
        report(
            "results/plots/{dataset}_tradeoff.png",
            caption="../report/plot_tradeoff.rst",
            category="Plots",
            subcategory="{dataset}",
        ),
    log:
        "results/logs/plots/{dataset}_tradeoff.log",
    conda:
        "../envs/cpu.yaml"
    threads: 1
    params:
        code=library("plots.py"),
    script:
        "../workflow/scripts/plots.py"


rule plot_qps:
    input:
        metrics=dataset_metrics,
        timings=dataset_timings,
    output:
        report(
            "results/plots/{dataset}_qps.png",
            caption="../report/plot_qps.rst",
            category="Plots",
            subcategory="{dataset}",
        ),
    log:
        "results/logs/plots/{dataset}_qps.log",
    conda:
        "../envs/cpu.yaml"
    threads: 1
    params:
        code=library("plots.py"),
    script:
        "../workflow/scripts/plots.py"
