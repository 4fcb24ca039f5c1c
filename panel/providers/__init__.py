"""Model providers, keyed by model ids of the form ``provider:model``."""

from panel.providers.base import (
    AnswerError,
    Message,
    ModelRequest,
    ModelResponse,
    Provider,
    ProviderError,
)
from panel.providers.registry import available, get_provider, parse_model_id, register

__all__ = [
    "AnswerError",
    "Message",
    "ModelRequest",
    "ModelResponse",
    "Provider",
    "ProviderError",
    "available",
    "get_provider",
    "parse_model_id",
    "register",
]
