"""``ffr repro``."""

from __future__ import annotations

import typer


def repro_command() -> None:
    """Reproduce the paper's claims at laptop scale (not implemented yet)."""
    typer.echo("ffr repro is not implemented yet", err=True)
    raise typer.Exit(code=2)
