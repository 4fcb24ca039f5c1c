"""OpenAI and compatible servers (``wire`` format, ``client``, the Batch API ``batch``)."""

from panel.providers.openai.client import NO_KEY, Api, Mode, OpenAIProvider

__all__ = ["NO_KEY", "Api", "Mode", "OpenAIProvider"]
