from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/embed.smk"
include: "rules/methods.smk"
include: "rules/report.smk"


rule all:
    default_target: True
    input:
        embedding_targets(),
        report_targets(),
        "results/checksums.sha256",
