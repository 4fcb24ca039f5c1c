"""Panel wall time vs one call's latency, the framework's overhead per call, and a fresh
process's first `panel draft`, against the HTTP test server (in a process of its own).

1. Latency: a panel of four personas runs its calls concurrently, so at 300 ms a call it
   should take about as long as its slowest call: the printed ratio (median panel wall
   time / 300 ms) should be at most 1.15; a sequential loop would be 4.0.
2. Overhead: the same panels against an instant server (latency 0): median panel wall
   time / the calls of a panel, in ms per call: render, HTTP, parse, validate, store, log
   (and, with the diversity read on, embedding the quotes). Target: <= 2 ms off, <= 4 ms on.
3. First draft: the wall time of a fresh ``python -m panel draft`` against the instant
   server (every import and load included, a new database), diversity on and off; target
   <= 2 s with it on. ``panel --help`` is timed too: the CLI starting and nothing else.

    .venv/bin/python -m benchmarks.panel_latency [--runs 15] [--provider anthropic]
        [--diversity on] [--first-runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.server import ServerProcess, server_process
from panel.drafting.context import RunContext
from panel.drafting.generate import draft_panel
from panel.drafting.models import ModelChoice
from panel.drafting.personas import load_personas
from panel.drafting.prompts import load_prompts
from panel.launches import load_launch
from panel.providers import registry
from panel.store import open_store

LATENCY = 0.3
ROOT = Path(__file__).resolve().parent.parent
LAUNCH = ROOT / "examples" / "gpt-5-mini-api.yaml"
MODELS = {"anthropic": "anthropic:claude-haiku-4-5", "openai": "openai:gpt-5-mini"}
SETTINGS = {"on": True, "off": False}


@dataclass(frozen=True)
class Timing:
    """Wall times of the panels of one measurement and the calls they made."""

    times: list[float]
    calls: int
    cpu: float
    """CPU seconds this process spent over the panels (the server's are not counted)."""

    @property
    def median(self) -> float:
        """The median panel wall time in seconds."""
        return statistics.median(self.times)

    def summary(self) -> str:
        """Median, min and max panel wall time."""
        low, high = min(self.times), max(self.times)
        return f"median_panel={self.median:.3f}s min={low:.3f}s max={high:.3f}s"

    def ms_per_call(self) -> float:
        """Median panel wall time over the calls of one panel, in milliseconds."""
        return self.median * 1000 / (self.calls / len(self.times))

    def cpu_ms_per_call(self) -> float:
        """This process's CPU time per call, in milliseconds (steadier on a busy machine)."""
        return self.cpu * 1000 / self.calls


async def measure(
    provider: str, runs: int, server: ServerProcess, db: Path, diversity: bool = False
) -> Timing:
    """Wall time of ``runs`` panels (fresh calls, no cache) after a warm-up panel."""
    base_url = server.url if provider == "anthropic" else server.openai_url
    registry.configure(provider, {"api_key": "bench", "base_url": base_url})
    ctx = RunContext(
        store=open_store(db),
        prompts=load_prompts(),
        models=ModelChoice(explicit=MODELS[provider]),
        editor="bench",
        use_cache=False,
        measure_diversity=diversity,
    )
    launch = load_launch(LAUNCH)
    personas = load_personas()
    await draft_panel(ctx, launch, personas)  # warm-up: connections, imports, the model
    served = server.stats()["served"]
    times = []
    cpu = time.process_time()
    for _ in range(runs):
        started = time.perf_counter()
        await draft_panel(ctx, launch, personas)
        times.append(time.perf_counter() - started)
    cpu = time.process_time() - cpu
    calls = int(server.stats()["served"]) - int(served)
    ctx.store.close()
    return Timing(times, calls, cpu)


def timed(command: list[str], env: dict[str, str]) -> float:
    """Wall time of a subprocess run from the project folder; it must succeed."""
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {done.returncode}: {done.stderr[-2000:]}")
    return wall


def first_draft(server: ServerProcess, tmp: Path, diversity: bool) -> float:
    """Wall time of a fresh process's `panel draft` into a new database (no cache)."""
    db = Path(tempfile.mkdtemp(dir=tmp)) / "first.db"
    config = tmp / "panel.toml"
    config.write_text("")  # nothing from a panel.toml of the project folder
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PANEL_", "ANTHROPIC_"))}
    env |= {
        "ANTHROPIC_API_KEY": "bench",
        "ANTHROPIC_BASE_URL": server.url,
        "PANEL_DB": str(db),
        "PANEL_CONFIG": str(config),
    }
    command = [sys.executable, "-m", "panel", "draft", str(LAUNCH), "-m", MODELS["anthropic"]]
    wall = timed(command + ([] if diversity else ["--no-diversity"]), env)
    with open_store(db) as store:
        measured = store.get_panel(load_launch(LAUNCH).slug).diversity is not None
    if measured != diversity:
        raise RuntimeError(f"first draft: diversity measured={measured}, expected {diversity}")
    return wall


def print_latency(providers: list[str], settings: list[str], runs: int, tmp: Path) -> None:
    """Part 1: panel wall time over one call's latency, per provider and diversity setting."""
    with server_process(latency=LATENCY) as server:
        for provider in providers:
            for setting in settings:
                db = tmp / f"latency-{provider}-{setting}.db"
                timing = asyncio.run(measure(provider, runs, server, db, SETTINGS[setting]))
                print(
                    f"panel_latency provider={provider} diversity={setting} runs={runs} "
                    f"call_latency={LATENCY:.3f}s {timing.summary()} "
                    f"ratio={timing.median / LATENCY:.2f} (target <= 1.15)"
                )


def print_overhead(providers: list[str], settings: list[str], runs: int, tmp: Path) -> None:
    """Part 2: the framework's milliseconds per call against an instant server."""
    with server_process(latency=0.0) as instant:
        for provider in providers:
            for setting in settings:
                db = tmp / f"overhead-{provider}-{setting}.db"
                timing = asyncio.run(measure(provider, runs, instant, db, SETTINGS[setting]))
                target = 4 if SETTINGS[setting] else 2
                print(
                    f"framework overhead provider={provider} diversity={setting}: "
                    f"{timing.ms_per_call():.2f} ms/call (target <= {target}; client CPU "
                    f"{timing.cpu_ms_per_call():.2f} ms/call; "
                    f"{timing.calls / len(timing.times):.1f} calls a panel, {timing.summary()})"
                )


def print_first_draft(settings: list[str], runs: int, tmp: Path) -> None:
    """Part 3: a fresh process's `panel draft` (and `panel --help`) against an instant server."""
    command = [sys.executable, "-m", "panel", "--help"]
    helps = [timed(command, dict(os.environ)) for _ in range(runs)]
    print(f"CLI start-up (python -m panel --help): median {statistics.median(helps):.2f}s")
    with server_process(latency=0.0) as instant:
        for setting in settings:
            walls = [first_draft(instant, tmp, SETTINGS[setting]) for _ in range(runs)]
            goal = " (target <= 2 s)" if SETTINGS[setting] else ""
            print(
                f"fresh process first panel draft diversity={setting}: median "
                f"{statistics.median(walls):.2f}s min={min(walls):.2f}s max={max(walls):.2f}s "
                f"runs={runs}{goal}"
            )


def main() -> None:
    """Run the three parts and print their figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15, help="panels per measurement")
    parser.add_argument("--provider", choices=sorted(MODELS), help="only this one (default: both)")
    parser.add_argument(
        "--diversity",
        choices=sorted(SETTINGS),
        help="the diversity read (embedding the four quotes) only on or off (default: both)",
    )
    parser.add_argument("--first-runs", type=int, default=3, help="fresh processes per figure")
    args = parser.parse_args()
    providers = [args.provider] if args.provider else sorted(MODELS)
    settings = [args.diversity] if args.diversity else sorted(SETTINGS, reverse=True)
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        print_latency(providers, settings, args.runs, tmp)
        print_overhead(providers, settings, args.runs, tmp)
        print_first_draft(settings, args.first_runs, tmp)


if __name__ == "__main__":
    main()
