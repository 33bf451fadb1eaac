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
