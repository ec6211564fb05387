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


def test_quiet_wait_env_keeps_what_the_user_set() -> None:
    from slife.train.threads import QUIET_WAIT, quiet_wait_env

    assert quiet_wait_env({}) == QUIET_WAIT == {"OMP_WAIT_POLICY": "PASSIVE", "KMP_BLOCKTIME": "0"}
    assert quiet_wait_env({"OMP_WAIT_POLICY": "active"}) == {"KMP_BLOCKTIME": "0"}


def test_wait_quietly_only_before_torch_loads() -> None:
    """A study worker sets the passive wait policy before torch (and its OpenMP runtime) loads; once
    torch is imported it changes nothing; a lone command line keeps OpenMP's default."""
    import os
    import subprocess
    import sys

    from slife.train.threads import wait_quietly

    before = dict(os.environ)
    assert wait_quietly() is False and dict(os.environ) == before  # torch is imported in this process
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "KMP_BLOCKTIME")}
    code = ("import os, sys; import slife.cli; from slife.train.threads import wait_quietly; assert 'torch' not in sys.modules; "
            "print(wait_quietly(), os.environ['OMP_WAIT_POLICY'], os.environ['KMP_BLOCKTIME'])")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "PASSIVE", "0"]
    env["OMP_WAIT_POLICY"] = "ACTIVE"  # the user's choice stays
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "ACTIVE", "0"]
    lone = ("import contextlib, io, os, slife.cli\n"
            "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
            "    slife.cli.main(['world', '--help'])\n"
            "print(os.environ.get('OMP_WAIT_POLICY', 'unset'))")
    env.pop("OMP_WAIT_POLICY")
    assert subprocess.run([sys.executable, "-c", lone], env=env, capture_output=True, text=True, check=True).stdout.split() == ["unset"]


def test_study_workers_wait_passively(monkeypatch) -> None:
    """train_many's worker processes start with the passive wait policy (before they import torch)."""
    import concurrent.futures
    import os

    import slife.train.parallel as parallel

    seen = {}

    class Pool(concurrent.futures.ProcessPoolExecutor):
        def __init__(self, *args, **kw):
            seen.update(kw)
            super().__init__(*args, **kw)

        def submit(self, fn, *args, **kw):
            return super().submit(os.getenv, "OMP_WAIT_POLICY", "unset")

    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.setattr(parallel, "ProcessPoolExecutor", Pool)
    jobs = [parallel.TrainJob(None, None, parallel.TrainConfig(threads=1)) for _ in range(2)]
    assert parallel.train_many(jobs, parallel=2) == ["PASSIVE", "PASSIVE"]
    assert seen["initializer"] is parallel._init_worker  # which calls wait_quietly first
