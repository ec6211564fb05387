"""Time the parse of an hour of Aria closed-loop trajectory (1 kHz: 3.6 M rows), issue #20.

Writes a synthetic ``closed_loop_trajectory.csv`` with the MPS columns (two graph_uids) to a temporary
folder, then times ``slife.ingest.aria.mps.read_trajectory`` on it (best of ``--repeats``).

    python bench/aria_trajectory.py [--hours 1] [--repeats 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def write_trajectory(path: Path, rows: int) -> None:
    from slife.world.mps_export import GRAPH_UIDS, TRAJ_HEADER

    rng = np.random.default_rng(0)
    with open(path, "w") as fh:
        fh.write(",".join(TRAJ_HEADER) + "\n")
        for start in range(0, rows, 200_000):
            n = min(200_000, rows - start)
            t_us = 1_000_000 + 1000 * np.arange(start, start + n)
            q = rng.normal(size=(n, 4))
            q /= np.linalg.norm(q, axis=1, keepdims=True)
            numbers = np.column_stack([t_us, t_us * 1000 + 1, rng.normal(size=(n, 3)), q, rng.normal(size=(n, 9)), np.full(n, 0.9)])
            uid = np.where(np.arange(start, start + n) < rows // 2, GRAPH_UIDS[0], GRAPH_UIDS[1])
            body = np.char.add(np.char.add(uid.astype(str), ","), _join(numbers))
            fh.write("\n".join(body.tolist()) + "\n")


def _join(numbers: np.ndarray) -> np.ndarray:
    cols = [numbers[:, 0].astype(np.int64).astype(str), numbers[:, 1].astype(np.int64).astype(str)]
    cols += [np.char.mod("%.9f", numbers[:, k]) for k in range(2, numbers.shape[1])]
    out = cols[0]
    for c in cols[1:]:
        out = np.char.add(np.char.add(out, ","), c)
    return out


def main() -> None:
    from slife.ingest.aria.mps import SlamDir, Tree, read_trajectory

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hours", type=float, default=1.0)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    rows = int(args.hours * 3_600_000)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "closed_loop_trajectory.csv"
        t = time.perf_counter()
        write_trajectory(path, rows)
        print(f"wrote {rows} rows ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t:.1f} s")
        best = float("inf")
        for _ in range(args.repeats):
            t = time.perf_counter()
            traj = read_trajectory(SlamDir(Tree(Path(tmp)), ""))
            best = min(best, time.perf_counter() - t)
        print(f"read_trajectory: {len(traj.times_ns)} rows, graphs {traj.graph_uids}, best {best:.2f} s "
              f"({len(traj.times_ns) / best / 1e6:.2f} M rows/s)")


if __name__ == "__main__":
    main()
