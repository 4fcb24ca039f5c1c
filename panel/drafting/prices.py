"""The price table and the cost of a call: the one place money is computed."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from panel.errors import UsageError
from panel.store.costs import CachedCall

DEFAULT_PRICES = Path(__file__).resolve().parent.parent / "data" / "prices.toml"


@dataclass(frozen=True)
class Price:
    """USD per million tokens."""

    input: float
    output: float
    cache_read: float = 0.0
    cache_write: float = 0.0
    cache_min_tokens: int = 0
    """The shortest prefix the provider caches for this model; 0: never cached."""


@dataclass(frozen=True)
class PriceTable:
    """Prices by model id, with provider wildcards."""

    models: dict[str, Price]
    batch_discount: float = 0.5

    def price(self, model_id: str) -> Price | None:
        """The price of ``model_id`` (exact id, then ``provider:*``), or None."""
        provider = model_id.partition(":")[0]
        return self.models.get(model_id) or self.models.get(f"{provider}:*")

    def cost(
        self,
        model_id: str,
        *,
        input_tokens: int = 0,
        output_tokens: int = 0,
        cache_read_tokens: int = 0,
        cache_write_tokens: int = 0,
        batch: bool = False,
    ) -> float:
        """USD for one call; unknown models cost 0 (and `panel costs` flags them)."""
        price = self.price(model_id)
        if price is None:
            return 0.0
        total = (
            input_tokens * price.input
            + output_tokens * price.output
            + cache_read_tokens * price.cache_read
            + cache_write_tokens * price.cache_write
        ) / 1_000_000
        return total * (self.batch_discount if batch else 1.0)

    def most(self, model_id: str, *, input_tokens: int, output_tokens: int) -> float:
        """The most a call of ``model_id`` with these tokens can cost, whatever the prompt
        cache does (every input token at the dearest of the input, cache read and cache
        write prices); 0 for an unknown model."""
        price = self.price(model_id)
        if price is None:
            return 0.0
        dearest = max(price.input, price.cache_read, price.cache_write)
        return (input_tokens * dearest + output_tokens * price.output) / 1_000_000

    def cache_saving(self, call: CachedCall) -> float:
        """USD ``call`` saved through the prompt cache: its cost with every input token
        uncached, less its cost as billed (at the discount it was billed at, e.g. batch)."""
        billed = self.cost(
            call.model,
            input_tokens=call.input_tokens,
            output_tokens=call.output_tokens,
            cache_read_tokens=call.cache_read_tokens,
            cache_write_tokens=call.cache_write_tokens,
        )
        if billed <= 0:
            return 0.0
        everything = call.input_tokens + call.cache_read_tokens + call.cache_write_tokens
        uncached = self.cost(call.model, input_tokens=everything, output_tokens=call.output_tokens)
        return (uncached - billed) * (call.cost_usd / billed)


def parse_prices(path: Path) -> PriceTable:
    """Read a price table file; a bad entry names the file and model."""
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{path}: price table not found (PANEL_PRICES)") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: invalid TOML: {exc}") from None
    models: dict[str, Price] = {}
    for model_id, entry in data.get("models", {}).items():
        try:
            minimum = int(entry.pop("cache_min_tokens", 0))
            prices = {k: float(v) for k, v in entry.items()}
            models[model_id] = Price(**prices, cache_min_tokens=max(0, minimum))
        except (TypeError, ValueError) as exc:
            raise UsageError(f"{path}: models.{model_id}: {exc}") from None
    return PriceTable(models, float(data.get("batch_discount", 0.5)))


@cache
def _cached(path: Path) -> PriceTable:
    return parse_prices(path)


def price_table() -> PriceTable:
    """The active price table: $PANEL_PRICES or the bundled one."""
    return _cached(Path(os.environ.get("PANEL_PRICES") or DEFAULT_PRICES))
