"""Terminal views: scorecards, lists, logs (rich)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from rich.console import Console
from rich.table import Table
from rich.text import Text

from panel.records import ToolPanel, Verdict, percent

VERDICT_STYLE = {Verdict.SHIP: "bold green", Verdict.SKIP: "bold red"}


def verdict_text(verdict: Verdict | None) -> Text:
    """A verdict, coloured; FAILED when there is none."""
    if verdict is None:
        return Text("FAILED", style="bold yellow")
    return Text(verdict.value.upper(), style=VERDICT_STYLE[verdict])


def scorecard(panel: ToolPanel) -> Table:
    """The reviewer scorecard of one panel."""
    launch = panel.launch
    title = f"{launch.name} — {launch.tagline}" if launch.tagline else launch.name
    table = Table(title=title, show_lines=True, expand=True)
    table.add_column("Reviewer", style="bold", no_wrap=True, ratio=1)
    table.add_column("Verdict", no_wrap=True)
    table.add_column("Quote", ratio=5)
    for review in panel.reviews:
        if review.failed:
            body = Text(f"failed: {review.error}", style="yellow")
        else:
            body = Text()
            if review.headline:
                body.append(review.headline + "\n", style="italic")
            body.append(review.quote)
            if review.human_edited:
                body.append("  (edited)", style="dim")
            for flag in review.flags:
                body.append(f"\n⚑ {flag}", style="yellow")
        table.add_row(review.persona_name, verdict_text(review.verdict), body)
    entry = launch.entry or "—"
    table.caption = (
        f"{panel.slug} · rev {panel.revision} · {panel.status.value} · "
        f"panel {percent(panel.ship_share)} ship ({panel.split}) · entry {entry}"
    )
    return table


def panel_summary(panel: ToolPanel) -> str:
    """One line: ship share, split, cost and failures."""
    cost = sum(r.provenance.cost_usd for r in panel.reviews if r.provenance)
    failed = [r.persona_id for r in panel.reviews if r.failed]
    line = f"Panel: {percent(panel.ship_share)} ship ({panel.split}) · cost ${cost:.4f}"
    if failed:
        line += f" · failed: {', '.join(failed)}"
    return line


def panel_list(panels: Iterable[ToolPanel]) -> Table:
    """A table of panels."""
    table = Table()
    for column in ("Slug", "Name", "Status", "Rev", "Ship", "Split", "Failed", "Updated"):
        table.add_column(column)
    for panel in panels:
        failed = sum(1 for r in panel.reviews if r.failed)
        table.add_row(
            panel.slug,
            panel.launch.name,
            panel.status.value,
            str(panel.revision),
            percent(panel.ship_share),
            panel.split,
            str(failed) if failed else "",
            panel.updated_at.strftime("%Y-%m-%d %H:%M"),
        )
    return table


def call_log(rows: Iterable[sqlite3.Row]) -> Table:
    """A table of call-log rows."""
    table = Table()
    for column in ("#", "When", "Model", "Panel/persona", "Try", "Tokens", "Cost", "ms", "Result"):
        table.add_column(column)
    for row in rows:
        result = Text(row["error"][:80], style="red") if row["error"] else Text("ok", "green")
        if row["cached"]:
            result = Text("cached", style="cyan")
        table.add_row(
            str(row["id"]),
            row["at"][:19],
            row["model"],
            f"{row['panel_slug'] or '-'}/{row['persona_id'] or '-'}",
            str(row["attempt"]),
            f"{row['input_tokens']}→{row['output_tokens']}",
            f"${row['cost_usd']:.4f}",
            str(row["latency_ms"]),
            result,
        )
    return table


def make_console(stderr: bool = False) -> Console:
    """A console that wraps to the terminal, or 120 columns when piped."""
    console = Console(stderr=stderr, highlight=False)
    if not console.is_terminal:
        console = Console(stderr=stderr, highlight=False, width=120)
    return console
