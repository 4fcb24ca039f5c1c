"""Provider registry: ``provider:model`` ids resolved to provider instances."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import Any

from panel.errors import UsageError
from panel.providers.base import Provider

Factory = Callable[..., Provider]

# Built-ins are named by module so that each SDK is imported only when used.
_BUILTIN: dict[str, str] = {
    "local": "panel.providers.local:LocalProvider",
    "anthropic": "panel.providers.anthropic.client:AnthropicProvider",
    "openai": "panel.providers.openai.client:OpenAIProvider",
    "fake": "panel.providers.fake:FakeProvider",
}
_factories: dict[str, Factory] = {}
_instances: dict[str, Provider] = {}
_options: dict[str, dict[str, Any]] = {}


def register(name: str, factory: Factory) -> None:
    """Register (or replace) a provider under ``name``."""
    _factories[name] = factory
    _instances.pop(name, None)


def configure(name: str, options: dict[str, Any]) -> None:
    """Options passed to provider ``name``'s constructor (e.g. base_url) from now on."""
    if options != _options.get(name, {}):
        _options[name] = dict(options)
        _instances.pop(name, None)


def unregister(name: str) -> None:
    """Remove a registered provider (tests use this to clean up)."""
    _factories.pop(name, None)
    _instances.pop(name, None)


def available() -> list[str]:
    """Names of all known providers."""
    return sorted(set(_BUILTIN) | set(_factories))


def parse_model_id(model_id: str) -> tuple[str, str]:
    """Split ``provider:model``; a bad id is a UsageError that names the fix."""
    provider, sep, model = model_id.partition(":")
    if not sep or not provider or not model:
        raise UsageError(
            f"model id {model_id!r} must look like provider:model, e.g. local:smollm2 "
            f"(providers: {', '.join(available())})"
        )
    if provider not in _factories and provider not in _BUILTIN:
        raise UsageError(
            f"unknown provider {provider!r} in {model_id!r}; use one of {', '.join(available())}"
        )
    return provider, model


def _load_builtin(name: str) -> Factory:
    module_name, _, attr = _BUILTIN[name].partition(":")
    cls: Factory = getattr(importlib.import_module(module_name), attr)
    return cls


def option_names(name: str) -> list[str]:
    """The options provider ``name`` takes (its constructor's keyword parameters)."""
    factory = _factories.get(name) or _load_builtin(name)
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    parameters = inspect.signature(factory).parameters.values()
    return sorted(p.name for p in parameters if p.kind in kinds)


def get_provider(name: str) -> Provider:
    """The process-wide instance of provider ``name`` (created on first use)."""
    if name not in _instances:
        factory = _factories.get(name) or _load_builtin(name)
        try:
            _instances[name] = factory(**_options.get(name, {}))
        except TypeError as exc:
            raise UsageError(f"provider {name!r}: bad option in panel.toml ({exc})") from None
    return _instances[name]


def reset() -> None:
    """Forget provider instances and options (they are created again on next use)."""
    _instances.clear()
    _options.clear()
