"""Panels on the bundled local model: every launch of examples/, four reviewers each.

Prints, per launch and run, the panel's wall time, its valid reviews of four, the re-asks,
and the tokens: prompt tokens llama.cpp evaluated and kept from the call before (its KV
cache), tokens the model sampled. Then the median wall time (target: at most 20 s on
two cores, 4 of 4 valid). The model is loaded (and requantized, the first time) before
the clock starts, as after ``bash scripts/demo``'s set-up; the diversity read is off, as
in the demo (whose set-up has no quality extra).

    .venv/bin/python -m benchmarks.local_panel [--runs 3] [--diversity on] [--threads N]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from panel.drafting.context import RunContext
from panel.drafting.generate import draft_panel, first_review_request
from panel.drafting.models import LOCAL_MODEL, ModelChoice
from panel.drafting.personas import load_personas
from panel.drafting.prompts import load_prompts
from panel.launches import load_launch
from panel.providers import get_provider, parse_model_id, registry
from panel.store import Store, open_store

ROOT = Path(__file__).resolve().parent.parent
REVIEWERS = 4


def calls_of(store: Store, count: int) -> tuple[int, int, int]:
    """(prompt tokens evaluated, kept from the KV cache, sampled) over the last calls."""
    rows = store.recent_calls(count)
    return (
        sum(r["input_tokens"] for r in rows),
        sum(r["cache_read_tokens"] for r in rows),
        sum(r["output_tokens"] for r in rows),
    )


async def draft_all(runs: int, db: Path, diversity: bool) -> list[float]:
    """Draft every example launch ``runs`` times; print a line a panel; the wall times."""
    store = open_store(db)
    ctx = RunContext(
        store=store,
        prompts=load_prompts(),
        models=ModelChoice(explicit=LOCAL_MODEL),
        editor="bench",
        use_cache=False,
        measure_diversity=diversity,
    )
    personas = load_personas()[:REVIEWERS]
    launches = [load_launch(path) for path in sorted((ROOT / "examples").glob("*.yaml"))]
    provider, model = parse_model_id(LOCAL_MODEL)
    warm = time.perf_counter()
    request = first_review_request(ctx, personas[0], launches[0])
    get_provider(provider).estimate_seconds(model, [request])  # loads the model
    print(f"model loaded in {time.perf_counter() - warm:.1f} s (not counted)")
    times = []
    for run in range(1, runs + 1):
        for launch in launches:
            started = time.perf_counter()
            panel = await draft_panel(ctx, launch, personas, redraft=True)
            seconds = time.perf_counter() - started
            times.append(seconds)
            valid = sum(1 for r in panel.reviews if not r.failed)
            attempts = sum(r.provenance.attempts for r in panel.reviews if r.provenance)
            evaluated, kept, sampled = calls_of(store, attempts)
            print(
                f"run {run} {launch.slug}: {seconds:.1f} s, {valid}/{len(panel.reviews)} valid, "
                f"{attempts - len(panel.reviews)} re-asks, prompt tokens {evaluated} evaluated "
                f"+ {kept} kept, {sampled} sampled"
            )
    store.close()
    return times


def main() -> None:
    """Run the benchmark and print the median."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--diversity",
        choices=["on", "off"],
        default="off",
        help="also embed the four quotes after the calls (the quality extra's diversity read)",
    )
    parser.add_argument("--threads", type=int, help="threads that decode a token (one at a time)")
    parser.add_argument("--batch-threads", type=int, help="threads that evaluate a prompt")
    args = parser.parse_args()
    options = {"threads": args.threads, "batch_threads": args.batch_threads}
    registry.configure("local", {k: v for k, v in options.items() if v})
    with tempfile.TemporaryDirectory() as tmp:
        times = asyncio.run(draft_all(args.runs, Path(tmp) / "bench.db", args.diversity == "on"))
    print(
        f"local_panel runs={args.runs} panels={len(times)} diversity={args.diversity}: "
        f"median {statistics.median(times):.1f} s, min {min(times):.1f} s, "
        f"max {max(times):.1f} s (target: at most 20 s)"
    )


if __name__ == "__main__":
    main()
