"""``ffr eval …`` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="Evaluate checkpoints on video benchmarks with the official metrics.")
