"""A pool whose workers spin for minutes, for the native-job tests, and the engine's passes on it."""

from __future__ import annotations

from kerasette.backend import parallel, pool


def spinning_pool(monkeypatch, threads: int) -> pool.Pool:
    """A pool of ``threads`` whose workers spin for minutes (never sleep in a test) whatever the
    load: no contention check, which on a busy machine (CI) could turn spinning off."""
    monkeypatch.setenv("KERASETTE_POOL_SPIN_US", str(600 * 10**6))
    p = pool.Pool(threads)
    p.contention.close()
    p.contention = None
    return p


def engine_on(monkeypatch, p: pool.Pool, threads: int) -> None:
    """The engine's passes (`kerasette.backend.parallel`) hand their work to ``p``'s threads."""
    monkeypatch.setattr(parallel, "_pool", lambda: p)
    monkeypatch.setattr(parallel, "num_threads", lambda: threads)
