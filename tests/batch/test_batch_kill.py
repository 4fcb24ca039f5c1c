"""A batch killed with SIGKILL halfway, then run again: nothing completed is paid twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from panel.paths import default_db
from panel.store import open_store
from tests.batch.test_batch import write_queue
from tests.fakeserver import FakeServer

LAUNCHES = 30


def start_batch(queue: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "panel", "batch", str(queue), "-c", "3"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_sigkill_halfway_then_resume(tmp_path: Path, fake_server: FakeServer) -> None:
    fake_server.latency = 0.05
    config = tmp_path / "panel.toml"
    config.write_text(
        'model = "anthropic:claude-haiku-4-5"\n[providers.anthropic]\n'
        f'base_url = "{fake_server.url}"\napi_key = "sk-test"\n'
    )
    env = {**os.environ, "PANEL_CONFIG": str(config), "PANEL_DB": str(default_db())}
    queue = write_queue(tmp_path / "queue.jsonl", LAUNCHES)
    proc = start_batch(queue, env)
    deadline = time.monotonic() + 60
    while fake_server.stats()["served"] < LAUNCHES * 4 // 2:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(0.2)  # let the server finish answering what was in flight
    at_kill = fake_server.stats()
    assert 0 < at_kill["served"] < LAUNCHES * 4
    in_flight_max = 3 * 4  # panels at once x personas

    again = start_batch(queue, env)
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    final = fake_server.stats()
    # every request answered before the kill came from the cache the second time, except
    # those whose answer was in flight (sent, not yet stored) when the process died
    assert final["repeated"] <= in_flight_max
    assert (
        final["served"] - at_kill["served"] == LAUNCHES * 4 - at_kill["served"] + final["repeated"]
    )
    store = open_store(default_db())
    panels = store.list_panels()
    assert len(panels) == LAUNCHES
    assert len({p.slug for p in panels}) == LAUNCHES
    assert all(p.verdict_count == 4 for p in panels)
    rows = store.conn.execute("SELECT COUNT(*), COUNT(DISTINCT slug) FROM panels").fetchone()
    assert rows == (LAUNCHES, LAUNCHES)
    assert "Batch: " in out
