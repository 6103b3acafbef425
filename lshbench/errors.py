"""Errors whose message tells the user what to do, defined without torch so that the scripts of the cheap jobs
(tables, plots, checksums) start without importing it (lshbench.workflow lists them)."""


class WeightsUnavailable(RuntimeError):
    """Pretrained weights cannot be obtained; the message names the file to place."""


class DeviceUnavailable(RuntimeError):
    """The configured device is not there."""
