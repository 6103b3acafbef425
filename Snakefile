import os

from snakemake.utils import min_version

min_version("9.0")


# One experiment per config, wherever it runs: the project's config.yaml beside this Snakefile, or a config.yaml in the
# working directory (Snakemake's convention for a deployed workflow); --configfile presets go over it.
configfile: "config.yaml" if os.path.isfile("config.yaml") else f"{workflow.basedir}/config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/embed.smk"
include: "rules/methods.smk"
include: "rules/report.smk"


rule all:
    default_target: True
    input:
        targets.embedding_targets(config),
        targets.report_targets(config),
        layout.CHECKSUMS,
