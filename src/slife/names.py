"""Names a user gives (lives, studies) become folder names, report table cells and log fields: one
rule for what such a name may hold."""

from __future__ import annotations

FORBIDDEN = set('/\\|`<>') | {chr(c) for c in range(32)} | {chr(127)}
MAX_NAME = 200


def name_problem(name: object) -> str | None:
    """Why ``name`` cannot name a life or study (None when it can): a non-empty string of at most
    MAX_NAME printable characters, no path separator, no ``|`` (report tables), not starting with a dot."""
    if not isinstance(name, str) or not name:
        return "must be a non-empty string"
    if len(name) > MAX_NAME:
        return f"must be at most {MAX_NAME} characters"
    bad = sorted({c for c in name if c in FORBIDDEN or not c.isprintable()})
    if bad:
        return f"must not hold {', '.join(repr(c) for c in bad)}"
    if name.startswith(".") or name != name.strip():
        return "must not start with a dot or start or end with a space"
    return None
