"""What a run needs besides the launch (RunContext), built the same way by the CLI and the desk."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from panel.drafting.config import Config, load_config
from panel.drafting.limiter import AdaptiveLimiter
from panel.drafting.models import ModelChoice, default_model
from panel.drafting.prices import PriceTable, price_table
from panel.drafting.progress import Watcher
from panel.drafting.prompts import Prompts, load_prompts
from panel.drafting.retry import DEFAULT_POLICY, RetryPolicy
from panel.drafting.spend import SpendMeter
from panel.providers import registry
from panel.sources.fetch import FetchPolicy
from panel.store import Store

MAX_REASKS = 2


@dataclass
class RunContext:
    """What a panel run needs besides the launch: store, prompts, models, policy."""

    store: Store
    prompts: Prompts
    models: ModelChoice
    editor: str
    policy: RetryPolicy = DEFAULT_POLICY
    """Retries, the rate-limit budget and the review and panel deadlines (panel.toml [retry])."""
    prices: PriceTable = field(default_factory=price_table)
    max_reasks: int = MAX_REASKS
    use_cache: bool = True
    """Answer repeated requests from the response cache (False: --fresh)."""
    limiter: AdaptiveLimiter | None = None
    """Caps calls in flight across panels (batch runs)."""
    spend: SpendMeter | None = None
    """Counts what the run's calls cost as they answer, never past its cap (batch runs)."""
    measure_diversity: bool = True
    """Embed the quotes of each drafted panel and flag collapsed panels (panel[quality])."""
    reviews_done: Callable[[], None] | None = None
    """Called once a panel's reviews are in, before its diversity read (a batch starts
    its next panel then, while this one waits for the embedding model)."""
    fetch_sources: bool = True
    """Read a launch's sources not read yet (False: --no-fetch, only what is stored)."""
    source_policy: FetchPolicy = field(default_factory=FetchPolicy)
    """Limits and allowed private hosts of source fetching (panel.toml [sources])."""
    watcher: Watcher | None = None
    """Hears which reviews a run drafts and when each ends (the CLI's progress display)."""


@dataclass(frozen=True)
class Settings:
    """panel.toml and the environment, read once (per command, or when the desk starts)."""

    config: Config
    prompts: Prompts
    fallback: str
    """The model when nothing else names one (from the API keys present)."""
    notice: str | None
    """Why the fallback was chosen, when the user should know (e.g. no API key)."""


def load_settings() -> Settings:
    """Read panel.toml, configure the providers it names, and pick the fallback model."""
    config = load_config()
    for name, options in config.providers.items():
        registry.configure(name, options)
    fallback, notice = default_model()
    return Settings(config, load_prompts(), fallback, notice)


def build_context(
    store: Store,
    settings: Settings,
    *,
    model: str | None,
    editor: str,
    notify: Callable[[str], None] | None = None,
) -> RunContext:
    """The RunContext of one command or desk action; ``notify`` hears the model notice."""
    config = settings.config
    if settings.notice and not model and not config.model and notify is not None:
        notify(f"notice: {settings.notice}")
    return RunContext(
        store=store,
        prompts=settings.prompts,
        models=ModelChoice(
            explicit=model,
            per_persona=config.personas,
            configured_default=config.model,
            fallback=settings.fallback,
        ),
        editor=editor,
        policy=config.policy,
        source_policy=config.source_policy,
    )
