"""Constrained decoding for the local model: an answer the validator always accepts.

The model writes only the text of the answer's fields; the JSON around them is written
here, fed to the model as forced tokens (one batch, not one token at a time). While a
field is written, a mask over the vocabulary keeps it within the validator's rules
(``panel.lengths``): a word count in a range, no control characters, quotes or
backslashes, at most so many characters, one sentence. So no answer needs a re-ask, and
the tokens a field can take are bounded by its words (a word is at most
``MAX_WORD_TOKENS`` tokens). A choice (the verdict) is one of its options.

A field's mask is a few vectorized operations over the vocabulary (under a millisecond
a token), where llama.cpp's grammar sampler checks each of the 49,152 tokens against the
grammar (12 to 15 ms a token on these cores, half as long as evaluating the token), and
feeds the JSON's tokens one at a time.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from panel.lengths import (
    HEADLINE_MAX_CHARS,
    HEADLINE_WORDS,
    MAX_FIELD_CHARS,
    PRICING_READ_WORDS,
    QUOTE_WORDS,
    QUOTE_WORDS_ACCEPTED,
    WordRange,
)
from panel.records import PRICING_READ

MAX_WORD_TOKENS = 5
"""Tokens one word may take (a run without spaces is cut into words after this)."""
SENTENCE_ENDS = ".!?"
PROSE_WORDS = WordRange(QUOTE_WORDS_ACCEPTED.low, QUOTE_WORDS.low)
"""The prose field (the quote) of the local model: at least what the validator keeps, at
most the low end of what the prompts ask, so that a panel takes seconds, not minutes."""


@dataclass(frozen=True)
class Rule:
    """How one text field may be written."""

    words: WordRange
    max_chars: int | None = None
    sentence: bool = False
    """One sentence: ``.``, ``!`` or ``?`` only as its last character."""

    @property
    def max_tokens(self) -> int:
        """The most tokens the field can take under this rule."""
        return self.words.high * MAX_WORD_TOKENS + 1


RULES = {
    "headline": Rule(HEADLINE_WORDS, max_chars=HEADLINE_MAX_CHARS),
    PRICING_READ: Rule(PRICING_READ_WORDS, sentence=True),
}
"""The answer's text fields besides the prose field, by name (``panel.records``)."""
OTHER_TEXT = Rule(WordRange(1, MAX_FIELD_CHARS), max_chars=MAX_FIELD_CHARS)


@dataclass(frozen=True)
class Slot:
    """One field of the answer to write: text under ``rule``, or one of ``options``."""

    name: str
    rule: Rule | None = None
    options: tuple[str, ...] = ()

    @property
    def max_tokens(self) -> int:
        """The most tokens the model writes for this field."""
        return self.rule.max_tokens if self.rule else 1


def answer_slots(
    schema: dict[str, object], prose_field: str | None, must_fill: Sequence[str]
) -> list[Slot]:
    """The fields to write, in writing order: the prose field, then the choices (so a
    verdict follows from the quote), then the other text fields; a nullable field the
    request need not fill is left out (its answer is null)."""
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return []
    slots: list[Slot] = []
    for name, spec in properties.items():
        kind = spec.get("type") if isinstance(spec, dict) else None
        if isinstance(kind, list) and "null" in kind and name not in must_fill:
            continue
        if isinstance(spec, dict) and "enum" in spec:
            slots.append(Slot(name, options=tuple(str(o) for o in spec["enum"])))
        elif name == prose_field:
            slots.append(Slot(name, Rule(PROSE_WORDS)))
        else:
            slots.append(Slot(name, RULES.get(name, OTHER_TEXT)))
    return sorted(slots, key=lambda s: 0 if s.name == prose_field else 1 if s.options else 2)


PLAIN, LEAD, CLOSER = 1, 2, 3
"""Token kinds: a piece of a word, a space then a word's start, a ``"`` ending a field."""


