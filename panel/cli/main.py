"""The entry point: every command module registered on the group, errors as one line."""

from __future__ import annotations

import sys
import traceback

import click

# Each command module registers its commands on the group when imported.
from panel.cli import batch, claims, drafts, eval, publishing, review, serve, sources  # noqa: F401
from panel.cli.app import cli
from panel.errors import PanelError
from panel.safe_text import inert


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI, turning PanelErrors into one line and an exit code."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        code = cli.main(args=argv, prog_name="panel", standalone_mode=False)
    except PanelError as exc:
        if debug:
            traceback.print_exc()
        # A list (every blocker of an approval) prints one item a line, each made inert.
        first, *rest = exc.lines()
        click.echo(f"panel: error: {inert(first)}", err=True)
        for line in rest:
            click.echo(inert(line), err=True)
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("panel: aborted", err=True)
        return 130
    except click.UsageError as exc:
        command = exc.ctx.command_path if exc.ctx else "panel"
        click.echo(
            inert(f"panel: error: {exc.format_message()} (see '{command} --help')"), err=True
        )
        return exc.exit_code
    except click.ClickException as exc:
        click.echo(f"panel: error: {inert(exc.format_message())}", err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("panel: interrupted", err=True)
        return 130
    # A command ended with exit_with(code) (click returns the code without standalone mode).
    return code if isinstance(code, int) else 0
