"""Prompt caching on a panel: cached share of input tokens, input cost with and without
the cache, and the panel's wall time in units of one call's latency.

Against the HTTP test server, which applies the providers' caching rules (a minimum
cacheable prefix per model, exact prefix match, entries readable once the writing call
has answered, a 5-minute lifetime: tests/fakecache.py). Each case is a fresh panel of four
reviewers on an empty cache:

- ``long``: a launch with two file sources (a developer guide and a changelog, about
  7,000 tokens), where the first reviewer's call writes the shared prefix and the other
  three read it (targets: at least 60% of input tokens from cache, at least 45% less
  input cost);
- ``short``: the example launch without sources (about 900 tokens), too short to cache:
  the four calls go at once (target: wall time at most 1.2 calls).

    .venv/bin/python -m benchmarks.caching [--latency 0.3] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from benchmarks.server import ServerProcess, server_process
from panel.drafting.context import RunContext
from panel.drafting.generate import draft_panel
from panel.drafting.models import ModelChoice
from panel.drafting.personas import load_personas
from panel.drafting.prices import PriceTable, price_table
from panel.drafting.prompts import load_prompts
from panel.launches import load_launch
from panel.providers import registry
from panel.store import Store, open_store

ROOT = Path(__file__).resolve().parent.parent
PAGES = ROOT / "tests" / "sources" / "pages"
SHORT = ROOT / "examples" / "gpt-5-mini-api.yaml"
MODELS = ("anthropic:claude-haiku-4-5", "anthropic:claude-sonnet-4-5", "openai:gpt-5-mini")


def long_launch(folder: Path) -> Path:
    """A launch file with about 7,000 tokens of sources beside it, in ``folder``."""
    for name in ("guide.md", "changelog.md"):
        shutil.copyfile(PAGES / name, folder / name)
    launch = {
        "name": "Quillstream",
        "vendor": "Larkspur",
        "category": "Documentation",
        "entry": "Team plan $24 per seat a month",
        "description": "Docs that follow the code: a bot that proposes doc edits on merge.",
        "sources": [
            {"path": "guide.md", "label": "developer guide"},
            {"path": "changelog.md", "label": "changelog"},
        ],
    }
    path = folder / "quillstream.yaml"
    path.write_text(yaml.safe_dump(launch), "utf-8")
    return path


@dataclass(frozen=True)
class Figures:
    """Token counts and input costs of a set of calls."""

    input_tokens: int
    """Input tokens not read from or written to the cache."""
    cache_read_tokens: int
    cache_write_tokens: int
    input_cost: float
    """USD for the input as billed (cache reads and writes at their prices)."""
    uncached_input_cost: float
    """USD for the same input with every token uncached."""
    calls: int
    """Calls answered by the provider (re-asks included)."""

    @property
    def total_input(self) -> int:
        """Every input token, however billed."""
        return self.input_tokens + self.cache_read_tokens + self.cache_write_tokens

    @property
    def cached_share(self) -> float:
        """The share of input tokens read from the cache."""
        return self.cache_read_tokens / self.total_input if self.total_input else 0.0

    @property
    def input_saving(self) -> float:
        """How much less the input cost than uncached (0.45: 45% less)."""
        if not self.uncached_input_cost:
            return 0.0
        return 1 - self.input_cost / self.uncached_input_cost


def figures(store: Store, prices: PriceTable, slug: str) -> Figures:
    """The figures of the calls of panel ``slug`` in the call log (answered calls only)."""
    rows = store.conn.execute(
        "SELECT model, input_tokens, cache_read_tokens, cache_write_tokens FROM calls "
        "WHERE panel_slug = ? AND cached = 0",
        (slug,),
    ).fetchall()
    fresh = read = write = 0
    cost = uncached = 0.0
    for model, inputs, reads, writes in rows:
        price = prices.price(model)
        if price is None:
            raise SystemExit(f"no price for {model}")
        fresh, read, write = fresh + inputs, read + reads, write + writes
        cost += (inputs * price.input + reads * price.cache_read + writes * price.cache_write) / 1e6
        uncached += (inputs + reads + writes) * price.input / 1e6
    return Figures(fresh, read, write, cost, uncached, len(rows))


async def one_panel(model: str, launch_path: Path, db: Path) -> float:
    """Draft one fresh panel of ``launch_path`` with ``model``; its wall time in seconds."""
    ctx = RunContext(
        store=open_store(db),
        prompts=load_prompts(),
        models=ModelChoice(explicit=model),
        editor="bench",
        use_cache=False,
        measure_diversity=False,
    )
    launch = load_launch(launch_path)
    personas = load_personas()
    started = time.perf_counter()
    await draft_panel(ctx, launch, personas, redraft=True)
    return time.perf_counter() - started


async def measure_model(
    model: str, cases: dict[str, Path], server: ServerProcess, folder: Path, runs: int
) -> dict[str, tuple[list[float], Path]]:
    """Each case ``runs`` times on an empty cache, after a warm-up: wall times and a db."""
    provider = model.partition(":")[0]
    base_url = server.url if provider == "anthropic" else server.openai_url
    registry.configure(provider, {"api_key": "bench", "base_url": base_url})
    await one_panel(model, SHORT, folder / "warm.db")  # imports, connections: not counted
    out: dict[str, tuple[list[float], Path]] = {}
    for case, path in cases.items():
        walls: list[float] = []
        for run in range(runs):
            server.reset_cache()
            db = folder / f"{model.replace(':', '-')}-{case}-{run}.db"
            walls.append(await one_panel(model, path, db))
        out[case] = (walls, db)
    await registry.get_provider(provider).aclose()
    return out


def main() -> None:
    """Run each model on the long and the short launch and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--latency", type=float, default=0.3)
    parser.add_argument("--runs", type=int, default=3, help="panels per case (median wall)")
    args = parser.parse_args()
    prices = price_table()
    with server_process(latency=args.latency) as server, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        cases = {"long": long_launch(folder), "short": SHORT}
        print(f"caching call_latency={args.latency:.3f}s runs={args.runs} (fresh cache each run)")
        for model in MODELS:
            measured = asyncio.run(measure_model(model, cases, server, folder, args.runs))
            for case, (walls, db) in measured.items():
                got = figures(open_store(db), prices, load_launch(cases[case]).slug)
                ratio = statistics.median(walls) / args.latency
                print(
                    f"{model:28} {case:5} input={got.total_input:6,} tok  "
                    f"cached={got.cached_share:5.1%}  input cost ${got.input_cost:.5f} "
                    f"vs ${got.uncached_input_cost:.5f} uncached ({got.input_saving:5.1%} less)  "
                    f"calls={got.calls}  wall={ratio:.2f}x one call"
                )
        print(
            "targets: long cached >= 60% and >= 45% less on haiku-4-5 and gpt-5-mini; "
            "short wall <= 1.2x one call"
        )


if __name__ == "__main__":
    main()
