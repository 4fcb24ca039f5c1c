"""Editorial quality checks on a quote: beat coverage and verdict consistency (pure functions).

Both checks are transparent heuristics an editor can read and argue with:

- **Beats.** Each persona file lists, per beat, cues whose presence suggests the beat is
  covered (``beat_cues`` in its front matter). A cue is a word or phrase matched as whole
  words, case-insensitively (``late`` does not match "latency"); ``stem*`` matches a prefix
  (``moat*`` matches "moats"); and a few special cues:

  - ``@name``, ``@number``, ``@money``: a claim of that kind as ``panel.claims`` finds
    them (one rule for both uses): a named product or company other than the launch
    itself and the reviewer's own name (the persona file's ``name``), e.g. "Llama",
    "LM Studio", "vLLM"; a figure with what it counts ("12 ms", "twelve seconds",
    "71.2%"); a price ("$20 a seat", "20 dollars").
  - ``@duration``: a span of time ("12 months", "eighteen months", "a year", "by Q3").
  - ``@verdict``: a first-person verdict statement ("I ship it", "calling it a skip").

- **Verdict consistency.** The last verdict statement of the quote (usually its last
  sentence) is read with negation handling ("I would not ship it" says skip, "there is no
  reason to skip it" says ship) and compared with the review's verdict.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from panel.claims import Evidence, find_claims, review_claims
from panel.records import (
    BeatRead,
    ClaimKind,
    Launch,
    Persona,
    Review,
    Verdict,
)

_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_WORD_CHAR = re.compile(r"\w")

# -- cues -----------------------------------------------------------------------------------

_NUMBER_WORDS = (
    "one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|eighteen|"
    "twenty|thirty|forty|fifty|hundred|thousand|million|billion|half|double|tenfold"
)
CLAIM_CUES = {"@name": ClaimKind.NAME, "@number": ClaimKind.NUMBER, "@money": ClaimKind.MONEY}
"""Cues read by the claim finder (panel.claims): one rule for what a name, a number or a
money amount is, whether it is a beat covered or a claim to verify."""
_DURATION = re.compile(
    rf"\b(?:\d+|a|an|one|{_NUMBER_WORDS}|a few|several)\s+(?:more\s+)?"
    r"(?:months?|quarters?|years?)\b|\bby\s+(?:q[1-4]|20\d\d|next year|year[- ]end)\b|"
    r"\bnext\s+(?:year|quarter)\b",
    re.IGNORECASE,
)


def _words(*texts: str | None) -> set[str]:
    return {w.lower() for text in texts if text for w in re.split(r"[\s\-]+", text) if w}


def _not_rivals(launch: Launch | None, persona: Persona | None) -> set[str]:
    """Words that never count as a named rival: the launch's and the reviewer's own names."""
    words = _words(persona.name) if persona else set()
    if launch is not None:
        words |= _words(launch.name, launch.vendor, launch.slug.replace("-", " "))
    return words


@functools.lru_cache(maxsize=1024)
def _phrase_pattern(cue: str) -> re.Pattern[str]:
    stem = cue.endswith("*")
    text = cue.rstrip("*")
    body = r"\s+".join(re.escape(part) for part in text.split())
    before = r"(?<!\w)" if _WORD_CHAR.match(text[:1]) else ""
    after = r"\w*" if stem else r"(?!\w)" if _WORD_CHAR.match(text[-1:]) else ""
    return re.compile(before + body + after, re.IGNORECASE)


def cue_match(
    cue: str, quote: str, launch: Launch | None = None, persona: Persona | None = None
) -> str | None:
    """The text in ``quote`` that ``cue`` matched, or None (see the module docstring)."""
    found: str | None = None
    if cue in CLAIM_CUES:
        # the claim finder's own rules: a rival named, a number, a money amount
        exclude = _not_rivals(launch, persona) if cue == "@name" else set()
        for claim in find_claims(quote, ignore=exclude):
            if claim.kind is CLAIM_CUES[cue] and not _words(claim.text) & exclude:
                found = claim.text
                break
    elif cue == "@duration":
        match = _DURATION.search(quote)
        found = match.group() if match else None
    elif cue == "@verdict":
        stance = verdict_statement(quote)
        found = stance.text if stance else None
    else:
        match = _phrase_pattern(cue).search(quote)
        found = match.group() if match else None
    return found


def beat_coverage(persona: Persona, quote: str, launch: Launch | None = None) -> list[BeatRead]:
    """Per beat with cues, whether ``quote`` covers it and which cue said so."""
    reads = []
    for index in range(len(persona.beats)):
        cues = persona.beat_cues.get(str(index))
        if not cues:
            continue
        label = persona.beat_label(index)
        evidence = None
        for cue in cues:
            matched = cue_match(cue, quote, launch, persona)
            if matched:
                evidence = cue if matched.lower() == cue.lower() else f"{cue}: {matched}"
                break
        reads.append(BeatRead(beat=label, covered=evidence is not None, cue=evidence))
    return reads


def missing_beats(reads: Iterable[BeatRead]) -> list[str]:
    """The labels of the beats a quote does not cover."""
    return [r.beat for r in reads if not r.covered]


def coverage(reads: list[BeatRead]) -> float | None:
    """Share of checked beats covered, 0..1; None when no beat was checked."""
    return sum(r.covered for r in reads) / len(reads) if reads else None


# -- verdict statements ---------------------------------------------------------------------


@dataclass(frozen=True)
class Stance:
    """A verdict statement found in a quote."""

    verdict: Verdict
    text: str
    """The words that carry it, e.g. "I'd skip"."""


_VERBS = re.compile(
    r"\b(?P<verb>ship|skip|pass on (?:it|this)|pass|hold off|steer clear|stay away)\b",
    re.IGNORECASE,
)
# Each negator flips the verb's sense: "I would not ship" says skip, "no reason to skip" ship,
# "I wouldn't hesitate to ship" (two negators) ship.
_NEGATOR = re.compile(
    r"\b(?:not|never|no|hardly|cannot|nobody|neither|nor|hesitat\w*)\b|n't\b", re.IGNORECASE
)
# Left context within the clause that makes the verb a verdict statement.
_FIRST_PERSON = re.compile(r"\b(?:i|we)(?:'(?:d|ll|m))?\b(?:\s+[\w']+){0,3}\s+$", re.IGNORECASE)
_FRAMING = re.compile(
    r"\b(?:call(?:s|ing|ed)?|make|makes|making|mark(?:ing)?|rate|rating|give|giving|"
    r"so|verdict(?:\s+is)?|it'?s|it\s+is|this\s+is|that'?s|say|says|vote|votes|"
    r"ready\s+to|worth|happy\s+to|reason\s+to|time\s+to)"
    r"(?:\s+(?:it|this|that|one))?(?:\s+(?:not|never))?(?:\s+(?:a|an))?"
    r"(?:\s+(?:clear|firm|cautious|qualified|reluctant|confident|solid|easy|hard|strong|"
    r"conditional|narrow|tentative|provisional|definite))?[\s:,—-]*$",
    re.IGNORECASE,
)
_STRONG_OBJECT = re.compile(r"^\s*(?:it|this(?:\s+one)?|with\s+it)\b", re.IGNORECASE)
_WEAK_OBJECT = re.compile(
    r"^\s*(?:it|this|that|with\s+it|for\s+now|today|now|yet|here|outright)\b|^\s*[.!;,:—-]|^\s*$",
    re.IGNORECASE,
)
_EXCEPTION = re.compile(r"\b(?:unless|otherwise|in which case|except)\b", re.IGNORECASE)
_CLAUSE_BREAK = re.compile(r"[,;:—(]|\s-\s|\b(?:but|and|so|yet)\b", re.IGNORECASE)
_ALWAYS_VERDICT = {"hold off", "steer clear", "stay away"}
# Curly apostrophes and en dashes read as their plain forms.
_TYPOGRAPHY = str.maketrans({"\u2019": "'", "\u2018": "'", "\u2013": "\u2014"})


def _clause_left(sentence: str, start: int) -> str:
    """The clause before ``start``: from the last clause break (kept) up to the verb."""
    left = sentence[:start]
    breaks = list(_CLAUSE_BREAK.finditer(left))
    return left[breaks[-1].start() :] if breaks else left


def _is_verdict_use(verb: str, clause: str, right: str) -> bool:
    if verb.startswith("pass on") or verb in _ALWAYS_VERDICT:
        return True
    first_person = bool(_FIRST_PERSON.search(clause))
    weak_object = bool(_WEAK_OBJECT.match(right))
    if verb == "pass":
        return first_person and bool(re.match(r"^\s*(?:[.!;,—-]|$)", right))
    framed = bool(_FRAMING.search(clause))
    return framed or bool(_STRONG_OBJECT.match(right)) or (first_person and weak_object)


def _statements(sentence: str) -> list[tuple[Stance, bool]]:
    """Verdict statements of one sentence, each with whether it sits in an exception clause."""
    bare = re.fullmatch(r"\W*(?:verdict\W*)?(ship|skip)\W*", sentence, re.IGNORECASE)
    if bare:
        return [(Stance(Verdict(bare.group(1).lower()), sentence.strip()), False)]
    found = []
    for match in _VERBS.finditer(sentence):
        verb = match.group("verb").lower()
        clause = _clause_left(sentence, match.start())
        if not _is_verdict_use(verb, clause, sentence[match.end() :]):
            continue
        says_skip = verb != "ship"
        if len(_NEGATOR.findall(clause)) % 2:
            says_skip = not says_skip
        verdict = Verdict.SKIP if says_skip else Verdict.SHIP
        text = (clause.lstrip(",;:—( ") + sentence[match.start() : match.end()]).strip()
        exception = bool(_EXCEPTION.search(sentence[: match.start()]))
        found.append((Stance(verdict, text), exception))
    return found


def verdict_statement(quote: str) -> Stance | None:
    """The quote's own verdict: its last verdict statement outside an exception clause."""
    quote = quote.translate(_TYPOGRAPHY).strip()
    statements = [s for sentence in _SENTENCE.split(quote) for s in _statements(sentence)]
    if not statements:
        return None
    main = [stance for stance, exception in statements if not exception]
    return main[-1] if main else statements[-1][0]


