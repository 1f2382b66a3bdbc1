"""User-facing errors: the CLI prints their message as one line and exits non-zero."""


class SnnjaxError(Exception):
    """Base class of errors caused by the user's input (config, data, checkpoint), not by a bug."""


class ConfigError(SnnjaxError):
    """An invalid configuration value or key."""


class CheckpointError(SnnjaxError):
    """A missing, corrupt or incompatible checkpoint."""


class TrainingError(SnnjaxError):
    """Training cannot go on (e.g. the loss became NaN)."""


class WorkdirError(SnnjaxError):
    """The workdir cannot be used (a file, not writable, or held by another run)."""


class Interrupted(SnnjaxError):
    """The run was stopped by a signal after saving; ``exit_code`` is 128 + the signal number."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


class DataError(SnnjaxError):
    """A dataset cannot be read: missing, empty, corrupt or inconsistent files, or a bad data setting."""


class ResourceError(SnnjaxError):
    """The machine lacks what the run needs (e.g. memory for the train step at this batch size)."""
