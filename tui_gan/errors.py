"""User-facing errors: the CLI prints their message on one line and exits with code 2."""


class TuiGanError(Exception):
    """A problem the user can fix (bad option, missing data, foreign checkpoint...)."""


class ConfigError(TuiGanError):
    pass


class DataError(TuiGanError):
    pass


class DataUnavailable(DataError):
    """The dataset is not on disk and could not be downloaded (offline machine)."""


class CheckpointError(TuiGanError):
    pass


class RunDirError(TuiGanError):
    pass


class WriteFailed(TuiGanError):
    """A run file could not be written (a full disk, say): training pauses until it can be."""

    def __init__(self, path, why: str) -> None:
        super().__init__(f"could not write {path}: {why}")
        self.path = path
        self.why = why
        self.again = None  # what to redo once it can be written (a checkpoint), if more than the write
