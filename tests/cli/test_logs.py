"""`panel logs` at 100 columns: numbers whole, the call and its result wrapped, not cut."""

from __future__ import annotations

import pytest
from rich.console import Console

from panel.cli import console as views
from panel.cli import main
from panel.paths import default_db
from panel.store import CallRecord, Store, open_store

SLUG = "claude-haiku-open-weights-vs-gpt-5-mini-api"
ERROR = "HTTP 529 overloaded_error: Overloaded; retry-after 2 s (capped at 30 s by the policy)"


@pytest.fixture
def store() -> Store:
    store = open_store(default_db())
    store.log_call(
        CallRecord(
            model="anthropic:claude-sonnet-4-5",
            attempt=3,
            request="{}",
            error=ERROR,
            panel_slug=SLUG,
            persona_id="futurist",
            latency_ms=123456,
            input_tokens=123456,
            output_tokens=4096,
            cost_usd=1.2345,
        )
    )
    store.log_call(CallRecord(model="fake:ship", attempt=1, request="{}", panel_slug="solo"))
    return store


def rendered(store: Store, width: int) -> list[str]:
    console = Console(width=width, record=True, highlight=False, markup=False, emoji=False)
    console.print(views.call_log(store.recent_calls(10)))
    return console.export_text().splitlines()


def column(lines: list[str], header: str, start: str, end: str | None) -> str:
    """The text of one column (from heading ``start`` to heading ``end``), line by line."""
    left = header.index(start)
    right = header.index(end) if end else None
    return " ".join(line[left:right].strip() for line in lines)


def test_the_call_log_reads_at_100_columns(store: Store) -> None:
    lines = rendered(store, 100)
    assert max(len(line) for line in lines) <= 100
    header = next(line for line in lines if "When (UTC)" in line)
    for heading in ("#", "Try", "Tokens", "Cost", "ms", "Result"):
        assert heading in header.split(), heading
    first = next(line for line in lines if "123456→4096" in line)
    assert "$1.2345" in first and " 3 " in first and "123456 " in first
    row = lines[lines.index(first) :]
    call = column(row, header, "Panel / persona", "Try")
    assert "".join(call.split()).startswith(f"{SLUG}/futurist" + "anthropic:claude-sonnet-4-5")
    result = column(row, header, "Result", None)
    assert " ".join(result.split()).startswith(ERROR[:60]), "no word of the result is cut"


def test_panel_logs_prints_the_table(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["logs", "-n", "5"]) == 0
    out = capsys.readouterr().out
    assert "When (UTC)" in out and "solo / -" in out and "fake:ship" in out
