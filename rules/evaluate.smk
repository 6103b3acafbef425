localrules:
    collect_metrics,


rule evaluate:
    input:
        index="results/{dataset}/index/{space}/{method}/{params}/index.json",
        gallery="results/{dataset}/embeddings/{space}/gallery.parquet",
        query="results/{dataset}/embeddings/{space}/query.parquet",
        exact="results/{dataset}/exact/{space}/top50.parquet",
    output:
        metrics="results/{dataset}/metrics/{space}/{method}/{params}/metrics.csv",
        per_query="results/{dataset}/metrics/{space}/{method}/{params}/per_query.parquet",
    log:
        "results/logs/evaluate/{dataset}/{space}/{method}/{params}.log",
    benchmark:
        "results/benchmarks/evaluate/{dataset}/{space}/{method}/{params}.tsv"
    group:
        "configuration"
    conda:
        "../envs/cpu.yaml"
    threads: config["evaluation"]["threads"]
    resources:
        gpu=GPU,
        mem_mb=config["evaluation"]["mem_mb"],
        runtime=config["evaluation"]["runtime"],
    params:
        device=config["device"],
        memory_mb=config["evaluation"]["memory_mb"],
        latency_queries=config["evaluation"]["latency_queries"],
    script:
        "../workflow/scripts/evaluate.py"


rule collect_metrics:
    input:
        metrics_targets(),
    output:
        "results/metrics.csv",
    log:
        "results/logs/collect_metrics.log",
    benchmark:
        "results/benchmarks/collect_metrics.tsv"
    conda:
        "../envs/cpu.yaml"
    threads: 1
    script:
        "../workflow/scripts/collect_metrics.py"