def contradiction(verdict: Verdict | None, quote: str) -> str | None:
    """A flag when the quote's wording says the opposite of ``verdict``, else None."""
    if verdict is None:
        return None
    stance = verdict_statement(quote)
    if stance is None or stance.verdict is verdict:
        return None
    return f'quote says {stance.verdict.value} ("{stance.text}") but verdict is {verdict.value}'


def headline_contradiction(verdict: Verdict | None, headline: str) -> str | None:
    """A flag when the headline's wording says the opposite of ``verdict``, else None."""
    if verdict is None or not headline:
        return None
    stance = verdict_statement(headline)
    if stance is None or stance.verdict is verdict:
        return None
    return f'headline says {stance.verdict.value} ("{stance.text}") but verdict is {verdict.value}'


# -- one quote, both checks -----------------------------------------------------------------


@dataclass(frozen=True)
class QuoteRead:
    """Both checks on one quote."""

    beats: list[BeatRead]
    contradiction: str | None

    @property
    def missing(self) -> list[str]:
        """Labels of the beats not covered."""
        return missing_beats(self.beats)

    @property
    def covered(self) -> int:
        """Number of beats covered."""
        return sum(r.covered for r in self.beats)

    def flags(self) -> list[str]:
        """Human-readable flags for the editor."""
        flags = [f"missing beats: {', '.join(self.missing)}"] if self.missing else []
        return flags + ([self.contradiction] if self.contradiction else [])


