"""Anthropic: Claude over the Messages API (``wire`` format, ``client``, Message ``batch``)."""

from panel.providers.anthropic.client import NO_KEY, AnthropicProvider, Structured

__all__ = ["NO_KEY", "AnthropicProvider", "Structured"]
