# Downloads run where Snakemake runs (cluster login nodes usually have internet; compute nodes often do not).
# No `retries:`: the jobs retry transient network errors themselves; a data or config error cannot change by retrying.
localrules:
    download,
    fetch_weights,


rule download:
    output:
        layout.download_manifest("{dataset}"),
    log:
        "results/logs/download/{dataset}.log",
    benchmark:
        "results/benchmarks/download/{dataset}.tsv"
    conda:
        "../envs/cpu.yaml"
    threads: 1
    params:
        dataset=dataset_settings,
        data=dataset_fingerprint,
    script:
        "../workflow/scripts/download.py"


rule fetch_weights:
    output:
        layout.weights_file("{arch}", "{weights_name}"),
    log:
        "results/logs/fetch_weights/{arch}.{weights_name}.log",
    benchmark:
        "results/benchmarks/fetch_weights/{arch}.{weights_name}.tsv"
    conda:
        "../envs/cpu.yaml"
    threads: 1
    script:
        "../workflow/scripts/fetch_weights.py"
