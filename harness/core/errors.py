"""The one exception type that reaches the user as a single line instead of a traceback."""


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
