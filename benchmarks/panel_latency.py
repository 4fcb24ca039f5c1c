"""Panel wall time vs one call's latency, against the HTTP test server at a fixed 300 ms.

A panel of four personas runs its calls concurrently, so it should take about as long
as its slowest call: the printed ratio (median panel wall time / 300 ms) should be at
most 1.2; a sequential loop would be 4.0.

    .venv/bin/python -m benchmarks.panel_latency [--runs 15] [--provider anthropic]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
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
MODELS = {"anthropic": "anthropic:claude-haiku-4-5", "openai": "openai:gpt-5-mini"}


async def measure(
    provider: str, runs: int, server: ServerProcess, db: Path, diversity: bool = False
) -> list[float]:
    """Wall time of ``runs`` panels (fresh calls, no cache)."""
    base_url = server.url if provider == "anthropic" else server.openai_url
    registry.configure(provider, {"api_key": "bench", "base_url": base_url})
    store = open_store(db)
    ctx = RunContext(
        store=store,
        prompts=load_prompts(),
        models=ModelChoice(explicit=MODELS[provider]),
        editor="bench",
        use_cache=False,
        measure_diversity=diversity,
    )
    launch = load_launch(ROOT / "examples" / "gpt-5-mini-api.yaml")
    personas = load_personas()
    await draft_panel(ctx, launch, personas)  # warm-up: connections, imports
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        await draft_panel(ctx, launch, personas)
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    """Run the benchmark and print the ratio."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--provider", choices=sorted(MODELS), default="anthropic")
    parser.add_argument(
        "--diversity",
        choices=["on", "off"],
        default="off",
        help="also embed the four quotes after the calls (the quality extra's diversity read)",
    )
    args = parser.parse_args()
    with server_process(latency=LATENCY) as server, tempfile.TemporaryDirectory() as tmp:
        times = asyncio.run(
            measure(
                args.provider, args.runs, server, Path(tmp) / "bench.db", args.diversity == "on"
            )
        )
    median = statistics.median(times)
    print(
        f"panel_latency provider={args.provider} diversity={args.diversity} runs={args.runs} "
        f"call_latency={LATENCY:.3f}s "
        f"median_panel={median:.3f}s min={min(times):.3f}s max={max(times):.3f}s"
    )
    print(f"ratio (median panel / one call) = {median / LATENCY:.2f}  (target <= 1.2)")


if __name__ == "__main__":
    main()
