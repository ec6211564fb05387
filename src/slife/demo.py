"""``slife demo``: the end-to-end run on the embedded synthetic world (placeholder until implemented)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Add the demo subcommand."""
