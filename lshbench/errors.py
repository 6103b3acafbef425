"""Errors whose message tells the user what to do, defined at the bottom of the package (no torch, no lshbench import)
so that the scripts of the cheap jobs start without importing torch and a job's code (lshbench.code) does not take in
the modules that raise them: lshbench.workflow lists them. Each is also importable from the module that raises it."""


class ConfigError(ValueError):
    """A config value is wrong; the message names the field."""


class DatasetUnavailable(RuntimeError):
    """The data of a configured dataset cannot be obtained; the message says what to place where."""


class BadImage(RuntimeError):
    """An image cannot be decoded (truncated, not an image, an unsupported mode); the message names it."""


class ParameterError(ValueError):
    """A method parameter does not fit the data (K larger than the gallery, J larger than H, ...)."""


class WeightsUnavailable(RuntimeError):
    """Pretrained weights cannot be obtained; the message names the file to place."""


class DeviceUnavailable(RuntimeError):
    """The configured device is not there."""
