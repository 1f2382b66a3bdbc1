"""User-facing errors: the CLI prints their message as one line and exits non-zero."""


class SnnjaxError(Exception):
    """Base class of errors caused by the user's input (config, data, checkpoint), not by a bug."""


class ConfigError(SnnjaxError):
    """An invalid configuration value or key."""


class CheckpointError(SnnjaxError):
    """A missing, corrupt or incompatible checkpoint."""


class TrainingError(SnnjaxError):
    """Training cannot go on (e.g. the loss became NaN)."""


class DataError(SnnjaxError):
    """A dataset cannot be read: missing, empty, corrupt or inconsistent files, or a bad data setting."""
