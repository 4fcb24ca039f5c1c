"""Prompt templates: a sandboxed Jinja2 environment where a missing variable is an error."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from jinja2 import FileSystemLoader, StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from panel.errors import UsageError
from panel.files import sha256_text
from panel.paths import prompts_dir
from panel.records import Launch, Persona

TEMPLATES = ("system.j2", "review.j2", "reask.j2", "beats.j2")
_MARKER = re.compile(r"<\s*(/?)\s*untrusted-launch\s*>", re.IGNORECASE)


def untrusted(value: object) -> str:
    """Launch text with the block markers defused, so it cannot close its block."""
    return _MARKER.sub(lambda m: f"\u2039{m.group(1)}untrusted-launch\u203a", str(value))


@dataclass(frozen=True)
class Prompts:
    """The loaded templates and their combined hash."""

    env: SandboxedEnvironment
    hash: str

    def render(self, name: str, **context: object) -> str:
        """Render template ``name``; a missing variable is a UsageError."""
        try:
            return self.env.get_template(name).render(**context).strip()
        except TemplateError as exc:
            raise UsageError(f"prompt template {name}: {exc}") from None

    def system(self, persona: Persona) -> str:
        """The system prompt of a persona."""
        return self.render("system.j2", persona=persona)

    def review(self, persona: Persona, launch: Launch) -> str:
        """The user message asking ``persona`` to review ``launch``."""
        return self.render("review.j2", persona=persona, launch=launch)

    def reask(self, error: str) -> str:
        """The follow-up message that shows the model its error."""
        return self.render("reask.j2", error=error)

    def beats(self, missing: list[str]) -> str:
        """The follow-up message naming the beats (as 'label: question') a quote missed."""
        return self.render("beats.j2", missing=missing)


@cache
def _load(folder: Path) -> Prompts:
    missing = [name for name in TEMPLATES if not (folder / name).is_file()]
    if missing:
        raise UsageError(f"{folder}: missing prompt template {missing[0]} (set PANEL_PROMPTS)")
    env = SandboxedEnvironment(
        loader=FileSystemLoader(str(folder)),
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=False,
    )
    env.filters["untrusted"] = untrusted
    digest = sha256_text("".join((folder / name).read_text("utf-8") for name in TEMPLATES))
    return Prompts(env, digest)


def load_prompts(folder: Path | None = None) -> Prompts:
    """The prompt templates of ``folder`` (default: prompts/ or $PANEL_PROMPTS)."""
    return _load((folder or prompts_dir()).resolve())
