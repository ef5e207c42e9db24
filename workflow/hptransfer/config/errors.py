"""The one error an invalid configuration raises."""


class ConfigError(ValueError):
    """An invalid configuration; the message names the offending key."""
