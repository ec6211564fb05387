"""Command-line subcommands of slife.train (placeholder until implemented)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Add this step's subcommands to the top-level parser."""