class Vocabulary:
    """What each token of the model's vocabulary may be in a field (built once a model)."""

    def __init__(self, pieces: Sequence[bytes], end_tokens: Sequence[int]) -> None:
        size = len(pieces)
        self.kind: npt.NDArray[np.int8] = np.zeros(size, dtype=np.int8)
        self.chars: npt.NDArray[np.int32] = np.zeros(size, dtype=np.int32)
        self.text: list[str] = [""] * size
        """What each token adds to a field's text (a closer: what comes before its quote)."""
        self.piece: list[str] = [""] * size
        """Each token's whole text, where it may be written."""
        self.ends_sentence: npt.NDArray[np.bool_] = np.zeros(size, dtype=bool)
        """Its text ends with ``.``, ``!`` or ``?``."""
        self.has_sentence_end: npt.NDArray[np.bool_] = np.zeros(size, dtype=bool)
        """Its text has one of them before its last character."""
        for index, piece in enumerate(pieces):
            kind, text = _classify(piece)
            self.kind[index] = kind
            self.text[index] = text
            self.piece[index] = piece.decode("utf-8") if kind else ""
            self.chars[index] = len(text)
            ends = [c in SENTENCE_ENDS for c in text]
            self.has_sentence_end[index] = any(ends[:-1])
            self.ends_sentence[index] = bool(ends) and ends[-1]
        for token in end_tokens:
            self.kind[token], self.text[token], self.piece[token] = CLOSER, "", ""
            self.chars[token] = 0
        self.plain: npt.NDArray[np.bool_] = self.kind == PLAIN
        self.lead: npt.NDArray[np.bool_] = self.kind == LEAD
        self.closer: npt.NDArray[np.bool_] = self.kind == CLOSER


def _classify(piece: bytes) -> tuple[int, str]:
    """A token's kind and the text it adds to a field (a closer: the text before ``"``)."""
    try:
        text = piece.decode("utf-8")
    except UnicodeDecodeError:
        return 0, ""  # part of a character: the field's text stays whole characters
    if not text or any(unicodedata.category(c).startswith("C") for c in text):
        return 0, ""
    before, quote, _ = text.partition('"')
    if quote:
        if "\\" in before or any(c.isspace() for c in before):
            return 0, ""
        return CLOSER, before
    if "\\" in text:
        return 0, ""
    if text[0] == " " and len(text) > 1 and not any(c.isspace() for c in text[1:]):
        return LEAD, text
    if not any(c.isspace() for c in text):
        return PLAIN, text
    return 0, ""


@dataclass(frozen=True)
class Sampling:
    """The sampler of the local model (llama.cpp's defaults, with a repeat penalty)."""

    temperature: float = 0.7
    top_k: int = 40
    top_p: float = 0.95
    min_p: float = 0.05
    repeat_penalty: float = 1.25
    repeat_window: int = 64
    """The last tokens written that the repeat penalty looks at."""


