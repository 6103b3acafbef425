rule embed:
    input:
        manifest="resources/{dataset}/manifest.json",
        weights=weights_input,
    output:
        "results/{dataset}/embeddings/{model}/{split}.parquet",
    log:
        "results/logs/embed/{dataset}/{model}/{split}.log",
    benchmark:
        "results/benchmarks/embed/{dataset}/{model}/{split}.tsv"
    wildcard_constraints:
        dataset=never_if_empty(IMAGES),
    conda:
        "../envs/gpu.yaml"
    threads: config["embedding"]["threads"]
    resources:
        gpu=GPU,
        mem_mb=config["embedding"]["mem_mb"],
        runtime=config["embedding"]["runtime"],
    params:
        dataset=dataset_settings,
        arch=model_setting("arch"),
        weights=model_setting("weights"),
        image_size=model_setting("image_size"),
        seed=config["seed"],
        precision=config["embedding"]["precision"],
        on_bad_image=config["embedding"]["on_bad_image"],
    script:
        "../workflow/scripts/embed.py"


rule pca:
    input:
        gallery="results/{dataset}/embeddings/{model}/gallery.parquet",
        query="results/{dataset}/embeddings/{model}/query.parquet",
    output:
        gallery="results/{dataset}/embeddings/{model}-pca{pca}/gallery.parquet",
        query="results/{dataset}/embeddings/{model}-pca{pca}/query.parquet",
        info="results/{dataset}/embeddings/{model}-pca{pca}/pca.json",
    log:
        "results/logs/pca/{dataset}/{model}-pca{pca}.log",
    benchmark:
        "results/benchmarks/pca/{dataset}/{model}-pca{pca}.tsv"
    conda:
        "../envs/cpu.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=60,
    script:
        "../workflow/scripts/pca.py"


rule import_embeddings:
    input:
        unpack(imported_files),
    output:
        gallery="results/{dataset}/embeddings/{space}/gallery.parquet",
        query="results/{dataset}/embeddings/{space}/query.parquet",
    log:
        "results/logs/import_embeddings/{dataset}/{space}.log",
    benchmark:
        "results/benchmarks/import_embeddings/{dataset}/{space}.tsv"
    wildcard_constraints:
        dataset=never_if_empty(IMPORTED),
        space=never_if_empty(IMPORTED_SPACES),
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        dataset=dataset_settings,
    script:
        "../workflow/scripts/import_embeddings.py"


# Synthetic features (source: synthetic) in each model's space: no download, no model.
rule synthesize:
    output:
        "results/{dataset}/embeddings/{model}/{split}.parquet",
    log:
        "results/logs/synthesize/{dataset}/{model}/{split}.log",
    benchmark:
        "results/benchmarks/synthesize/{dataset}/{model}/{split}.tsv"
    wildcard_constraints:
        dataset=never_if_empty(SYNTHETIC),
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        dataset=dataset_settings,
        dim=feature_dim,
        scale=config["scale"],
    script:
        "../workflow/scripts/synthesize.py"
