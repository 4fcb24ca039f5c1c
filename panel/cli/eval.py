"""`panel eval`: draft the launches of a golden file and score them against published panels."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click
from rich.table import Table

from panel.cli import console as views
from panel.cli.app import Env, cli, pass_env, run_context
from panel.drafting import diversity
from panel.drafting.personas import load_personas
from panel.drafting.protect import is_protected
from panel.errors import UsageError
from panel.eval import OUTCOMES, EvalReport, load_golden, run_eval
from panel.records import Verdict, percent


@cli.command(name="eval")
@click.argument("golden", type=click.Path(path_type=Path))
@click.option("--model", "-m", default=None, help="Model id for every persona.")
@click.option(
    "--concurrency",
    "-c",
    default=4,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Launches drafted at once.",
)
@click.option("--fresh", is_flag=True, help="Bypass the response cache (ask every model again).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--redraft", is_flag=True, help="Draft again panels that are approved or published.")
@pass_env
def eval_(
    env: Env,
    golden: Path,
    model: str | None,
    concurrency: int,
    fresh: bool,
    as_json: bool,
    redraft: bool,
) -> None:
    """Draft each launch of GOLDEN (JSONL: launch + published verdicts) and score the drafts.

    The drafts are stored like `panel draft` ones (pass --db to keep them apart); an
    approved or published panel is never redrafted unless --redraft says so.
    """
    personas = load_personas()
    note = diversity.unavailable()
    if note:
        click.echo(f"notice: {note}", err=True)
    with env.store() as store:
        kept = [
            case.launch.slug
            for case in load_golden(golden, personas)
            if is_protected(store.find_panel(case.launch.slug))
        ]
        if kept and not redraft:
            raise UsageError(
                f"{golden}: eval would redraft approved or published panels ({', '.join(kept)}); "
                "pass --db OTHER.db to keep the eval apart, or --redraft"
            )
        ctx = run_context(env, store, model)
        ctx.use_cache = not fresh
        report = asyncio.run(
            run_eval(
                ctx,
                golden,
                personas,
                concurrency=concurrency,
                diversity_note=note,
                redraft=redraft,
            )
        )
    if as_json:
        click.echo(report.model_dump_json(indent=2))
        return
    out = views.make_console()
    click.echo(headline(report))
    for table in report_tables(report):
        out.print(table)
    click.echo(summary_line(report))


def _share(agreed: int, compared: int) -> str:
    return f"{percent(agreed / compared if compared else None)} ({agreed}/{compared})"


def headline(report: EvalReport) -> str:
    """One line: what was evaluated, on which models, and the overall agreement."""
    return (
        f"{report.golden}: {report.launches} launches, {report.compared} published verdicts, "
        f"on {', '.join(report.models) or '-'} — agreement {_share(report.agreed, report.compared)}"
    )


def report_tables(report: EvalReport) -> list[Table]:
    """The per-persona agreement and the confusion matrix."""
    personas = Table(title="Agreement per persona")
    for column in ("Persona", "Agreement", "Failed"):
        personas.add_column(column)
    for persona_id, score in report.per_persona.items():
        personas.add_row(persona_id, _share(score.agreed, score.compared), str(score.failed))
    confusion = Table(title="Confusion matrix")
    confusion.add_column("published \\ drafted")
    for outcome in OUTCOMES:
        confusion.add_column(outcome, justify="right")
    for verdict in Verdict:
        row = report.confusion[verdict.value]
        confusion.add_row(verdict.value, *(str(row[o]) for o in OUTCOMES))
    return [personas, confusion]


def summary_line(report: EvalReport) -> str:
    """One line: beat coverage, diversity, flags, cost and time."""
    coverage = percent(report.beat_coverage)
    spread = "not measured" if report.diversity is None else f"{report.diversity:.2f}"
    return (
        f"Mean beat coverage {coverage} · mean diversity {spread} · "
        f"{report.flagged_reviews} flagged reviews · {report.collapsed_panels} collapsed panels · "
        f"cost ${report.cost_usd:.4f} · {report.wall_seconds:.1f} s"
    )
