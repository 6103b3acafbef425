localrules:
    collect_metrics,
    checksums,
    verify,


rule evaluate:
    input:
        index="results/{dataset}/index/{space}/{method}/{params}/index.json",
        gallery="results/{dataset}/embeddings/{space}/gallery.parquet",
        query="results/{dataset}/embeddings/{space}/query.parquet",
        exact="results/{dataset}/exact/{space}/top50.parquet",
    output:
        metrics="results/{dataset}/metrics/{space}/{method}/{params}/metrics.csv",
        per_query="results/{dataset}/metrics/{space}/{method}/{params}/per_query.parquet",
        timings="results/{dataset}/metrics/{space}/{method}/{params}/timings.csv",
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
        latency_queries=config["evaluation"]["latency_queries"],
    script:
        "../workflow/scripts/evaluate.py"


rule collect_metrics:
    input:
        metrics=metrics_targets(),
        timings=timings_targets(),
    output:
        metrics="results/metrics.csv",
        timings="results/timings.csv",
    log:
        "results/logs/collect_metrics.log",
    benchmark:
        "results/benchmarks/collect_metrics.tsv"
    conda:
        "../envs/cpu.yaml"
    threads: 1
    script:
        "../workflow/scripts/collect_metrics.py"


rule checksums:
    input:
        checksum_targets(),
    output:
        "results/checksums.sha256",
    log:
        "results/logs/checksums.log",
    conda:
        "../envs/cpu.yaml"
    threads: 1
    script:
        "../workflow/scripts/checksums.py"


# No output: runs whenever asked for (`snakemake verify`), and reads only what exists.
rule verify:
    log:
        "results/logs/verify.log",
    conda:
        "../envs/cpu.yaml"
    threads: 1
    params:
        embeddings=embedding_targets(),
        plan=PLAN,
    script:
        "../workflow/scripts/verify.py"
