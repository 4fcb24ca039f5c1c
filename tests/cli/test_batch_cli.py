"""`panel batch` from the command line: the budget against the HTTP test server, Ctrl-C,
and the summary's words."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from panel.cli import main
from panel.paths import default_db
from panel.providers import ModelRequest
from panel.providers.fake import FakeProvider, canned_answer
from panel.store import open_store
from tests.fakeserver import FakeServer

MODEL = "anthropic:claude-haiku-4-5"


def write_queue(path: Path, count: int) -> Path:
    lines = (
        json.dumps({"name": f"Tool {i}", "description": f"Tool number {i}: it does one job."})
        for i in range(count)
    )
    path.write_text("\n".join(lines) + "\n")
    return path


def use_server(tmp_path: Path, server: FakeServer) -> dict[str, str]:
    """panel.toml pointing the anthropic provider at ``server``, and priced calls."""
    prices = tmp_path / "prices.toml"
    prices.write_text(f'[models."{MODEL}"]\ninput = 1.0\noutput = 5.0\n')
    config = tmp_path / "panel.toml"
    config.write_text(
        f'model = "{MODEL}"\n[providers.anthropic]\nbase_url = "{server.url}"\n'
        'api_key = "sk-test"\n'
    )
    return {"PANEL_PRICES": str(prices), "PANEL_CONFIG": str(config)}


def call_log_spend() -> float:
    row = open_store(default_db()).conn.execute("SELECT SUM(cost_usd) FROM calls").fetchone()
    return float(row[0] or 0.0)


@pytest.fixture
def served(tmp_path: Path, fake_server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's environment pointed at the test server, with priced calls."""
    for key, value in use_server(tmp_path, fake_server).items():
        monkeypatch.setenv(key, value)


def test_max_cost_is_never_passed_and_the_spend_printed_is_the_call_logs(
    tmp_path: Path, fake_server: FakeServer, served: None, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_server.latency = 0.05
    # Unusable answers early on: their reviewers are asked again, and pay for it.
    fake_server.script(["not_json", "missing_field", "not_json", "missing_field"])
    queue = write_queue(tmp_path / "queue.jsonl", 12)
    budget = 0.05
    args = ["batch", str(queue), "-c", "3", "--no-diversity", "--max-cost", str(budget)]
    assert main(args) == 0
    out, err = capsys.readouterr()
    spent = call_log_spend()
    assert 0 < spent <= budget
    assert f"${spent:.4f} of ${budget:.2f} spent" in out
    drafted = int(re.search(r"Batch: (\d+) drafted, 0 with failures", out).group(1))  # type: ignore[union-attr]
    assert 0 < drafted < 12, "the budget falls mid-batch"
    assert "Budget: stopped before tool-" in err
    calls = open_store(default_db()).recent_calls(1000)
    assert len(calls) == drafted * 4 + 4, "the four unusable answers were asked again"
    assert sum(r["cost_usd"] for r in calls if r["error"]) > 0, "re-asked answers are paid"


def test_a_budget_below_one_panel_drafts_nothing_and_says_why(
    tmp_path: Path, fake_server: FakeServer, served: None, capsys: pytest.CaptureFixture[str]
) -> None:
    queue = write_queue(tmp_path / "queue.jsonl", 3)
    assert main(["batch", str(queue), "--no-diversity", "--max-cost", "0.001"]) == 0
    out, err = capsys.readouterr()
    assert "Batch: 0 drafted, 0 with failures, 0 already done, of 3" in out
    assert "$0.0000 of $0.00 spent" in out
    assert "Budget: stopped before tool-0: it could cost up to $" in err
    assert fake_server.total == 0


def test_ctrl_c_says_what_was_done_and_how_to_resume(
    tmp_path: Path, fake_server: FakeServer
) -> None:
    env = {**os.environ, **use_server(tmp_path, fake_server), "PANEL_DB": str(default_db())}
    fake_server.latency = 0.3
    queue = write_queue(tmp_path / "queue.jsonl", 12)
    command = [sys.executable, "-m", "panel"]
    args = ["batch", str(queue), "-c", "2", "--no-diversity", "--max-cost", "1"]
    # The child must take SIGINT as Ctrl-C even when this suite was started from a
    # background job (`nohup … &`), whose children inherit an ignored SIGINT.
    proc = subprocess.Popen(
        [*command, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 60
    while fake_server.stats()["served"] < 10:  # two panels done, two in flight
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    lines = {line.split(":")[0]: line for line in out.splitlines() if ":" in line}
    done = int(re.search(r"Interrupted: (\d+) drafted", lines["Interrupted"]).group(1))  # type: ignore[union-attr]
    assert done >= 2
    assert f"${call_log_spend():.4f} of $1.00 spent" in lines["Interrupted"]
    cut = re.search(r"Not finished \((\d+) in flight; their answered calls are cached\): (.+)", out)
    assert cut is not None and int(cut.group(1)) == len(cut.group(2).split(", ")) >= 1
    resume = lines["Resume with"].removeprefix("Resume with: ")
    left = 1 - call_log_spend()
    assert resume == (f"panel batch {queue} --concurrency 2 --max-cost {left:.4f} --no-diversity")
    again = subprocess.run(
        [*command, *shlex.split(resume)[1:]], env=env, capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 0, again.stderr
    assert f"{12 - done} drafted, 0 with failures, {done} already done, of 12" in again.stdout
    assert len(open_store(default_db()).list_panels()) == 12


def flag_the_headline(request: ModelRequest) -> str:
    """A valid ship whose headline says skip: the review is flagged."""
    answer = json.loads(canned_answer("ship", request))
    answer["headline"] = answer["headline"].replace("says ship", "says skip")
    return json.dumps(answer)


def test_summary_counts_flagged_panels_and_names_launches_already_done(
    tmp_path: Path, fake: FakeProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    queue = write_queue(tmp_path / "queue.jsonl", 3)
    fake.script(flag_the_headline)
    assert main(["batch", str(queue), "-m", "fake:ship", "-c", "1", "--no-diversity"]) == 0
    out = capsys.readouterr().out
    assert "Batch: 3 drafted, 0 with failures, 0 already done, of 3 · 1 flagged · " in out
    assert "$0.0000 spent" in out
    assert main(["batch", str(queue), "-m", "fake:ship", "--no-diversity"]) == 0
    out = capsys.readouterr().out
    assert "Batch: 0 drafted, 0 with failures, 3 already done, of 3 · 0 flagged" in out
    assert "skipped" not in out
