rule exact_neighbours:
    input:
        gallery="results/{dataset}/embeddings/{space}/gallery.parquet",
        query="results/{dataset}/embeddings/{space}/query.parquet",
    output:
        "results/{dataset}/exact/{space}/top50.parquet",
    log:
        "results/logs/exact_neighbours/{dataset}/{space}.log",
    benchmark:
        "results/benchmarks/exact_neighbours/{dataset}/{space}.tsv"
    conda:
        "../envs/cpu.yaml"
    threads: config["evaluation"]["threads"]
    resources:
        gpu=GPU,
        mem_mb=config["evaluation"]["mem_mb"],
        runtime=config["evaluation"]["runtime"],
    script:
        "../workflow/scripts/exact_neighbours.py"


rule build_index:
    input:
        gallery="results/{dataset}/embeddings/{space}/gallery.parquet",
    output:
        "results/{dataset}/index/{space}/{method}/{params}/index.json",
    log:
        "results/logs/build_index/{dataset}/{space}/{method}/{params}.log",
    benchmark:
        "results/benchmarks/build_index/{dataset}/{space}/{method}/{params}.tsv"
    wildcard_constraints:
        method="exact|kmeans|hyperplane",
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
        seed=config["seed"],
        settings=method_settings,
    script:
        "../workflow/scripts/build_index.py"


rule train_neural:
    input:
        gallery="results/{dataset}/embeddings/{space}/gallery.parquet",
    output:
        networks="results/{dataset}/train/{space}/neural/{params}/networks.npz",
        losses="results/{dataset}/train/{space}/neural/{params}/losses.csv",
    log:
        "results/logs/train_neural/{dataset}/{space}/{params}.log",
    benchmark:
        "results/benchmarks/train_neural/{dataset}/{space}/{params}.tsv"
    conda:
        "../envs/gpu.yaml"
    threads: config["evaluation"]["threads"]
    resources:
        gpu=GPU,
        mem_mb=config["evaluation"]["mem_mb"],
        runtime=config["evaluation"]["runtime"],
    params:
        seed=config["seed"],
    script:
        "../workflow/scripts/train_neural.py"


rule build_neural:
    input:
        gallery="results/{dataset}/embeddings/{space}/gallery.parquet",
        networks=neural_training_input,
    output:
        "results/{dataset}/index/{space}/neural/{params}/index.json",
    log:
        "results/logs/build_index/{dataset}/{space}/neural/{params}.log",
    benchmark:
        "results/benchmarks/build_index/{dataset}/{space}/neural/{params}.tsv"
    group:
        "configuration"
    conda:
        "../envs/gpu.yaml"
    threads: config["evaluation"]["threads"]
    resources:
        gpu=GPU,
        mem_mb=config["evaluation"]["mem_mb"],
        runtime=config["evaluation"]["runtime"],
    params:
        seed=config["seed"],
    script:
        "../workflow/scripts/build_index.py"
