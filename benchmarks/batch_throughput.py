"""Batch throughput against a rate-limited HTTP test server, and per-call overhead.

Part 1: 200 launches (800 calls) against the test server at 200 ms latency and a
3,000-requests-per-minute limit (429 + retry-after past it). The ceiling is 800 calls
at 50/s = 16 s; the printed ratio (wall time / 16 s) should be at most 1.1 with the
diversity read on (`panel batch`'s default) and 1.05 with it off (`--no-diversity`),
with every panel stored, no review failed and no call answered twice.

Part 2: the framework's own cost per call (render, HTTP, parse, validate, store, log, and
the diversity read when on) against an instant server, in milliseconds per call.

Both parts run with the diversity read on, then off, unless ``--diversity`` picks one.

    .venv/bin/python -m benchmarks.batch_throughput [--launches 200] [--concurrency 4]
        [--diversity on|off]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

from benchmarks.server import ServerProcess, server_process
from panel.batch.run import Progress, run_batch
from panel.drafting.context import RunContext
from panel.drafting.limiter import AdaptiveLimiter
from panel.drafting.models import ModelChoice
from panel.drafting.personas import load_personas
from panel.drafting.prompts import load_prompts
from panel.providers import registry
from panel.store import open_store

RPM = 3000
LATENCY = 0.2


def write_queue(path: Path, count: int) -> Path:
    """A JSONL queue of ``count`` distinct launches."""
    with path.open("w") as handle:
        for i in range(count):
            launch = {
                "name": f"Bench Tool {i}",
                "category": "Developer Tools",
                "entry": "Freemium",
                "description": f"Benchmark launch number {i}: a tool that does one thing well.",
            }
            handle.write(json.dumps(launch) + "\n")
    return path


async def run(
    server: ServerProcess, queue: Path, db: Path, concurrency: int, diversity: bool
) -> Progress:
    """Draft the queue through the anthropic provider against ``server``."""
    registry.reset()
    registry.configure("anthropic", {"api_key": "bench", "base_url": server.url})
    personas = load_personas()
    ctx = RunContext(
        store=open_store(db),
        prompts=load_prompts(),
        models=ModelChoice(explicit="anthropic:claude-haiku-4-5"),
        editor="bench",
        limiter=AdaptiveLimiter(concurrency * len(personas)),
        measure_diversity=diversity,
    )
    result = await run_batch(ctx, queue, personas, concurrency=concurrency)
    ctx.store.close()
    return result


SETTINGS = {"on": True, "off": False}
TARGETS = {"on": 1.1, "off": 1.05}


def measure(launches: int, concurrency: int, setting: str) -> None:
    """Both parts for one diversity setting, with their figures printed."""
    diversity = SETTINGS[setting]
    calls = launches * len(load_personas())
    ceiling = calls / (RPM / 60)
    with tempfile.TemporaryDirectory() as tmp:
        queue = write_queue(Path(tmp) / "queue.jsonl", launches)
        with server_process(latency=LATENCY, rpm=RPM) as server:
            started = time.perf_counter()
            result = asyncio.run(run(server, queue, Path(tmp) / "a.db", concurrency, diversity))
            wall = time.perf_counter() - started
            stats = server.stats()
        panels = open_store(Path(tmp) / "a.db").list_panels()
        stored = len(panels)
        failed_reviews = sum(r.failed for p in panels for r in p.reviews)
        measured = sum(p.diversity is not None for p in panels)
        print(
            f"batch_throughput launches={launches} calls={calls} latency={LATENCY}s "
            f"rpm={RPM} concurrency={concurrency} diversity={setting}"
        )
        print(
            f"wall={wall:.2f}s ceiling={ceiling:.1f}s drafted={result.done} failed={result.failed} "
            f"stored={stored} failed_reviews={failed_reviews} served={stats['served']} "
            f"rate_limited={stats['rate_limited']} repeated={stats['repeated']} "
            f"diversity_measured={measured}"
        )
        print(
            f"ratio (wall / rate-limit ceiling) = {wall / ceiling:.3f}  "
            f"(target <= {TARGETS[setting]})"
        )
        with server_process(latency=0.0) as instant:
            started = time.perf_counter()
            cpu = time.process_time()
            asyncio.run(run(instant, queue, Path(tmp) / "b.db", concurrency, diversity))
            cpu = time.process_time() - cpu
            overhead = time.perf_counter() - started
        print(
            f"framework overhead against an instant server: {overhead * 1000 / calls:.2f} ms/call "
            f"(client CPU {cpu * 1000 / calls:.2f} ms/call; {calls} calls in {overhead:.2f}s, "
            "HTTP round trip included)"
        )


def main() -> None:
    """Run both parts for each diversity setting and print their figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--launches", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=4, help="panels at once")
    parser.add_argument(
        "--diversity",
        choices=sorted(SETTINGS),
        help="only with the embedding model's diversity read on (`panel batch` default) or "
        "off (`--no-diversity`); default: both",
    )
    args = parser.parse_args()
    for setting in [args.diversity] if args.diversity else ["on", "off"]:
        measure(args.launches, args.concurrency, setting)


if __name__ == "__main__":
    main()
