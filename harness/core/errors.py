"""The one exception type that reaches the user as a single line instead of a traceback, and the one line an
operating-system error becomes."""

import os


class ConfigError(Exception):
    """Bad input: an unknown name, a value out of range, a missing file or dataset.

    The message is one line that says what is wrong and what is allowed. Entry points print it and exit
    non-zero; nothing is trained and no result is written.
    """

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def call_configurable(fn, **kwargs):
    """Call a gin-wrapped callable, keeping a ConfigError it raises to its one line (gin appends the call
    site to exceptions that pass through a configurable)."""
    try:
        return fn(**kwargs)
    except ConfigError as e:
        raise ConfigError(e.message) from None


def os_error_line(error: OSError) -> str:
    """An operating-system error (disk full, permission denied, a missing folder) as the one line a user reads;
    set SWAST_DEBUG=1 (or pass --debug) for the traceback."""
    where = f": {error.filename}" if error.filename else ""
    return f"{error.strerror or type(error).__name__}{where}"


def debugging() -> bool:
    """Whether errors show their traceback (SWAST_DEBUG=1) instead of one line."""
    return os.environ.get("SWAST_DEBUG", "") not in ("", "0")
