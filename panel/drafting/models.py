"""Which model each persona uses: flag, config, persona file, then the keys present."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from panel.providers import parse_model_id
from panel.records import Persona

LOCAL_MODEL = "local:smollm2"
KEYED_DEFAULTS = (
    ("ANTHROPIC_API_KEY", "anthropic:claude-haiku-4-5"),
    ("OPENAI_API_KEY", "openai:gpt-5-mini"),
)


def default_model() -> tuple[str, str | None]:
    """The default model from the API keys present, and a notice when none is."""
    for env, model in KEYED_DEFAULTS:
        if os.environ.get(env):
            return model, None
    return LOCAL_MODEL, (
        "no ANTHROPIC_API_KEY or OPENAI_API_KEY set: using the bundled local model "
        f"{LOCAL_MODEL} (tiny; its drafts only prove the pipeline)"
    )


@dataclass(frozen=True)
class ModelChoice:
    """Model resolution, most specific first.

    ``explicit`` (the --model flag) wins for every persona; then a per-persona entry of
    the config, then the persona file's own ``model``, then the config default, then
    the default from the keys present.
    """

    explicit: str | None = None
    per_persona: dict[str, str] = field(default_factory=dict)
    configured_default: str | None = None
    fallback: str = LOCAL_MODEL

    def __post_init__(self) -> None:
        for model_id in (self.explicit, self.configured_default, *self.per_persona.values()):
            if model_id:
                parse_model_id(model_id)

    def for_persona(self, persona: Persona) -> str:
        """The model id ``persona`` runs on."""
        chosen = (
            self.explicit
            or self.per_persona.get(persona.id)
            or persona.model
            or self.configured_default
            or self.fallback
        )
        parse_model_id(chosen)
        return chosen
