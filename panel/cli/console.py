"""Terminal views: scorecards, lists, logs (rich).

Launch, model and editor text reaches the terminal only through ``plain``: a rich Text
(never read as markup) with control characters made visible.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Mapping

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from panel.records import Claim, Comparison, Review, ToolPanel, Verdict, Votes, now, percent
from panel.safe_text import inert
from panel.status import attention
from panel.store.costs import CostRow

VERDICT_STYLE = {Verdict.SHIP: "bold green", Verdict.SKIP: "bold red"}


def plain(value: object, style: str = "", *, multiline: bool = False) -> Text:
    """Untrusted text for a view: no markup, control characters shown inert."""
    return Text(inert(value, multiline=multiline), style=style)


def verdict_text(verdict: Verdict | None) -> Text:
    """A verdict, coloured; FAILED when there is none."""
    if verdict is None:
        return Text("FAILED", style="bold yellow")
    return Text(verdict.value.upper(), style=VERDICT_STYLE[verdict])


def scorecard(panel: ToolPanel) -> Table:
    """The reviewer scorecard of one panel."""
    launch = panel.launch
    title = f"{launch.name} — {launch.tagline}" if launch.tagline else launch.name
    table = Table(title=plain(title), show_lines=True, expand=True)
    table.add_column("Reviewer", style="bold", no_wrap=True, ratio=1)
    table.add_column("Verdict", no_wrap=True)
    table.add_column("Quote", ratio=5)
    for review in panel.reviews:
        if review.failed:
            body = plain(f"failed: {review.error}", "yellow", multiline=True)
        else:
            body = Text()
            if review.headline:
                body.append(inert(review.headline) + "\n", style="italic")
            body.append(inert(review.quote, multiline=True))
            if review.pricing_read:
                body.append(f"\nPricing read: {inert(review.pricing_read)}", style="cyan")
            if review.human_edited:
                body.append("  (edited)", style="dim")
            for flag in review.flags:
                body.append(f"\n⚑ {inert(flag)}", style="yellow")
        table.add_row(plain(review.persona_name), verdict_text(review.verdict), body)
    entry = launch.entry or "—"
    lines = [
        f"{panel.slug} · rev {panel.revision} · {panel.status.value} · "
        f"panel {percent(panel.ship_share)} ship ({panel.split}) · entry {entry} · "
        f"{diversity_text(panel)}",
        *(f"⚑ {flag}" for flag in panel.flags),
    ]
    table.caption = Text("\n".join(inert(line) for line in lines))
    return table


def diversity_text(panel: ToolPanel) -> str:
    """The panel's diversity read in words: 'diversity 0.62 (most alike pair 0.48)'."""
    if panel.diversity is None:
        return "diversity not measured"
    return f"diversity {panel.diversity:.2f} (most alike pair {panel.max_similarity or 0:.2f})"


def panel_summary(panel: ToolPanel) -> Text:
    """One line: ship share, split, cost and failures; then the sources the draft read."""
    cost = sum(r.provenance.cost_usd for r in panel.reviews if r.provenance)
    failed = [r.persona_id for r in panel.reviews if r.failed]
    line = f"Panel: {percent(panel.ship_share)} ship ({panel.split}) · cost ${cost:.4f}"
    if failed:
        line += f" · failed: {', '.join(failed)}"
    for source in panel.sources:
        if source.ok:
            read = f"{source.words:,} words, sha256 {(source.sha256 or '')[:12]}…"
            line += f"\n  source {source.where}: {read}"
        else:
            line += f"\n  source {source.where}: not read: {source.reason}"
    return plain(line)


def panel_list(panels: Iterable[ToolPanel]) -> Table:
    """A table of panels."""
    table = Table(title="Panels")
    table.add_column("Slug", overflow="fold")  # never cut: it is what the other commands take
    for column in ("Name", "Status", "Rev", "Ship", "Split", "Failed", "Updated"):
        table.add_column(column)
    for panel in panels:
        failed = sum(1 for r in panel.reviews if r.failed)
        table.add_row(
            plain(panel.slug),
            plain(panel.launch.name),
            panel.status.value,
            str(panel.revision),
            percent(panel.ship_share),
            panel.split,
            str(failed) if failed else "",
            panel.updated_at.strftime("%Y-%m-%d %H:%M"),
        )
    return table


