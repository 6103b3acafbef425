"""Write a table's HTML page (lshbench.pages): what the HTML report shows of it."""

import pandas as pd

from lshbench import workflow
from lshbench.io import atomic_path
from lshbench.pages import table_page


def main(sm):
    csv = open(sm.input[0], "rb").read()
    table = pd.read_csv(sm.input[0], keep_default_na=False, na_values=[""])
    with atomic_path(sm.output[0]) as tmp:
        tmp.write_text(table_page(table, sm.wildcards.table, sm.params.caption, csv))


workflow.run(snakemake, main)  # noqa: F821
