"""How long what we ask for and what we accept may be: quote words, launch field sizes."""

from __future__ import annotations

from dataclasses import dataclass

MAX_DESCRIPTION_CHARS = 8_000
MAX_FIELD_CHARS = 400


@dataclass(frozen=True)
class WordRange:
    """A length in words, from ``low`` to ``high`` inclusive."""

    low: int
    high: int

    def __str__(self) -> str:
        return f"{self.low} to {self.high}"


QUOTE_WORDS = WordRange(90, 180)
"""The quote length the prompts ask for: rendered into prompts/*.j2 as ``quote_words``."""
QUOTE_WORDS_ACCEPTED = WordRange(40, 260)
"""What the validator keeps, around QUOTE_WORDS: a quote a little off length goes to the
editor to trim rather than back to the model; only a stub or an essay is refused."""
PRICING_READ_WORDS = WordRange(6, 45)
"""The pricing read (one sentence of the reviewer whose persona file gives it)."""
HEADLINE_WORDS = WordRange(3, 14)
"""The headline the prompts ask for: at most ``high`` words (the local model writes at
least ``low``); the validator bounds only its characters, HEADLINE_MAX_CHARS."""
HEADLINE_MAX_CHARS = 160
"""The longest headline the validator keeps."""


def word_count(text: str) -> int:
    """Number of whitespace-separated words in ``text``."""
    return len(text.split())