def comparison_list(comparisons: Iterable[Comparison], tools: Mapping[str, ToolPanel]) -> Table:
    """A table of comparisons: both tools' names and ship shares (``tools``: panels by slug)."""
    table = Table(title="Comparisons")
    table.add_column("Slug", overflow="fold")
    for column in ("Tools", "Status", "Rev", "Ship", "Updated"):
        table.add_column(column)
    for comparison in comparisons:
        pair = [tools[comparison.a_slug], tools[comparison.b_slug]]
        names = " vs ".join(p.launch.name for p in pair)
        ships = " vs ".join(percent(p.ship_share) for p in pair)
        table.add_row(
            plain(comparison.slug),
            plain(names),
            comparison.status.value,
            str(comparison.revision),
            ships,
            comparison.updated_at.strftime("%Y-%m-%d %H:%M"),
        )
    return table


def list_rows(
    panels: Iterable[ToolPanel], comparisons: Iterable[Comparison], tools: Mapping[str, ToolPanel]
) -> list[dict[str, object]]:
    """`panel list --json`: a row per panel, then per comparison, each with its ``kind``."""

    def tool(slug: str) -> dict[str, object]:
        panel = tools[slug]
        return {"slug": slug, "name": panel.launch.name, "ship_share": panel.ship_share}

    rows: list[dict[str, object]] = [
        {
            "kind": "panel",
            "slug": p.slug,
            "name": p.launch.name,
            "status": p.status.value,
            "revision": p.revision,
            "ship_share": p.ship_share,
            "split": p.split,
            "failed_reviews": sum(1 for r in p.reviews if r.failed),
            "created_at": p.created_at.isoformat(),
            "updated_at": p.updated_at.isoformat(),
        }
        for p in panels
    ]
    rows += [
        {
            "kind": "comparison",
            "slug": c.slug,
            "status": c.status.value,
            "revision": c.revision,
            "tools": [tool(c.a_slug), tool(c.b_slug)],
            "created_at": c.created_at.isoformat(),
            "updated_at": c.updated_at.isoformat(),
        }
        for c in comparisons
    ]
    return rows


