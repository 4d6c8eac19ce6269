"""The terminal the CLI writes to, and rich progress bars for long stages."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

# Logs and pipes get 120 columns instead of rich's 80, so tables are not truncated there.
console = Console()
if not console.is_terminal:
    console = Console(width=120)


class RateColumn(ProgressColumn):
    """Items per second of a task (rich's own speed column counts bytes)."""

    def render(self, task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:.2f}/s" if speed else "", style="progress.data.speed")


@contextmanager
def stage_progress(rates: bool = False) -> Iterator[Callable[[str, int], Callable[[int], None]]]:
    """Yield ``start(stage, total) -> advance(n)``: one progress bar per stage
    (``rates``: with items per second)."""
    columns = [
        TextColumn("{task.description:<24}"),
        BarColumn(),
        MofNCompleteColumn(),
        *([RateColumn()] if rates else []),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, console=console, transient=not console.is_terminal) as progress:

        def start(stage: str, total: int) -> Callable[[int], None]:
            task = progress.add_task(stage, total=total)
            return lambda n: progress.advance(task, n)

        yield start