def read_quote(
    persona: Persona, verdict: Verdict | None, quote: str, launch: Launch | None = None
) -> QuoteRead:
    """Beat coverage and verdict consistency of one quote."""
    return QuoteRead(beat_coverage(persona, quote, launch), contradiction(verdict, quote))


def missing_questions(persona: Persona, labels: list[str]) -> list[str]:
    """The persona's beat questions for ``labels``, as 'label: question' lines."""
    by_label = {persona.beat_label(i): beat for i, beat in enumerate(persona.beats)}
    return [f"{label}: {by_label[label]}" if label in by_label else label for label in labels]


def recheck(
    review: Review,
    persona: Persona | None,
    launch: Launch | None = None,
    sources: Sequence[Evidence] | None = None,
) -> Review:
    """``review`` with its beats, flags and claims read again (after an editor changed it).

    A claim whose text is unchanged keeps its status (verified stays verified); one a
    source of ``sources`` states is supported.
    """
    if review.failed or not review.quote:
        return review.model_copy(update={"beats": [], "flags": [], "claims": []})
    headline = headline_contradiction(review.verdict, review.headline)
    found = review_claims(review, launch, sources)
    if persona is None:
        flags = [f for f in (contradiction(review.verdict, review.quote), headline) if f]
        return review.model_copy(update={"beats": [], "flags": flags, "claims": found})
    read = read_quote(persona, review.verdict, review.quote, launch)
    flags = read.flags() + ([headline] if headline else [])
    return review.model_copy(update={"beats": read.beats, "flags": flags, "claims": found})
