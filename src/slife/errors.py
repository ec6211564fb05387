"""The one exception base for problems caused by the user's input (files, configs, arguments).

The CLI prints these without a traceback and exits with status 2. Messages start with the file (or
option) at fault and say what is wrong.
"""


class SlifeError(ValueError):
    """Bad input: a missing or malformed file, an invalid config value, an impossible request."""
