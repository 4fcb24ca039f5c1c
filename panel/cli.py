"""The ``panel`` command. Errors reach the user as one line; tracebacks only with --debug."""

from __future__ import annotations

import asyncio
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

import click

from panel import console as views
from panel.editors import current_editor
from panel.errors import PanelError
from panel.generate import RunContext, draft_panel
from panel.launches import load_launch
from panel.models import ModelChoice, default_model
from panel.paths import default_db
from panel.personas import load_personas, select
from panel.prompts import load_prompts
from panel.store import Store, open_store


@dataclass
class Env:
    """Global options shared by every command."""

    db: Path
    debug: bool
    editor_name: str | None

    def store(self) -> Store:
        """Open the database."""
        return open_store(self.db)

    @property
    def editor(self) -> str:
        """Who is acting."""
        return current_editor(self.editor_name)


pass_env = click.make_pass_decorator(Env)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--db",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Database file (default: $PANEL_DB or outputs/panel.db).",
)
@click.option("--debug", is_flag=True, help="Show tracebacks on errors.")
@click.option("--editor-name", default=None, help="Your name for the audit trail.")
@click.version_option(package_name="panel")
@click.pass_context
def cli(ctx: click.Context, db: Path | None, debug: bool, editor_name: str | None) -> None:
    """Reviewer panels for newly launched AI and developer tools."""
    ctx.obj = Env(db or default_db(), debug, editor_name)


def run_context(env: Env, store: Store, model: str | None) -> RunContext:
    """The RunContext for a command, printing the default-model notice once."""
    fallback, notice = default_model()
    if notice and not model:
        click.echo(f"notice: {notice}", err=True)
    return RunContext(
        store=store,
        prompts=load_prompts(),
        models=ModelChoice(explicit=model, fallback=fallback),
        editor=env.editor,
    )


@cli.command()
@click.argument("launch_file", type=click.Path(path_type=Path))
@click.option("--model", "-m", default=None, help="Model id, e.g. local:smollm2.")
@click.option("--persona", "-p", "persona_ids", multiple=True, help="Only these personas.")
@click.option("--json", "as_json", is_flag=True, help="Print the stored record as JSON.")
@pass_env
def draft(
    env: Env, launch_file: Path, model: str | None, persona_ids: tuple[str, ...], as_json: bool
) -> None:
    """Draft the panel of a launch file (a new revision if it exists)."""
    launch = load_launch(launch_file)
    personas = load_personas()
    chosen = select(personas, persona_ids)
    with env.store() as store:
        ctx = run_context(env, store, model)
        panel = asyncio.run(draft_panel(ctx, launch, chosen, all_personas=personas))
    if as_json:
        click.echo(panel.model_dump_json(indent=2))
        return
    out = views.make_console()
    out.print(views.scorecard(panel))
    out.print(views.panel_summary(panel))


@cli.command()
@click.argument("slug")
@click.option("--json", "as_json", is_flag=True, help="Print the record as JSON.")
@pass_env
def show(env: Env, slug: str, as_json: bool) -> None:
    """Show one panel."""
    with env.store() as store:
        panel = store.get_panel(slug)
    if as_json:
        click.echo(panel.model_dump_json(indent=2))
        return
    out = views.make_console()
    out.print(views.scorecard(panel))
    out.print(views.panel_summary(panel))


@cli.command(name="list")
@pass_env
def list_(env: Env) -> None:
    """List stored panels."""
    with env.store() as store:
        panels = store.list_panels()
    if not panels:
        click.echo("No panels yet: run `panel draft LAUNCH_FILE`.")
        return
    views.make_console().print(views.panel_list(panels))


@cli.command()
@click.option("-n", "limit", default=20, show_default=True, type=click.IntRange(1, 10_000))
@pass_env
def logs(env: Env, limit: int) -> None:
    """Show the latest model calls from the call log."""
    with env.store() as store:
        rows = store.recent_calls(limit)
    if not rows:
        click.echo("The call log is empty.")
        return
    views.make_console().print(views.call_log(rows))


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI, turning PanelErrors into one line and an exit code."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        cli.main(args=argv, prog_name="panel", standalone_mode=False)
    except PanelError as exc:
        if debug:
            traceback.print_exc()
        click.echo(f"panel: error: {exc}", err=True)
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("panel: aborted", err=True)
        return 130
    except click.UsageError as exc:
        command = exc.ctx.command_path if exc.ctx else "panel"
        click.echo(f"panel: error: {exc.format_message()} (see '{command} --help')", err=True)
        return exc.exit_code
    except click.ClickException as exc:
        click.echo(f"panel: error: {exc.format_message()}", err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("panel: interrupted", err=True)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
