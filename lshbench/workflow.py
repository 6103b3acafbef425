"""Glue for the Snakemake ``script:`` entry points: logging to the rule's log, threads, readable failures."""

from __future__ import annotations

import logging
import sys
from typing import Callable

from .config import ConfigError
from .sources import BadImage, DatasetUnavailable
from .errors import DeviceUnavailable, WeightsUnavailable
from .io import UnreadableFile
from .methods.base import ParameterError


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
        torch.set_num_threads(max(1, int(snakemake.threads)))
    try:
        main(snakemake)
    except USER_ERRORS as error:
        message = f"{type(error).__name__}: {error}"
        print(message, file=log_file)
        print(f"\nERROR in rule {snakemake.rule} (log: {snakemake.log[0]}):\n{message}\n", file=console)
        sys.exit(1)
