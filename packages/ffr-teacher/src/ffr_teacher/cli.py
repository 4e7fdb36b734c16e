"""``ffr teacher …`` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="The frozen, tool-using teacher: serve a local model, inspect repairs.", no_args_is_help=True)
