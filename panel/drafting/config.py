"""Optional ``panel.toml``: default model, per-persona models, provider options.

Looked up at $PANEL_CONFIG, else ./panel.toml. Example::

    model = "anthropic:claude-haiku-4-5"     # default for every persona

    [personas]                              # a jury from several model families
    skeptic = "openai:gpt-5-mini"

    [providers.openai]                      # any OpenAI-compatible server
    base_url = "http://127.0.0.1:8080/v1"
    mode = "auto"                           # json_schema, falling back to json_object

    [retry]                                 # the retry policy (panel.retry.RetryPolicy)
    rate_limit_budget_seconds = 120         # waiting out 429/529s, per review
    review_deadline_seconds = 300           # one review, every retry and re-ask included
    panel_deadline_seconds = 600            # the reviews of one panel

    require_verified_claims = true          # approval waits for every claim to be checked

    [site]                                  # the published site
    base_url = "https://reviews.example.com/"   # the feed's absolute links (--base-url wins)
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from panel.drafting.personas import load_personas
from panel.drafting.retry import DEFAULT_POLICY, RetryPolicy
from panel.errors import UsageError
from panel.providers import registry
from panel.sources.fetch import FetchPolicy

KNOWN_KEYS = {
    "model",
    "personas",
    "providers",
    "retry",
    "require_verified_claims",
    "sources",
    "site",
}
SITE_KEYS = ["base_url"]


@dataclass(frozen=True)
class Config:
    """The settings of panel.toml (all optional)."""

    model: str | None = None
    personas: dict[str, str] = field(default_factory=dict)
    providers: dict[str, dict[str, Any]] = field(default_factory=dict)
    path: Path | None = None
    policy: RetryPolicy = DEFAULT_POLICY
    """The retry policy, from the defaults and the ``[retry]`` table."""
    require_verified_claims: bool = True
    """Approval is refused while a review has claims to verify (unless this is false)."""
    source_policy: FetchPolicy = field(default_factory=FetchPolicy)
    """Source fetching: ``[sources] allow_hosts`` (private hosts an intranet may use)."""
    site_url: str | None = None
    """``[site] base_url``: the published site's address, for the feed's absolute links."""


def config_path() -> Path | None:
    """$PANEL_CONFIG (which must exist), else ./panel.toml when present."""
    env = os.environ.get("PANEL_CONFIG")
    if env:
        return Path(env)
    local = Path("panel.toml")
    return local if local.is_file() else None


def load_config(path: Path | None = None) -> Config:
    """Read and check the config; a problem names the file and key."""
    path = path or config_path()
    if path is None:
        return Config()
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{path}: config file not found (PANEL_CONFIG)") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: invalid TOML: {exc}") from None
    unknown = set(data) - KNOWN_KEYS
    if unknown:
        raise UsageError(
            f"{path}: unknown key {sorted(unknown)[0]!r} (allowed: {', '.join(sorted(KNOWN_KEYS))})"
        )
    model = data.get("model")
    personas = data.get("personas", {})
    providers = data.get("providers", {})
    if model is not None and not isinstance(model, str):
        raise UsageError(f"{path}: model must be a string like 'local:smollm2'")
    if not isinstance(personas, dict) or not all(isinstance(v, str) for v in personas.values()):
        raise UsageError(f"{path}: [personas] maps persona ids to model ids (strings)")
    if not isinstance(providers, dict) or not all(isinstance(v, dict) for v in providers.values()):
        raise UsageError(f"{path}: [providers.NAME] tables hold provider options")
    for name, options in providers.items():
        check_keys(path, f"[providers.{name}]", options, provider_options(path, name))
    check_keys(path, "[personas]", personas, [p.id for p in load_personas()])
    policy = retry_policy(path, data.get("retry", {}))
    require_verified = data.get("require_verified_claims", True)
    if not isinstance(require_verified, bool):
        raise UsageError(f"{path}: require_verified_claims must be true or false")
    return Config(
        model,
        dict(personas),
        {k: dict(v) for k, v in providers.items()},
        path,
        policy,
        require_verified,
        source_policy(path, data.get("sources", {})),
        site_url(path, data.get("site", {})),
    )


def site_url(path: Path, table: object) -> str | None:
    """``[site] base_url``: a string (publishing checks it is an http(s) URL), or None."""
    if not isinstance(table, dict):
        raise UsageError(f"{path}: [site] must be a table")
    check_keys(path, "[site]", table, SITE_KEYS)
    url = table.get("base_url")
    if url is not None and not (isinstance(url, str) and url):
        raise UsageError(f"{path}: [site] base_url must be a URL like 'https://example.com/'")
    return url


SOURCE_KEYS = ["allow_hosts", "max_bytes", "total_seconds"]


def source_policy(path: Path, table: object) -> FetchPolicy:
    """``[sources]``: ``allow_hosts`` (names or addresses fetched even though private or
    loopback), ``max_bytes`` and ``total_seconds`` (limits of one fetch)."""
    if not isinstance(table, dict):
        raise UsageError(f"{path}: [sources] must be a table")
    check_keys(path, "[sources]", table, SOURCE_KEYS)
    hosts = table.get("allow_hosts", [])
    if not isinstance(hosts, list) or not all(isinstance(h, str) and h for h in hosts):
        raise UsageError(f"{path}: [sources] allow_hosts is a list of host names or addresses")
    limits: dict[str, Any] = {}
    for key, kind in (("max_bytes", int), ("total_seconds", (int, float))):
        if key in table:
            value = table[key]
            if isinstance(value, bool) or not isinstance(value, kind) or value <= 0:
                raise UsageError(f"{path}: [sources] {key} must be a positive number")
            limits[key] = value
    return FetchPolicy(allow_hosts=frozenset(h.lower() for h in hosts), **limits)


def check_keys(path: Path, table: str, values: dict[str, Any], allowed: list[str]) -> None:
    """A key of ``table`` that is not ``allowed`` is an error naming it and the keys allowed."""
    for key in values:
        if key not in allowed:
            raise UsageError(
                f"{path}: unknown key {key!r} in {table} (allowed: {', '.join(allowed)})"
            )


def provider_options(path: Path, name: str) -> list[str]:
    """The options provider ``name`` takes; an unknown provider names the known ones."""
    if name not in registry.available():
        known = ", ".join(registry.available())
        raise UsageError(f"{path}: unknown provider [providers.{name}] (known: {known})")
    return registry.option_names(name)


def retry_policy(path: Path, table: object) -> RetryPolicy:
    """The default policy with the ``[retry]`` table's values; each must be a positive number."""
    if not isinstance(table, dict):
        raise UsageError(f"{path}: [retry] is a table of retry settings")
    known = {f.name for f in fields(RetryPolicy)}
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in known:
            raise UsageError(
                f"{path}: unknown key {key!r} in [retry] (allowed: {', '.join(sorted(known))})"
            )
        default = getattr(DEFAULT_POLICY, key)
        whole = isinstance(value, int) and not isinstance(value, bool)
        number = whole or isinstance(value, float)
        if not number or value <= 0 or (isinstance(default, int) and not whole):
            kind = "a whole number" if isinstance(default, int) else "a number of seconds"
            raise UsageError(f"{path}: [retry] {key} must be {kind} above 0, like {default!r}")
        values[key] = type(default)(value)
    return replace(DEFAULT_POLICY, **values)
