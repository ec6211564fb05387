"""Thread counts of training runs: explicit, from OMP_NUM_THREADS, or a share of the cores."""

import torch

from slife.train.threads import resolve_threads, torch_threads, usable_cores


def test_resolve_threads(monkeypatch) -> None:
    for var in ("OMP_NUM_THREADS", "LOCAL_WORLD_SIZE", "WORLD_SIZE"):
        monkeypatch.delenv(var, raising=False)
    assert resolve_threads(3) == 3
    assert resolve_threads(0) == usable_cores()
    monkeypatch.setenv("WORLD_SIZE", str(2 * usable_cores()))
    assert resolve_threads(0) == 1  # several processes on one machine never oversubscribe
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "1")
    assert resolve_threads(0) == usable_cores()  # torchrun's local count wins over the world size
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert resolve_threads(0) == 1 and resolve_threads(2) == 2


def test_torch_threads_restores_the_previous_count(monkeypatch) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    before = torch.get_num_threads()
    with torch_threads(1) as n:
        assert n == 1 and torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
