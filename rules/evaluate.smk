localrules:
    collect_metrics,
    checksums,
    verify,


# One job per dataset, space and method: the gallery is read once for all configurations of the method's grid, each
# configuration still gets its own files (lshbench/batch.py); a configuration whose files are current is kept.
rule run_method:
    input:
        unpack(trained_inputs),
        gallery="results/{dataset}/embeddings/{space}/gallery.parquet",
        query="results/{dataset}/embeddings/{space}/query.parquet",
        exact="results/{dataset}/exact/{space}/top50.parquet",
    output:
        "results/{dataset}/runs/{space}/{method}.json",
    log:
        "results/logs/run_method/{dataset}/{space}/{method}.log",
    benchmark:
        "results/benchmarks/run_method/{dataset}/{space}/{method}.tsv"
    wildcard_constraints:
        method=never_if_empty(PLANNED),
    conda:
        method_conda
    threads: config["evaluation"]["threads"]
    resources:
        gpu=GPU,
        mem_mb=config["evaluation"]["mem_mb"],
        runtime=config["evaluation"]["runtime"],
    params:
        configurations=run_configurations,
        settings=method_settings,
        code=run_code,
        seed=config["seed"],
        latency_queries=config["evaluation"]["latency_queries"],
    script:
        "../workflow/scripts/run_method.py"


rule collect_metrics:
    input:
        run_targets(),
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
    params:
        metrics=metrics_targets(),
        timings=timings_targets(),
    script:
        "../workflow/scripts/collect_metrics.py"


rule checksums:
    input:
        checksum_inputs(),
    output:
        "results/checksums.sha256",
    log:
        "results/logs/checksums.log",
    conda:
        "../envs/cpu.yaml"
    threads: 1
    params:
        files=checksum_targets(),
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
        outputs=verify_spec(),
    script:
        "../workflow/scripts/verify.py"
