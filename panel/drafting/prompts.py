"""Prompt templates: a sandboxed Jinja2 environment where a missing variable is an error.

Every template also sees the project's constants as variables (``GLOBALS``), so the
wording in prompts/ and the validator in panel.records share one number: e.g.
``{{ quote_words.low }} to {{ quote_words.high }} words`` is ``QUOTE_WORDS``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from jinja2 import FileSystemLoader, StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from panel.errors import UsageError
from panel.files import sha256_text
from panel.lengths import HEADLINE_WORDS, PRICING_READ_WORDS, QUOTE_WORDS
from panel.paths import prompts_dir
from panel.records import Launch, Persona, ReviewOutput, SourceText

TEMPLATES = ("system.j2", "launch.j2", "review.j2", "reask.j2", "beats.j2")
GLOBALS: dict[str, object] = {
    "quote_words": QUOTE_WORDS,
    "pricing_read_words": PRICING_READ_WORDS,
    "headline_words": HEADLINE_WORDS,
}
"""Variables every template sees: the lengths the validator is built on."""

# What a model could read as the block marker: the two words, in any case, width or
# script look-alike, with hidden characters, spaces, dashes or underscores between them,
# and with the brackets, slash and attributes around them when present.
_HIDDEN = {"Cf", "Mn", "Me"}  # zero-width and bidi characters, soft hyphens, combining marks
# Letters of the two words as other scripts draw them, which NFKC leaves alone: Cyrillic,
# Greek, Armenian and Latin look-alikes, and i, 1 and | for l.
_LOOKALIKES = str.maketrans(
    "\u0430\u0441\u0435\u04bb\u0501\u04cf\u043f\u0433\u0455\u0442"
    "\u03b1\u03f2\u03b9\u03b7\u03c4\u03c5\u03bc\u0578\u057d\u0251\u01c0\u0269i1|",
    "acehdlnrstaclntuunualllll",
)
_OPEN = (
    r"(?:<|&lt;?|&#0*60;?|&#x0*3c;?|[\u2039\u00ab\u3008\u27e8\u27ea\u300a\u276e\u276c\u02c2\u1438])"
)
_CLOSE = (
    r"(?:>|&gt;?|&#0*62;?|&#x0*3e;?|[\u203a\u00bb\u3009\u27e9\u27eb\u300b\u276f\u276d\u02c3\u1433])"
)
_SPACED = r"[^a-z0-9]?".join
_MARKER = re.compile(
    rf"(?:{_OPEN}[^a-z0-9]{{0,6}})?(?<![a-z0-9]){_SPACED('untrusted')}[^a-z0-9]{{0,6}}"
    rf"{_SPACED('launch')}(?:[^<>\n]{{0,60}}?{_CLOSE})?"
)
_REMOVED = "[block marker removed]"


_ASCII_RUNS = re.compile(r"[\x00-\x7f]+|[^\x00-\x7f]+")


def _skeleton(text: str) -> tuple[str, Sequence[int]]:
    """``text`` as the model would read it, for matching, and each character's origin."""
    if text.isascii():
        return text.lower().translate(_LOOKALIKES), range(len(text))
    chars: list[str] = []
    origin: list[int] = []
    # ASCII runs at string speed; only the other characters one by one (a long source
    # with a few dashes and quotes would otherwise take tens of milliseconds a render).
    for run in _ASCII_RUNS.finditer(text):
        start, piece = run.start(), run.group()
        if piece.isascii():
            chars.append(piece.lower().translate(_LOOKALIKES))
            origin.extend(range(start, run.end()))
            continue
        for index, char in enumerate(piece, start):
            for folded in unicodedata.normalize("NFKC", char).casefold():
                if unicodedata.category(folded) not in _HIDDEN:
                    chars.append(folded.translate(_LOOKALIKES))
                    origin.append(index)
    return "".join(chars), origin


def untrusted(value: object) -> str:
    """Launch text with anything a model could read as a block marker removed."""
    text = str(value)
    skeleton, origin = _skeleton(text)
    pieces: list[str] = []
    end = 0
    for match in _MARKER.finditer(skeleton):
        start = origin[match.start()]
        pieces += [text[end:start], _REMOVED]
        end = origin[match.end() - 1] + 1
    return "".join(pieces) + text[end:]


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

    def system(self) -> str:
        """The system prompt: the house rules, the same for every reviewer and launch."""
        return self.render("system.j2", **answer_fields())

    def launch(self, launch: Launch, sources: Sequence[SourceText] = ()) -> list[str]:
        """The untrusted block every reviewer of ``launch`` reads, as the parts a prompt
        cache can share: the sources (when there are any, first, so that launches sharing
        a source share that prefix), then the launch itself."""
        parts = [self.render("launch.j2", part="sources", launch=launch, sources=sources)]
        parts.append(self.render("launch.j2", part="launch", launch=launch, sources=sources))
        return parts if sources else parts[1:]

    def review(self, persona: Persona) -> str:
        """A persona's own instructions, after the shared launch block."""
        return self.render("review.j2", persona=persona)

    def reask(self, error: str, *, pricing_read: bool = False) -> str:
        """The follow-up message that shows the model its error."""
        return self.render("reask.j2", error=error, pricing_read=pricing_read, **answer_fields())

    def beats(self, missing: list[str], *, pricing_read: bool = False) -> str:
        """The follow-up message naming the beats (as 'label: question') a quote missed."""
        return self.render(
            "beats.j2", missing=missing, pricing_read=pricing_read, **answer_fields()
        )


def answer_fields() -> dict[str, object]:
    """Template variables: ``answer_shape``, the answer's JSON shape from the wire schema."""
    shape = "{" + ", ".join(f'"{name}": ...' for name in ReviewOutput.wire_fields()) + "}"
    return {"answer_shape": shape}


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
    env.globals.update(GLOBALS)
    # The constants are part of what the templates say, so they are part of the hash.
    texts = [(folder / name).read_text("utf-8") for name in TEMPLATES]
    digest = sha256_text("".join(texts) + repr(sorted(GLOBALS.items())))
    return Prompts(env, digest)


def load_prompts(folder: Path | None = None) -> Prompts:
    """The prompt templates of ``folder`` (default: prompts/ or $PANEL_PROMPTS)."""
    return _load((folder or prompts_dir()).resolve())
