"""``python -m slife.train LIFE --out RUN ...`` (the entry point for ``torchrun``)."""

import sys

from slife.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["train", *sys.argv[1:]]))
