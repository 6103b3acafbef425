rule embed:
    input:
        manifest=layout.download_manifest("{dataset}"),
        weights=weights_input,
    output:
        layout.embeddings("{dataset}", "{space}", "{split}"),
    log:
        "results/logs/embed/{dataset}/{space}/{split}.log",
    benchmark:
        "results/benchmarks/embed/{dataset}/{space}/{split}.tsv"
    wildcard_constraints:
        dataset=never_if_empty(IMAGES),
        space=never_if_empty(MODELS),
    conda:
        "../envs/gpu.yaml"
    threads: config["embedding"]["threads"]
    resources:
        **EMBED_RESOURCES,
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
        unpack(pca_input),
    output:
        gallery=layout.embeddings("{dataset}", "{space}", "gallery"),
        query=layout.embeddings("{dataset}", "{space}", "query"),
        info=layout.pca_record("{dataset}", "{space}"),
    log:
        "results/logs/pca/{dataset}/{space}.log",
    benchmark:
        "results/benchmarks/pca/{dataset}/{space}.tsv"
    wildcard_constraints:
        space=never_if_empty(PCA_SPACES),
    conda:
        "../envs/cpu.yaml"
    threads: 2
    resources:
        **CPU_RESOURCES,
    script:
        "../workflow/scripts/pca.py"


rule import_embeddings:
    input:
        unpack(imported_files),
    output:
        gallery=layout.embeddings("{dataset}", "{space}", "gallery"),
        query=layout.embeddings("{dataset}", "{space}", "query"),
    log:
        "results/logs/import_embeddings/{dataset}/{space}.log",
    benchmark:
        "results/benchmarks/import_embeddings/{dataset}/{space}.tsv"
    wildcard_constraints:
        dataset=never_if_empty(IMPORTED_SETS),
        space=never_if_empty(IMPORTED_SPACES),
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        **CPU_RESOURCES,
    params:
        dataset=dataset_settings,
        code=source_code("import_embeddings.py"),
    script:
        "../workflow/scripts/import_embeddings.py"


# Synthetic features (source: synthetic) in each model's space: no download, no model.
rule synthesize:
    output:
        layout.embeddings("{dataset}", "{space}", "{split}"),
    log:
        "results/logs/synthesize/{dataset}/{space}/{split}.log",
    benchmark:
        "results/benchmarks/synthesize/{dataset}/{space}/{split}.tsv"
    wildcard_constraints:
        dataset=never_if_empty(SYNTHETIC_SETS),
        space=never_if_empty(MODELS),
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        **CPU_RESOURCES,
    params:
        dataset=dataset_settings,
        dim=feature_dim,
        scale=config["scale"],
        code=source_code("synthesize.py"),
    script:
        "../workflow/scripts/synthesize.py"
