"""Glue for the Snakemake ``script:`` entry points: logging to the rule's log, threads, readable failures."""

from __future__ import annotations

import errno
import logging
import sys
from typing import Callable

from .errors import BadImage, ConfigError, DatasetUnavailable, DeviceUnavailable, ParameterError, WeightsUnavailable
from .io import UnreadableFile


class VerifyFailed(RuntimeError):
    """`snakemake verify` found files that are not whole."""


# Errors whose message tells the user what to do; they are shown without a traceback. They cannot change by
# themselves, so no rule retries them.
USER_ERRORS = (DatasetUnavailable, WeightsUnavailable, ConfigError, ParameterError, BadImage, DeviceUnavailable,
               UnreadableFile, VerifyFailed)


def run(snakemake, main: Callable) -> None:
    """Send stderr (tqdm, warnings, logging) to the rule's log, use the rule's threads, call ``main(snakemake)``.

    A user error is printed to the console as well as to the log, so it is seen without opening the log."""
    console = sys.stderr
    log_file = open(snakemake.log[0], "w", buffering=1)
    sys.stderr = log_file
    logging.basicConfig(
        stream=log_file, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
    torch = sys.modules.get("torch")  # the scripts that compute import it; tables, plots and checksums do not (a
    if torch is not None and type(torch).__name__ != "_LazyModule":  # lazy module is loaded only when used)
        from . import threads

        threads.use(snakemake.threads)  # torch's, numba's and the BLAS/OpenMP libraries' pools alike
    try:
        main(snakemake)
    except USER_ERRORS as error:
        fail(snakemake, f"{type(error).__name__}: {error}", log_file, console)
    except OSError as error:  # pyarrow's, numpy's, torch's write errors; others keep their traceback
        if error.errno != errno.ENOSPC and "No space left" not in str(error):
            raise
        fail(snakemake, no_space(snakemake), log_file, console)


def no_space(snakemake) -> str:
    """One line for a full disk: where the job was writing and what is free there (not the writer's traceback)."""
    import os
    import shutil

    written = [str(p) for p in snakemake.output] or [str(snakemake.log[0])]
    folder = os.path.dirname(os.path.abspath(written[0]))
    try:
        free = f"{shutil.disk_usage(folder).free / 2**20:.0f} MiB free there"
    except OSError:
        free = "its free space unknown"
    return (f"no space left on device: writing {', '.join(written)} in {folder} ({free}); free space on that disk, or "
            f"run in a folder on a larger one, then run the same command again (finished files are kept)")


def fail(snakemake, message: str, log_file, console) -> None:
    """Print a user error to the console and the log (the console first: a full disk may refuse the log), exit 1."""
    print(f"\nERROR in rule {snakemake.rule} (log: {snakemake.log[0]}):\n{message}\n", file=console)
    try:
        print(message, file=log_file)
    except OSError:
        pass
    sys.exit(1)
