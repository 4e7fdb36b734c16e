"""The one progress bar every long command shows (training, SFT, evaluation, probing, the synthetic benchmark):
rich on stderr, or nothing when disabled (non-zero ranks, tests, ``progress=false``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class ProgressBar:
    def __init__(self, progress: Any = None, task: Any = None):
        self._progress, self._task = progress, task

    def advance(self, n: int = 1, info: str | None = None) -> None:
        """``n`` more done; ``info`` replaces the text shown after the bar (the last step's headline metrics)."""
        if self._progress is None:
            return
        fields = {} if info is None else {"info": info}
        self._progress.update(self._task, advance=n, **fields)


@contextmanager
def progress_bar(enabled: bool, description: str, total: int, completed: int = 0, *,
                 unit: str = "") -> Iterator[ProgressBar]:
    """A bar over ``total`` items (``completed`` already done, as on resume), counted in ``unit``."""
    if not enabled:
        yield ProgressBar()
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn()]
    if unit:
        columns.append(TextColumn(unit))
    columns += [TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[info]}")]
    with Progress(*columns, console=Console(stderr=True)) as progress:
        yield ProgressBar(progress, progress.add_task(description, total=total, completed=completed, info=""))
