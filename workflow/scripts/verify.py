"""`snakemake verify`: check every intermediate that exists against what was recorded when it was written."""

import logging
import sys

from lshbench import workflow
from lshbench.targets import stale_outputs, verify_spec
from lshbench.verify import verify_outputs, verify_results


def main(sm):
    problems, checked = verify_results(sm.config)
    more, counted = verify_outputs(verify_spec(sm.config, stale_outputs(sm.config)))
    problems, checked = problems + more, checked + counted
    for problem in problems:
        logging.error(problem)
    summary = f"verify: {checked} files checked, {len(problems)} problem(s)"
    print("\n".join([*problems, summary]), file=sys.__stdout__)
    if problems:
        raise workflow.VerifyFailed(summary + "; re-create each file named above with `--forcerun <file>`")


workflow.run(snakemake, main)  # noqa: F821
