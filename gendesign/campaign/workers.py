"""Where stage batches run: inline, in local worker processes, or on a Dask cluster.

All three take ``submit(function, *args)`` and hand back finished futures in
completion order; only the coordinating process touches the store. Every task
runs torch on one thread, so a batch gives the same numbers wherever it runs.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import as_completed as futures_completed
from typing import Any

from gendesign.errors import ConfigError


def run_task(function: Callable, *args: Any) -> Any:
    """Call ``function`` with torch on one thread (the same arithmetic on every worker)."""
    import warnings

    import torch

    torch.set_num_threads(1)
    # pymatgen's note on noble gases, once per element and worker, says nothing useful here
    warnings.filterwarnings("ignore", message="No Pauling electronegativity")
    return function(*args)


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
                future.set_result(run_task(function, *args))
            except Exception as err:  # reported by the coordinator per batch
                future.set_exception(err)
            yield future

    def close(self) -> None:
        pass


class ProcessWorkers:
    """A pool of local worker processes (spawned: torch does not survive a fork)."""

    def __init__(self, workers: int):
        self.description = f"{workers} local worker processes"
        self.pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))

    def submit(self, function: Callable, *args: Any) -> Future:
        return self.pool.submit(run_task, function, *args)

    def completed(self, futures: Iterable[Future]) -> Iterator[Future]:
        yield from futures_completed(list(futures))

    def close(self) -> None:
        self.pool.shutdown(cancel_futures=True)


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

    def close(self) -> None:
        self.client.close()


def open_workers(workers: int, scheduler: str | None):
    """Dask when a scheduler address is given; else ``workers`` processes (1: inline)."""
    if scheduler:
        return DaskWorkers(scheduler)
    if workers <= 1:
        return InlineWorkers()
    return ProcessWorkers(workers)
