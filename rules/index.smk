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
    params:
        code=code_hash("lshbench.evaluate", "lshbench.io"),
    script:
        "../workflow/scripts/exact_neighbours.py"


# A method's training step (neural LSH's networks), once per training folder, shared by the builds that use it.
rule train:
    input:
        gallery="results/{dataset}/embeddings/{space}/gallery.parquet",
    output:
        model="results/{dataset}/train/{space}/{method}/{params}/model.npz",
        history="results/{dataset}/train/{space}/{method}/{params}/history.csv",
    log:
        "results/logs/train/{dataset}/{space}/{method}/{params}.log",
    benchmark:
        "results/benchmarks/train/{dataset}/{space}/{method}/{params}.tsv"
    wildcard_constraints:
        method=never_if_empty(TRAINED),
    conda:
        "../envs/gpu.yaml"
    threads: config["evaluation"]["threads"]
    resources:
        gpu=GPU,
        mem_mb=config["evaluation"]["mem_mb"],
        runtime=config["evaluation"]["runtime"],
    params:
        seed=config["seed"],
        code=training_code,
    script:
        "../workflow/scripts/train.py"
