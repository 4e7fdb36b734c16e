"""``ffr data …`` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="Video datasets: prepare Video-R1-style data, generate the synthetic evidence benchmark.",
                  no_args_is_help=True)
