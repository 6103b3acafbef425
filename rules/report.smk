# What comes after the method jobs: the collected metrics, tables, plots, checksums and `verify`. Each takes a second
# or so: they run where Snakemake runs, not as cluster jobs.
localrules:
    metrics,
    collect_metrics,
    table,
    page,
    plot,
    interactive,
    checksums,
    verify,


# Every table and plot of the report's registry (lshbench/report.py): its inputs, caption, category and the code it
# runs come from its entry.
rule table:
    input:
        unpack(entry_inputs(TABLES, "table")),
    output:
        csv=layout.table_file("{table}", "csv"),
        md=layout.table_file("{table}", "md"),
    log:
        "results/logs/tables/{table}.log",
    wildcard_constraints:
        table=never_if_empty(TABLES),
    conda:
        "../envs/cpu.yaml"
    threads: 1
    params:
        reads=entry_signature(TABLES, "table"),
        code=entry_code(TABLES, "table", "tables.py"),
    script:
        "../workflow/scripts/tables.py"


# A table as the HTML report shows it (its viewer shows HTML, not CSV): sortable, with a glossary and the CSV.
rule page:
    input:
        layout.table_file("{table}", "csv"),
    output:
        report(
            layout.table_file("{table}", "html"),
            caption="../report/table.rst",
            category=entry_setting(TABLES, "table", "category"),
        ),
    log:
        "results/logs/tables/{table}.page.log",
    wildcard_constraints:
        table=never_if_empty(TABLES),
    conda:
        "../envs/cpu.yaml"
    threads: 1
    params:
        caption=entry_setting(TABLES, "table", "report_caption"),
        code=rule_code("page.py"),
    script:
        "../workflow/scripts/page.py"


rule plot:
    input:
        unpack(entry_inputs(PLOTS, "plot")),
    output:
        png=report(
            layout.plot_file("{plot}"),
            caption="../report/plot.rst",
            category=entry_setting(PLOTS, "plot", "category"),
            subcategory=entry_setting(PLOTS, "plot", "subcategory"),
        ),
        csv=layout.plot_file("{plot}", "csv"),
    log:
        "results/logs/plots/{plot}.log",
    wildcard_constraints:
        plot=never_if_empty(PLOTS),
    conda:
        "../envs/cpu.yaml"
    threads: 1
    params:
        caption=entry_setting(PLOTS, "plot", "report_caption"),
        reads=entry_signature(PLOTS, "plot"),
        code=entry_code(PLOTS, "plot", "plots.py"),
    script:
        "../workflow/scripts/plots.py"


# The interactive page (Plotly, its JavaScript in the page): every configuration, per dataset, on hover.
rule interactive:
    input:
        unpack(entry_inputs(INTERACTIVE, "plot")),
    output:
        html=report(
            layout.plot_file("{plot}", "html"),
            caption="../report/plot.rst",
            category=entry_setting(INTERACTIVE, "plot", "category"),
        ),
        csv=layout.plot_file("{plot}", "csv"),
    log:
        "results/logs/plots/{plot}.log",
    wildcard_constraints:
        plot=never_if_empty(INTERACTIVE),
    conda:
        "../envs/cpu.yaml"
    threads: 1
    params:
        caption=entry_setting(INTERACTIVE, "plot", "report_caption"),
        reads=entry_signature(INTERACTIVE, "plot"),
        code=entry_code(INTERACTIVE, "plot", "interactive.py"),
    script:
        "../workflow/scripts/interactive.py"


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
