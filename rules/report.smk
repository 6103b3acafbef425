# What comes after the method jobs: the collected metrics, tables, plots, checksums and `verify`. Each takes a second
# or so: they run where Snakemake runs, not as cluster jobs.
localrules:
    metrics,
    collect_metrics,
    table,
    plot,
    checksums,
    verify,


# Every table and plot of the report's registry (lshbench/report.py): its inputs, caption, category and the code it
# runs come from its entry.
rule table:
    input:
        unpack(entry_inputs(TABLES, "table")),
    output:
        csv=report(
            layout.table_file("{table}", "csv"),
            caption="../report/table.rst",
            category=entry_setting(TABLES, "table", "category"),
        ),
        md=layout.table_file("{table}", "md"),
    log:
        "results/logs/tables/{table}.log",
    wildcard_constraints:
        table=never_if_empty(TABLES),
    conda:
        "../envs/cpu.yaml"
    threads: 1
    params:
        caption=entry_setting(TABLES, "table", "caption"),
        reads=entry_signature(TABLES, "table"),
        code=entry_code(TABLES, "table", "tables.py"),
    script:
        "../workflow/scripts/tables.py"


rule plot:
    input:
        unpack(entry_inputs(PLOTS, "plot")),
    output:
        report(
            layout.plot_file("{plot}"),
            caption="../report/plot.rst",
            category=entry_setting(PLOTS, "plot", "category"),
            subcategory=entry_setting(PLOTS, "plot", "subcategory"),
        ),
    log:
        "results/logs/plots/{plot}.log",
    wildcard_constraints:
        plot=never_if_empty(PLOTS),
    conda:
        "../envs/cpu.yaml"
    threads: 1
    params:
        caption=entry_setting(PLOTS, "plot", "caption"),
        reads=entry_signature(PLOTS, "plot"),
        code=entry_code(PLOTS, "plot", "plots.py"),
    script:
        "../workflow/scripts/plots.py"


rule collect_metrics:
    input:
        targets.metrics_manifests(config),
    output:
        metrics=layout.collected("metrics.csv"),
        timings=layout.collected("timings.csv"),
    log:
        "results/logs/collect_metrics.log",
    benchmark:
        "results/benchmarks/collect_metrics.tsv"
    conda:
        "../envs/cpu.yaml"
    threads: 1
    params:
        metrics=targets.configuration_files(config, "metrics.csv"),
        timings=targets.configuration_files(config, "timings.csv"),
        code=rule_code("collect_metrics.py"),
    script:
        "../workflow/scripts/collect_metrics.py"


rule checksums:
    input:
        targets.checksum_inputs(config),
    output:
        layout.CHECKSUMS,
    log:
        "results/logs/checksums.log",
    conda:
        "../envs/cpu.yaml"
    threads: 1
    params:
        files=targets.checksum_targets(config),
        code=rule_code("checksums.py"),
    script:
        "../workflow/scripts/checksums.py"


# No output: runs whenever asked for (`snakemake verify`), and reads only what exists (lshbench.targets.verify_spec).
rule verify:
    log:
        "results/logs/verify.log",
    conda:
        "../envs/cpu.yaml"
    threads: 1
    script:
        "../workflow/scripts/verify.py"
