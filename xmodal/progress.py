"""Progress bars with counts, rates and ETA (rich), quiet when output is not a terminal unless asked."""
from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def progress(enabled: bool | None = None) -> Iterator["object"]:
    """Yield a ``rich.progress.Progress`` (or a no-op stand-in when disabled).

    Use ``task = p.add_task("encode", total=n)`` then ``p.advance(task, k)``.
    """
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)

    if enabled is None:
        enabled = sys.stderr.isatty()
    from rich.console import Console

    console = Console(stderr=True, force_terminal=enabled or None)
    with Progress(
        TextColumn("[bold]{task.description:>10}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("[cyan]{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not enabled,
        transient=False,
    ) as p:
        yield _RateProgress(p)


class _RateProgress:
    """Wraps rich Progress so every task shows its items/s without callers computing it."""

    def __init__(self, inner):
        self._p = inner

    def add_task(self, description: str, total: float | None = None) -> int:
        return self._p.add_task(description, total=total, rate="")

    def advance(self, task: int, n: float = 1) -> None:
        self._p.advance(task, n)
        speed = self._p.tasks[task].speed if task < len(self._p.tasks) else None
        self._p.update(task, rate=f"{speed:.1f}/s" if speed else "")

    def update(self, task: int, **kw) -> None:
        self._p.update(task, **kw)

    def __getattr__(self, name):
        return getattr(self._p, name)
