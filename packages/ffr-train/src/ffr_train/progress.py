"""A rich progress bar that shows the headline metrics of the last step."""

from __future__ import annotations

from contextlib import contextmanager

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


class _Bar:
    def __init__(self, progress: Progress | None, task):
        self.progress, self.task = progress, task

    def advance(self, metrics: dict[str, float] | None = None) -> None:
        if self.progress is None:
            return
        info = ""
        if metrics:
            parts = [f"R {metrics.get('reward/total', 0):.2f}", f"acc {metrics.get('acc/first_pass', 0):.2f}"]
            if metrics.get("teacher/calls"):
                parts.append(f"repair {metrics.get('intervention_ratio', 0):.2f}")
            info = " ".join(parts)
        self.progress.update(self.task, advance=1, info=info)


@contextmanager
def progress_bar(enabled: bool, description: str, total: int, completed: int = 0):
    if not enabled:
        yield _Bar(None, None)
        return
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TimeRemainingColumn(), TextColumn("{task.fields[info]}")]
    with Progress(*columns, transient=False) as progress:
        task = progress.add_task(description, total=total, completed=completed, info="")
        yield _Bar(progress, task)
