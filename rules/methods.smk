# The method jobs and what they need beyond the embeddings: the exact neighbours (the ground truth of recall), a
# method's training step (neural LSH's networks), and one job per dataset, space and method that builds and
# evaluates every configuration of its grid, storing what each query retrieved; these run on the device. Then the
# metrics job of each, which derives the metrics from the rankings.


rule exact_neighbours:
    input:
        gallery=layout.embeddings("{dataset}", "{space}", "gallery"),
        query=layout.embeddings("{dataset}", "{space}", "query"),
    output:
        layout.exact_neighbours("{dataset}", "{space}"),
    log:
        "results/logs/exact_neighbours/{dataset}/{space}.log",
    benchmark:
        "results/benchmarks/exact_neighbours/{dataset}/{space}.tsv"
    conda:
        "../envs/cpu.yaml"
    threads: config["evaluation"]["threads"]
    resources:
        **DEVICE_RESOURCES,
    params:
        code=rule_code("exact_neighbours.py"),
    script:
        "../workflow/scripts/exact_neighbours.py"


# A method's training step (neural LSH's networks), once per training folder, shared by the builds that use it.
rule train:
    input:
        gallery=layout.embeddings("{dataset}", "{space}", "gallery"),
    output:
        model=layout.training_file(
            "{dataset}", "{space}", "{method}", "{params}", "model.npz"
        ),
        history=layout.training_file(
            "{dataset}", "{space}", "{method}", "{params}", "history.csv"
        ),
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
        **DEVICE_RESOURCES,
    params:
        seed=config["seed"],
        code=method_code("train.py"),
    script:
        "../workflow/scripts/train.py"


# One job per dataset, space and method: the gallery is read once for all configurations of the method's grid, each
# configuration still gets its own files (lshbench/batch.py); a configuration whose files are current is kept.
rule run_method:
    input:
        unpack(trained_inputs),
        gallery=layout.embeddings("{dataset}", "{space}", "gallery"),
        query=layout.embeddings("{dataset}", "{space}", "query"),
        exact=layout.exact_neighbours("{dataset}", "{space}"),
    output:
        layout.run_manifest("{dataset}", "{space}", "{method}"),
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
        **DEVICE_RESOURCES,
    params:
        configurations=run_configurations,
        settings=method_settings,
        code=method_code("run_method.py"),
        seed=config["seed"],
        latency_queries=config["evaluation"]["latency_queries"],
        keep_top=config["evaluation"]["keep_top"],
    script:
        "../workflow/scripts/run_method.py"


# The metrics of a method job's configurations, derived from their rankings (lshbench/metrics.py): a second or so, no
# index build, no re-ranking; an edit of the metrics re-runs only these jobs.
rule metrics:
    input:
        run=layout.run_manifest("{dataset}", "{space}", "{method}"),
        gallery=layout.embeddings("{dataset}", "{space}", "gallery"),
        exact=layout.exact_neighbours("{dataset}", "{space}"),
    output:
        layout.metrics_manifest("{dataset}", "{space}", "{method}"),
    log:
        "results/logs/metrics/{dataset}/{space}/{method}.log",
    wildcard_constraints:
        method=never_if_empty(PLANNED),
    conda:
        "../envs/cpu.yaml"
    threads: 1
    params:
        configurations=run_configurations,
        validation_fraction=config["evaluation"]["validation_fraction"],
        seed=config["seed"],
        code=method_code("metrics.py"),
    script:
        "../workflow/scripts/metrics.py"


# The learning-to-hash literature's protocol (lshbench/hamming_protocol.py): per dataset with hamming.bits, each
# method that makes codes on each of its spaces, every code length and replicate in one job; the whole gallery ranked
# by Hamming distance per query.
rule hamming:
    input:
        unpack(hamming_trained_inputs),
        gallery=layout.embeddings("{dataset}", "{space}", "gallery"),
        query=layout.embeddings("{dataset}", "{space}", "query"),
    output:
        per_query=layout.hamming_file(
            "{dataset}", "{space}", "{method}", "per_query.parquet"
        ),
        metrics=layout.hamming_file("{dataset}", "{space}", "{method}", "metrics.csv"),
        curves=layout.hamming_file("{dataset}", "{space}", "{method}", "pr_curve.csv"),
        timings=layout.hamming_file("{dataset}", "{space}", "{method}", "timings.csv"),
    log:
        "results/logs/hamming/{dataset}/{space}/{method}.log",
    benchmark:
        "results/benchmarks/hamming/{dataset}/{space}/{method}.tsv"
    wildcard_constraints:
        method=never_if_empty(HAMMING_METHODS),
    conda:
        method_conda
    threads: config["evaluation"]["threads"]
    resources:
        **DEVICE_RESOURCES,
    params:
        builds=hamming_job,
        settings=method_settings,
        R=config["hamming"]["R"],
        radius=config["hamming"]["radius"],
        code=method_code("hamming.py"),
    script:
        "../workflow/scripts/hamming.py"
