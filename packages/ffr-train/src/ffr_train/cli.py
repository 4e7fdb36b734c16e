"""``ffr train``."""

from __future__ import annotations

import typer


def train_command() -> None:
    """Train a student with GRPO / FFR (not implemented yet)."""
    raise typer.Exit(code=_not_ready())


def _not_ready() -> int:
    typer.echo("ffr train is not implemented yet", err=True)
    return 2
