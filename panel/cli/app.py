"""The `panel` command group, its global options and what commands share (no commands here)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

from panel.drafting import diversity
from panel.drafting.config import load_config
from panel.drafting.context import RunContext, build_context, load_settings
from panel.drafting.personas import choices_text, load_personas
from panel.editors import current_editor
from panel.errors import UsageError
from panel.paths import default_db
from panel.safe_text import inert
from panel.status import Gate
from panel.store import Store, open_store

F = TypeVar("F", bound=Callable[..., Any])


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


class PersonaOption(click.Option):
    """A --persona option whose help lists the reviewers of the persona files, read when
    the help is shown (a fifth persona file shows up without a code change)."""

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        """The option's help, with the reviewers to choose from."""
        try:
            personas = load_personas()
        except UsageError:
            return super().get_help_record(ctx)  # no persona folder: the command says so
        choices = choices_text((p.id, p.name) for p in personas)
        plain = self.help
        self.help = f"{plain} An id or a name, any case, 'The' optional: {choices}."
        try:
            return super().get_help_record(ctx)
        finally:
            self.help = plain


def persona_option(help_text: str, *, multiple: bool = False) -> Callable[[F], F]:
    """`--persona/-p`: a reviewer by id or display name (see personas.resolve_name)."""
    return click.option(
        "--persona",
        "-p",
        "persona_ids" if multiple else "persona_id",
        cls=PersonaOption,
        multiple=multiple,
        required=not multiple,
        metavar="REVIEWER",
        help=help_text,
    )


kind_option = click.option(
    "--kind",
    type=click.Choice(["panel", "comparison"]),
    default=None,
    help="Needed only when a slug names both a panel and a comparison.",
)


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
    """The RunContext for a command (panel.toml read now), printing the model notice."""
    return build_context(
        store,
        load_settings(),
        model=model,
        editor=env.editor,
        notify=lambda text: click.echo(inert(text), err=True),
    )


accept_flags_option = click.option(
    "--accept-flags",
    is_flag=True,
    help="Approve even though flags are not dismissed (they are named in the audit trail).",
)


def approval_gate(accept_flags: bool) -> Gate:
    """What approval must settle: panel.toml's require_verified_claims, flags confirmed."""
    return Gate(load_config().require_verified_claims, accept_flags)


def exit_with(code: int) -> None:
    """End the command with exit ``code`` (0: just return)."""
    if code:
        click.get_current_context().exit(code)


def preload_diversity() -> None:
    """Start loading the diversity model in the background, saying so on stderr."""
    if diversity.preload():
        click.echo(
            f"loading the diversity model ({diversity.MODEL_NAME}) in the background", err=True
        )
