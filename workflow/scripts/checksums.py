"""results/checksums.sha256: the SHA-256 of every table, metrics file and embedding, in `sha256sum` format.

Compare two runs, machines or dates with `sha256sum -c results/checksums.sha256` in the other results' folder."""

from lshbench import workflow
from lshbench.io import atomic_path, sha256


def main(sm):
    lines = [f"{sha256(path)}  {path}\n" for path in sorted(sm.params.files)]
    with atomic_path(sm.output[0]) as tmp:
        tmp.write_text("".join(lines))


workflow.run(snakemake, main)  # noqa: F821
