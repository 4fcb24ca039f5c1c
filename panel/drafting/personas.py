"""Persona files: YAML front matter plus the reviewer's voice, validated."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from panel.errors import UsageError
from panel.files import parse_yaml, read_text, sha256_text
from panel.launches import describe_error
from panel.paths import personas_dir
from panel.records import Persona

FRONT_MATTER = "---"


def parse_persona(text: str, source: str) -> Persona:
    """Parse one persona file's text."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != FRONT_MATTER:
        raise UsageError(f"{source}: must start with '---' and YAML front matter")
    try:
        end = next(i for i, line in enumerate(lines[1:], 1) if line.strip() == FRONT_MATTER)
    except StopIteration:
        raise UsageError(f"{source}: front matter is not closed with '---'") from None
    meta = parse_yaml("\n".join(lines[1:end]), source)
    if not isinstance(meta, dict):
        raise UsageError(f"{source}: front matter must be a mapping")
    voice = "\n".join(lines[end + 1 :]).strip()
    if not voice:
        raise UsageError(f"{source}: the body (the reviewer's voice) is empty")
    try:
        return Persona.model_validate({**meta, "voice": voice, "file_hash": sha256_text(text)})
    except ValidationError as exc:
        raise UsageError(f"{source}: {describe_error(exc)}") from None


def load_personas(folder: Path | None = None) -> list[Persona]:
    """All persona files of a folder, in scorecard order (order, then id)."""
    folder = folder or personas_dir()
    if not folder.is_dir():
        raise UsageError(f"{folder}: persona folder not found (set PANEL_PERSONAS)")
    personas = [parse_persona(read_text(p), str(p)) for p in sorted(folder.glob("*.md"))]
    if not personas:
        raise UsageError(f"{folder}: no persona files (*.md)")
    seen: set[str] = set()
    for persona in personas:
        if persona.id in seen:
            raise UsageError(f"{folder}: two persona files use the id {persona.id!r}")
        seen.add(persona.id)
    pricing = [p.id for p in personas if p.pricing_read]
    if len(pricing) > 1:
        raise UsageError(
            f"{folder}: personas {', '.join(pricing)} all set pricing_read; "
            "set it on one persona file only"
        )
    return sorted(personas, key=lambda p: (p.order, p.id))


def select(personas: list[Persona], ids: list[str] | tuple[str, ...]) -> list[Persona]:
    """The personas named by ``ids`` (all when empty); an unknown id names the choices."""
    if not ids:
        return personas
    by_id = {p.id: p for p in personas}
    unknown = [i for i in ids if i not in by_id]
    if unknown:
        raise UsageError(f"unknown persona {unknown[0]!r}; choose from {', '.join(by_id)}")
    return [by_id[i] for i in dict.fromkeys(ids)]
