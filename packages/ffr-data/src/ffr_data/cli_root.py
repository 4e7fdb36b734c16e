"""The single ``ffr`` command. Every installed FFR package adds its sub-commands through the ``ffr.commands``
entry-point group: a Typer app becomes a command group, a plain function becomes a command."""

from __future__ import annotations

import logging
import os
import sys
from importlib.metadata import entry_points

import typer
from rich.console import Console

from ffr_data.errors import FFRError
from ffr_data.rendezvous import drop_inherited_rendezvous
from ffr_data.versions import FFR_PACKAGES, package_versions

err_console = Console(stderr=True)


def _version_callback(value: bool) -> None:
    if value:
        for name, ver in package_versions(FFR_PACKAGES).items():
            typer.echo(f"{name} {ver}")
        raise typer.Exit()


def build_app() -> typer.Typer:
    app = typer.Typer(
        name="ffr",
        help="FFR: Find, Fix, Reason - context repair for video reasoning (GRPO with teacher evidence patches).",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )

    @app.callback()
    def main_callback(
        version_: bool = typer.Option(False, "--version", callback=_version_callback, is_eager=True,
                                      help="Print every installed FFR package's version and exit."),
        verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
    ) -> None:
        logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING,
                            format="%(levelname)s %(name)s: %(message)s")

    for ep in sorted(entry_points(group="ffr.commands"), key=lambda e: e.name):
        try:
            target = ep.load()
        except Exception as exc:  # a broken plug-in must not take the other commands down with it
            err_console.print(f"[yellow]warning:[/] command '{ep.name}' ({ep.value}) failed to load: {exc}")
            continue
        if isinstance(target, typer.Typer):
            app.add_typer(target, name=ep.name)
        else:
            app.command(name=ep.name, context_settings={"allow_extra_args": False})(target)
    return app


def main() -> None:
    # Hub access and DeepSpeed's accelerator are the user's (and CI's) to set, never forced here: a forced CPU
    # accelerator would silently run a GPU node on its CPUs, a forced offline hub would refuse a model id.
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    drop_inherited_rendezvous()
    try:
        build_app()(standalone_mode=True)
    except FFRError as exc:  # bad input: one line, no traceback
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
