"""`panel serve`: the web review desk over the same store and workflow as the CLI."""

from __future__ import annotations

from pathlib import Path

import click

from panel.cli.app import Env, cli, pass_env, preload_diversity
from panel.errors import UsageError

MIN_TOKEN_CHARS = 16


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--token",
    envvar="PANEL_TOKEN",
    default=None,
    help="Access token every request must carry (better: $PANEL_TOKEN); needed beyond loopback.",
)
@click.option("--model", "-m", default=None, help="Model id for regenerations, e.g. fake:mixed.")
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Site folder publish writes to and /site/ serves (default: outputs/site/).",
)
@click.option(
    "--templates",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Folder of templates overriding the built-in page templates by name.",
)
@pass_env
def serve(
    env: Env,
    host: str,
    port: int,
    token: str | None,
    model: str | None,
    out: Path | None,
    templates: Path | None,
) -> None:
    """Start the web review desk (queue, drafts, edits, publishing) in your browser."""
    try:
        import uvicorn

        from panel.web import create_app
        from panel.web.security import is_loopback
    except ImportError as exc:
        raise UsageError(
            f"the web desk needs its extra ({exc.name} is missing): pip install -e '.[web]'"
        ) from None
    if not is_loopback(host) and not token:
        raise UsageError(
            f"--host {host} is reachable beyond this machine: pass --token TOKEN "
            "(or set PANEL_TOKEN), or bind 127.0.0.1"
        )
    if token is not None and len(token.strip()) < MIN_TOKEN_CHARS:
        raise UsageError(
            f"--token is too short to guard the desk: use {MIN_TOKEN_CHARS}+ characters, "
            "e.g. PANEL_TOKEN=$(openssl rand -hex 16)"
        )
    if templates is not None and not templates.is_dir():
        raise UsageError(f"{templates}: --templates must be a folder of templates")
    env.store().close()  # a bad --db fails here, in one line, before the server starts
    app = create_app(
        env.db, token=token, editor=env.editor_name, model=model, out=out, templates=templates
    )
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"Panel review desk on http://{shown}:{port}/ (Ctrl+C to stop)", err=True)
    if token:
        click.echo(f"open http://{shown}:{port}/?token=… once to sign in this browser", err=True)
    preload_diversity()  # an edit's save never waits for it
    uvicorn.run(app, host=host, port=port, log_level="warning", server_header=False)