class Writer:
    """Writes one answer: ``feed`` evaluates tokens and returns the next token's logits."""

    def __init__(
        self,
        vocab: Vocabulary,
        feed: Callable[[Sequence[int]], npt.NDArray[np.float32]],
        tokenize: Callable[[str], list[int]],
        seed: int,
        sampling: Sampling | None = None,
    ) -> None:
        self._vocab = vocab
        self._feed = feed
        self._tokenize = tokenize
        self._rng = np.random.default_rng(seed)
        self._sampling = sampling or Sampling()
        self._written: list[int] = []
        self.forced = 0
        """Tokens of JSON (and of options after their first token) fed to the model."""

    @property
    def sampled(self) -> int:
        """Tokens the model chose."""
        return len(self._written)

    def write(self, slots: Sequence[Slot], before: Sequence[int] = ()) -> dict[str, str]:
        """The answer: each slot's value, written in order after the JSON that opens it
        (``before``: tokens to evaluate first, in the same batch, e.g. the prompt's)."""
        answer: dict[str, str] = {}
        carry: int | None = None  # a chosen token not fed yet
        unfed = ""  # the text of the field before that the context lacks (carry's included)
        joint = "{"
        for slot in slots:
            wanted = unfed + joint + json.dumps(slot.name) + ': "'
            piece = self._vocab.piece[carry] if carry is not None else ""
            if carry is not None and piece and wanted.startswith(piece):
                logits = self._force(wanted[len(piece) :], [*before, carry])
            else:
                logits = self._force(wanted, before)
            before = ()
            if slot.rule is None:
                value, carry, unfed = self._choose(logits, slot.options)
            else:
                value, carry, unfed = self._text(logits, slot.rule)
            answer[slot.name] = value
            joint = '", '
        return answer

    def _force(self, text: str, before: Sequence[int] = ()) -> npt.NDArray[np.float32]:
        tokens = [*before, *self._tokenize(text)]
        self.forced += len(tokens) - len(before)
        return self._feed(tokens)

    def _choose(
        self, logits: npt.NDArray[np.float32], options: Sequence[str]
    ) -> tuple[str, int, str]:
        """One of ``options`` (their first tokens differ), drawn on its first token; the
        token (not fed yet) and the option's text, which the context lacks."""
        firsts: dict[int, str] = {}
        for option in options:
            firsts.setdefault(self._tokenize(option)[0], option)
        allowed = np.zeros(len(self._vocab.kind), dtype=bool)
        allowed[list(firsts)] = True
        token = self._pick(logits, allowed)
        self._written.append(token)
        return firsts[token], token, firsts[token]

    def _text(self, logits: npt.NDArray[np.float32], rule: Rule) -> tuple[str, int | None, str]:
        """A field's text under ``rule``; the token that ended it when it is to be fed,
        with the text of the field the context lacks."""
        vocab = self._vocab
        words = chars = run = 0
        pieces: list[str] = []
        while True:
            allowed = self._allowed(rule, words, chars, run)
            if not allowed.any():
                return _value(pieces), None, ""
            token = self._pick(logits, allowed)
            self._written.append(token)
            text = vocab.text[token]
            pieces.append(text)
            if vocab.closer[token]:
                return _value(pieces), (token if vocab.piece[token] else None), text
            if vocab.lead[token] or words == 0:
                words, run = words + 1, 0
            else:
                run += 1
            chars += len(text)
            if rule.sentence and vocab.ends_sentence[token] and words >= rule.words.low:
                return _value(pieces), token, text
            logits = self._feed([token])

    def _allowed(self, rule: Rule, words: int, chars: int, run: int) -> npt.NDArray[np.bool_]:
        """The tokens that may come next in a field with ``words`` words, ``chars``
        characters, and ``run`` tokens since its last word began."""
        vocab = self._vocab
        low, high = rule.words.low, rule.words.high
        room = None if rule.max_chars is None else vocab.chars <= rule.max_chars - chars
        allowed = vocab.plain.copy() if run < MAX_WORD_TOKENS - 1 else np.zeros_like(vocab.plain)
        if words < high:
            allowed |= vocab.lead
        if room is not None:
            allowed &= room
        if rule.sentence:
            allowed &= ~vocab.has_sentence_end
            if words + 1 < low:
                allowed &= ~vocab.ends_sentence
            elif words + 1 == low:
                allowed &= ~(vocab.ends_sentence & ~vocab.lead)
        if words >= low:
            allowed |= vocab.closer if room is None else vocab.closer & room
        return allowed

    def _pick(self, logits: npt.NDArray[np.float32], allowed: npt.NDArray[np.bool_]) -> int:
        """Sample a token among ``allowed``: repeat penalty, top-k, top-p, min-p, then
        temperature, in the order of llama.cpp's sampler chain."""
        s = self._sampling
        scores = np.where(allowed, logits, -np.inf).astype(np.float64)
        recent = np.unique(np.asarray(self._written[-s.repeat_window :], dtype=np.intp))
        if recent.size:
            seen = scores[recent]
            scores[recent] = np.where(seen > 0, seen / s.repeat_penalty, seen * s.repeat_penalty)
        k = min(s.top_k, int(np.count_nonzero(allowed)))
        top = np.argpartition(scores, -k)[-k:]
        top = top[np.argsort(scores[top])[::-1]]
        values = scores[top]
        probs = np.exp(values - values[0])
        probs /= probs.sum()
        keep = int(np.searchsorted(np.cumsum(probs), s.top_p)) + 1
        keep = max(1, min(keep, int(np.count_nonzero(probs >= s.min_p * probs[0]))))
        weights = np.exp((values[:keep] - values[0]) / s.temperature)
        return int(self._rng.choice(top[:keep], p=weights / weights.sum()))


def _value(pieces: Sequence[str]) -> str:
    return " ".join("".join(pieces).split())


def answer_json(answer: dict[str, str], schema: dict[str, Any]) -> str:
    """The answer as the JSON object the schema describes, its fields in schema order."""
    names = list(schema.get("properties", {}))
    return json.dumps({name: answer[name] for name in names if name in answer})
