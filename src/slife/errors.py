"""The one exception base for problems caused by the user's input (files, configs, arguments).

The CLI prints these without a traceback and exits with status 2 (``EXIT_BAD_INPUT``). Messages start
with the file (or option) at fault and say what is wrong. Operating-system errors the user can fix
(disk full, read-only folder, permission denied) are printed as one line naming the path, exit status
74 (``EXIT_OS_ERROR``, BSD's EX_IOERR); a missing file counts as bad input (2).
"""

import os

EXIT_BAD_INPUT = 2
EXIT_OS_ERROR = 74


class SlifeError(ValueError):
    """Bad input: a missing or malformed file, an invalid config value, an impossible request."""


def os_error_message(exc: OSError) -> str:
    """``PATH: what failed`` for an OSError (both paths for a rename)."""
    what = exc.strerror or str(exc)
    paths = [p for p in (exc.filename, exc.filename2) if p is not None]
    where = " -> ".join(os.fsdecode(p) if isinstance(p, (str, bytes)) else str(p) for p in paths)
    return f"{where}: {what}" if where else what
