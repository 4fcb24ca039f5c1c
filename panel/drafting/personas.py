"""Persona files: YAML front matter plus the reviewer's voice, validated."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from pydantic import ValidationError

from panel.errors import UsageError
from panel.files import parse_yaml, read_text, sha256_text
from panel.launches import describe_error
from panel.paths import personas_dir
from panel.records import Persona, ToolPanel

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
    answers: dict[str, str] = {}
    for persona in personas:
        if persona.id in seen:
            raise UsageError(f"{folder}: two persona files use the id {persona.id!r}")
        seen.add(persona.id)
        for key in {name_key(persona.id), name_key(persona.name)}:
            if (other := answers.setdefault(key, persona.id)) != persona.id:
                raise UsageError(
                    f"{folder}: personas {other} and {persona.id} both answer to {key!r}; "
                    "give each persona file its own id and name"
                )
    pricing = [p.id for p in personas if p.pricing_read]
    if len(pricing) > 1:
        raise UsageError(
            f"{folder}: personas {', '.join(pricing)} all set pricing_read; "
            "set it on one persona file only"
        )
    return sorted(personas, key=lambda p: (p.order, p.id))


def name_key(text: str) -> str:
    """How a reviewer is named on the command line: case, a leading "The", and spaces,
    hyphens or underscores between words do not matter ("The Operator" is "operator")."""
    words = re.split(r"[\s_-]+", text.casefold().strip())
    if len(words) > 1 and words[0] == "the":
        words = words[1:]
    return " ".join(w for w in words if w)


def choices_text(reviewers: Iterable[tuple[str, str]]) -> str:
    """The reviewers to choose from, as (id, display name) pairs: 'dx (The Builder), …'."""
    return ", ".join(f"{rid} ({name})" for rid, name in reviewers)


def resolve_name(
    name: str, reviewers: Iterable[tuple[str, str]], unknown: str = "unknown persona"
) -> str:
    """The id of the reviewer ``name`` means, among (id, display name) pairs: its id or its
    display name, in any case, with or without "The" (``operator``, ``"The Operator"`` and
    ``business`` all mean business). An unknown name is a UsageError naming the choices,
    prefixed by ``unknown``."""
    pairs = list(reviewers)
    if any(rid == name for rid, _ in pairs):
        return name
    key = name_key(name)
    matches = list(
        dict.fromkeys(rid for rid, shown in pairs if key in (name_key(rid), name_key(shown)))
    )
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise UsageError(f"{name!r} could mean {' or '.join(matches)}: pass the id")
    raise UsageError(f"{unknown} {name!r}; choose from {choices_text(pairs)}")


def select(personas: list[Persona], names: list[str] | tuple[str, ...]) -> list[Persona]:
    """The personas ``names`` mean, each an id or a display name (all when empty); an
    unknown name names the choices."""
    if not names:
        return personas
    by_id = {p.id: p for p in personas}
    reviewers = [(p.id, p.name) for p in personas]
    ids = [resolve_name(n, reviewers) for n in names]
    return [by_id[i] for i in dict.fromkeys(ids)]


def reviewer_id(panel: ToolPanel, name: str) -> str:
    """The id of the reviewer of ``panel`` that ``name`` means (see ``resolve_name``),
    from the panel's own reviews, so a persona file renamed since still answers."""
    reviewers = [(r.persona_id, r.persona_name) for r in panel.reviews]
    return resolve_name(name, reviewers, f"panel {panel.slug!r} has no reviewer")
