# What comes after the method jobs: the collected metrics, tables, plots, checksums and `verify`. Each takes a second
# or so: they run where Snakemake runs, not as cluster jobs.
localrules:
    metrics,
    collect_metrics,
    table,
    plot,
    checksums,
    verify,


# Every table (the report's figures, each method's table, vs_report, summary): TABLES in rules/common.smk, derived
# from the method registry.
rule table:
    input:
        unpack(entry_inputs(TABLES, "table")),
    output:
        csv=report(
            "results/tables/{table}.csv",
            caption="../report/table.rst",
            category=table_setting("category"),
        ),
        md="results/tables/{table}.md",
    log:
        "results/logs/tables/{table}.log",
    wildcard_constraints:
        table=never_if_empty(TABLES),
    conda:
        "../envs/cpu.yaml"
    threads: 1
    params:
        kind=table_setting("kind"),
        method=table_setting("method"),
        caption=table_setting("caption"),
        code=entry_code(TABLES, "table", "tables.py"),
        datasets=list(DATASETS),
        metrics=entry_files(TABLES, "table", "metrics.csv"),
        per_query=entry_files(TABLES, "table", "per_query.parquet"),
        trainings=entry_trainings(TABLES, "table"),
        protocols=hamming_protocols(),
    script:
        "../workflow/scripts/tables.py"


# Every plot (each method against its parameter, trade-off, queries per second, training losses): PLOTS.
rule plot:
    input:
        unpack(entry_inputs(PLOTS, "plot")),
    output:
        report(
            "results/plots/{plot}.png",
            caption="../report/plot.rst",
            category=plot_setting("category"),
            subcategory=plot_subcategory,
        ),
    log:
        "results/logs/plots/{plot}.log",
    wildcard_constraints:
        plot=never_if_empty(PLOTS),
    conda:
        "../envs/cpu.yaml"
    threads: 1
    params:
        kind=plot_setting("kind"),
        dataset=plot_setting("dataset"),
        method=plot_setting("method"),
        caption=plot_setting("caption"),
        code=entry_code(PLOTS, "plot", "plots.py"),
        metrics=entry_files(PLOTS, "plot", "metrics.csv"),
        timings=entry_files(PLOTS, "plot", "timings.csv"),
        trainings=entry_trainings(PLOTS, "plot"),
        dataset_settings=plot_dataset_settings,
    script:
        "../workflow/scripts/plots.py"


rule collect_metrics:
    input:
        derived_targets(),
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
        code=rule_code("collect_metrics.py"),
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
        code=rule_code("checksums.py"),
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