def call_log(rows: Iterable[sqlite3.Row]) -> Table:
    """A table of call-log rows. The numbers never wrap or get cut; the call (panel,
    persona, model) and its result wrap inside their columns, so it reads at 100 columns."""
    table = Table(box=box.SIMPLE_HEAD, padding=(0, 1, 0, 0), pad_edge=False, expand=True)
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("When (UTC)", no_wrap=True)
    table.add_column("Panel / persona · model", overflow="fold", ratio=3)
    for column in ("Try", "Tokens", "Cost", "ms"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("Result", overflow="fold", ratio=2)
    for row in rows:
        result = plain(row["error"][:80], "red") if row["error"] else Text("ok", "green")
        if row["cached"]:
            result = Text("cached", style="cyan")
        call = plain(f"{row['panel_slug'] or '-'} / {row['persona_id'] or '-'}")
        call.append("\n" + inert(row["model"]), style="dim")
        table.add_row(
            str(row["id"]),
            plain(row["at"][5:16].replace("T", " ")),
            call,
            str(row["attempt"]),
            f"{row['input_tokens']}→{row['output_tokens']}",
            f"${row['cost_usd']:.4f}",
            str(row["latency_ms"]),
            result,
        )
    return table


def make_console(stderr: bool = False) -> Console:
    """A console that wraps to the terminal, or 120 columns when piped."""
    # No markup or emoji codes: a string that slips past ``plain`` still prints as is.
    console = Console(stderr=stderr, highlight=False, markup=False, emoji=False)
    if not console.is_terminal:
        console = Console(stderr=stderr, highlight=False, markup=False, emoji=False, width=120)
    return console


def review_queue(records: Iterable[ToolPanel | Comparison]) -> Table:
    """Drafts waiting for an editor, oldest first, with failures and flags called out."""
    table = Table(title="Waiting for review")
    for column in ("Kind", "Slug", "Rev", "Age", "Ship", "Needs attention"):
        table.add_column(column)
    for record in records:
        age = now() - record.created_at
        hours = int(age.total_seconds() // 3600)
        age_text = f"{hours // 24}d {hours % 24}h" if hours >= 24 else f"{hours}h"
        if isinstance(record, ToolPanel):
            notes = attention(record, detailed=True)
            attention_text = plain("\n".join(inert(n) for n in notes), "yellow", multiline=True)
            table.add_row(
                "panel",
                plain(record.slug),
                str(record.revision),
                age_text,
                f"{percent(record.ship_share)} ({record.split})",
                attention_text,
            )
        else:
            table.add_row(
                "comparison",
                plain(record.slug),
                str(record.revision),
                age_text,
                plain(f"{record.a_slug} vs {record.b_slug}"),
                Text(""),
            )
    return table


def history(entries: Iterable[dict[str, object]]) -> Table:
    """The audit trail of one record, with diffs coloured."""
    table = Table(show_lines=True)
    for column in ("Rev", "When", "Who", "What", "Detail"):
        table.add_column(column)
    for entry in entries:
        detail = Text()
        for line in str(entry["detail"]).splitlines():
            style = "green" if line.startswith("+") else "red" if line.startswith("-") else ""
            detail.append(inert(line) + "\n", style=style)
        table.add_row(
            plain(entry["revision"]),
            plain(str(entry["at"])[:19]),
            plain(entry["editor"]),
            plain(entry["action"]),
            detail,
        )
    return table


def cost_table(by: str, rows: Iterable[CostRow]) -> Table:
    """The cost summary, with a total row; "Cache saved" is what prompt caching saved."""
    table = Table(title=f"Costs by {by}")
    counts = ("Calls", "Cached", "Errors", "In tokens", "Cache read", "Cache write", "Out tokens")
    for column in (by.capitalize(), *counts, "USD", "Cache saved"):
        table.add_column(column, justify="left" if column == by.capitalize() else "right")
    total = [0.0] * (len(counts) + 2)
    for row in rows:
        values = [
            row.calls,
            row.cached,
            row.errors,
            row.input_tokens,
            row.cache_read_tokens,
            row.cache_write_tokens,
            row.output_tokens,
        ]
        money = [row.cost_usd, row.saved_usd]
        table.add_row(plain(row.key), *(f"{v:,}" for v in values), *(f"${m:.4f}" for m in money))
        total = [t + v for t, v in zip(total, [*values, *money], strict=True)]
    sums = (f"{int(v):,}" for v in total[: len(counts)])
    table.add_row("total", *sums, *(f"${m:.4f}" for m in total[len(counts) :]), style="bold")
    return table


def comparison_table(a: ToolPanel, b: ToolPanel, votes: Mapping[str, Votes]) -> Table:
    """Two scorecards side by side: the tools' facts, then each reviewer's call on each."""
    title = plain(f"{a.launch.name} vs {b.launch.name}")
    table = Table(title=title, show_lines=True, expand=True)
    table.add_column("", style="bold", min_width=12, ratio=1)
    for panel in (a, b):
        table.add_column(plain(panel.launch.name), ratio=4)
    facts: list[tuple[str, Callable[[ToolPanel], str]]] = [
        ("Category", lambda p: p.launch.category or "—"),
        ("Tagline", lambda p: p.launch.tagline or "—"),
        ("Panel", lambda p: f"{percent(p.ship_share)} ship ({p.split})"),
        ("Community", lambda p: _community(votes.get(p.slug))),
        ("Entry", lambda p: p.launch.entry or "—"),
    ]
    for label, fact in facts:
        table.add_row(label, plain(fact(a)), plain(fact(b)))
    names: dict[str, str] = {}
    for review in a.reviews + b.reviews:
        names.setdefault(review.persona_id, review.persona_name)
    for persona_id, name in names.items():
        table.add_row(plain(name), *(_take(p.review(persona_id)) for p in (a, b)))
    return table


def _community(votes: Votes | None) -> str:
    if votes is None or not votes.total:
        return "— (no votes)"
    return f"{percent(votes.share)} ship ({votes.total} votes)"


def _take(review: Review | None) -> Text:
    if review is None:
        return Text("not reviewed", style="dim")
    text = verdict_text(review.verdict)
    if review.failed:
        text.append(f"\nfailed: {inert(review.error, multiline=True)}", style="yellow")
        return text
    if review.headline:
        text.append("\n" + inert(review.headline), style="italic")
    text.append("\n" + inert(review.quote, multiline=True))
    if review.pricing_read:
        text.append(f"\nPricing read: {inert(review.pricing_read)}", style="cyan")
    return text


def claims_table(rows: Iterable[tuple[str, Claim]]) -> Table:
    """Claims of a panel: id, reviewer, kind, status, text, who checked it (or the source
    that states it)."""
    table = Table(title="Claims", show_lines=False)
    for column in ("id", "reviewer", "kind", "status", "claim", "checked by"):
        table.add_column(column)
    for who, claim in rows:
        style = "yellow" if claim.open else ("green" if claim.status.value == "verified" else "")
        checked = f"{claim.changed_by} {claim.changed_at:%Y-%m-%d}" if claim.changed_at else ""
        if claim.source:
            checked = f"source {claim.source}"
        table.add_row(
            plain(claim.id),
            plain(who),
            plain(claim.kind.value),
            plain(claim.status.value.replace("_", " "), style),
            plain(claim.text),
            plain(checked),
        )
    return table
