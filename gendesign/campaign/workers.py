"""Where stage batches run: inline, in local worker processes, or on a Dask cluster.

All three take ``submit(function, *args)`` and hand back finished futures in
completion order; only the coordinating process touches the store. Every task
runs torch on one thread, so a batch gives the same numbers wherever it runs.
"""

from __future__ import annotations

import ctypes
import gc
import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import as_completed as futures_completed
from typing import Any

from gendesign.errors import ConfigError

PRELOAD_ENV = "GENDESIGN_WORKER_PRELOAD"  # the campaign config (JSON) the fork server preloads


def run_task(function: Callable, *args: Any) -> Any:
    """In a worker process: call ``function`` with torch on one thread (the same arithmetic
    on every worker), then hand the batch's working memory back to the system."""
    try:
        return run_inline(function, *args)
    finally:
        release_memory()


def run_inline(function: Callable, *args: Any) -> Any:
    """Call ``function`` with torch on one thread. In the coordinator no collection runs
    after it: a Ctrl-C that lands in a finalizer during a collection would be lost."""
    import torch

    from gendesign.notices import quiet_third_party

    torch.set_num_threads(1)
    quiet_third_party()
    return function(*args)


def release_memory() -> None:
    """Free the memory a finished batch leaves behind: Python's unreachable cycles, then
    glibc's free lists. Without the trim a worker keeps the peak of its largest batch
    (torch's CPU tensors come from malloc) for the rest of the campaign."""
    gc.collect()
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _glibc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL("libc.so.6")  # glibc (Linux); elsewhere nothing to trim
    except OSError:
        return None


_LIBC = _glibc()


class InlineWorkers:
    """Runs each task in this process, one at a time, as the coordinator asks for its
    result (so each batch is stored before the next one starts)."""

    description = "this process"

    def submit(self, function: Callable, *args: Any) -> Future:
        future: Future = Future()
        future.task = (function, args)  # type: ignore[attr-defined]
        return future

    def completed(self, futures: Iterable[Future]) -> Iterator[Future]:
        for future in futures:
            function, args = future.task  # type: ignore[attr-defined]
            try:
                future.set_result(run_inline(function, *args))
            except Exception as err:  # reported by the coordinator per batch
                future.set_exception(err)
            yield future

    def close(self, now: bool = False) -> None:
        pass


class ProcessWorkers:
    """A pool of local worker processes.

    Where the platform has a fork server (Linux, macOS), the workers are forked from
    it after it imported the stage code and loaded the campaign's read-only data
    (:mod:`gendesign.campaign.preload`; ``preload`` is the config as JSON), so they
    share those pages instead of each holding a copy. Elsewhere they are spawned
    and load what they need themselves. Never a plain fork of the coordinator:
    torch does not survive one once it has run."""

    def __init__(self, workers: int, preload: str | None = None):
        method = (
            "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
        )
        context = multiprocessing.get_context(method)
        if method == "forkserver":
            os.environ[PRELOAD_ENV] = preload or ""  # read by the fork server when it starts
            context.set_forkserver_preload(["gendesign.campaign.preload"])
        self.description = f"{workers} local worker processes"
        self.pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_leave_ctrl_c)

    def submit(self, function: Callable, *args: Any) -> Future:
        return self.pool.submit(run_task, function, *args)

    def completed(self, futures: Iterable[Future]) -> Iterator[Future]:
        yield from futures_completed(list(futures))

    def close(self, now: bool = False) -> None:
        """Shut the pool down; ``now`` (after Ctrl-C) ends running tasks instead of waiting."""
        if now:  # the executor has no public way to stop a running task
            for process in list(self.pool._processes.values()):
                process.terminate()
        self.pool.shutdown(wait=not now, cancel_futures=True)


class DaskWorkers:
    """The workers of a running Dask distributed scheduler (``tcp://host:8786``)."""

    def __init__(self, address: str):
        from distributed import Client

        try:
            self.client = Client(address, timeout="20s")
        except OSError as err:
            raise ConfigError(
                f"--scheduler: cannot reach a Dask scheduler at {address} ({err})"
            ) from None
        workers = len(self.client.scheduler_info().get("workers", {}))
        self.description = f"Dask scheduler {address} ({workers} workers)"

    def submit(self, function: Callable, *args: Any):
        return self.client.submit(run_task, function, *args, pure=False)

    def completed(self, futures: Iterable) -> Iterator:
        from distributed import as_completed

        yield from as_completed(list(futures))

    def close(self, now: bool = False) -> None:
        self.client.close()


def _leave_ctrl_c() -> None:
    """Worker processes ignore Ctrl-C: the coordinator decides what is kept and stops them."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def open_workers(workers: int, scheduler: str | None, preload: str | None = None):
    """Dask when a scheduler address is given; else ``workers`` processes (1: inline).
    ``preload``: the campaign config as JSON, whose read-only data local workers share."""
    if scheduler:
        return DaskWorkers(scheduler)
    if workers <= 1:
        return InlineWorkers()
    return ProcessWorkers(workers, preload)
