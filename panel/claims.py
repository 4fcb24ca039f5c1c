"""Checkable claims in a review: numbers, money amounts and names an editor must verify.

Plain regular expressions: money ($20 per seat, €0.15 per million tokens), numbers with
what they count (71.2%, 128k context, 7B parameters, 3x faster, ten minutes, March 2026),
and names (capitalised words that are not sentence openers or stock words, CamelCase and
words with digits such as GPT-5 or Qwen2.5). A claim the launch text states is in_launch.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from panel.records import Claim, ClaimField, ClaimKind, ClaimStatus, Launch, Review, ToolPanel

_NUMBER_WORDS = {
    "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
    "seven": "7", "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12",
    "fifteen": "15", "twenty": "20", "thirty": "30", "forty": "40", "fifty": "50",
    "sixty": "60", "seventy": "70", "eighty": "80", "ninety": "90", "hundred": "100",
    "a hundred": "100", "thousand": "1000", "a thousand": "1000", "twice": "2x",
}  # fmt: skip


def _by_first_letter(words: str) -> str:
    """An alternation of the ``|``-separated ``words`` that tries them in the same order,
    grouped by first letter behind a lookahead: the regex engine rules out a position with
    one character test instead of trying every word there (it is the same pattern)."""
    groups: dict[str, list[str]] = {}
    for word in words.split("|"):
        groups.setdefault(word[0], []).append(re.escape(word[1:]))
    branches = "|".join(f"{first}(?:{'|'.join(rest)})" for first, rest in groups.items())
    return f"(?=[{''.join(groups)}])(?:{branches})"


_WORD_NUMBER = _by_first_letter(
    "a hundred|a thousand|zero|one|two|three|four|five|six|seven|eight|nine|ten|"
    "eleven|twelve|fifteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|"
    "hundreds|hundred|thousands|thousand|dozens|dozen"
)
_UNIT_WORDS = (
    r"gb|mb|tb|kb|ms|s\b|seconds?|minutes?|hours?|days?|weeks?|months?|years?|tokens?|"
    r"parameters?|params|requests?|calls?|seats?|users?|stars|languages?|models?|GPUs?|"
    r"cores?|lines?|files?|teams?|customers?|points?|runtime|dependenc(?:y|ies)|times"
)
_UNITS = rf"(?:%|percent|x\b|\u00d7|k\b|m\b|b\b|{_UNIT_WORDS})"
_MONTHS = (
    r"(?:January|February|March|April|May|June|July|August|September|October|November|December)"
)
_PER = (
    r"(?:seats?|users?|months?|years?|quarters?|weeks?|days?|hours?|minutes?|tokens?|calls?|"
    r"requests?|queries|query|steps?|runs?|GB|TB|GPU-hours?|developers?|teams?|"
    r"(?:input|output|cached input) tokens)"
)
_MONEY = re.compile(
    r"(?:[$€£¥]\s?\d[\d,]*(?:\.\d+)?(?:\s?(?:k|m|bn|million|billion))?"
    rf"(?:\s(?:per|a|an|/)\s?(?:(?:million|thousand|1,000|1k|1M)\s(?:{_PER}|[a-z]+)|{_PER})\b)"
    r"{0,2}"
    r"|\d[\d,]*(?:\.\d+)?\s?(?:dollars|euros|pounds|cents|USD|EUR|GBP)\b)",
    re.IGNORECASE,
)
_DATE = re.compile(rf"\b{_MONTHS}(?:\s\d{{1,2}},)?\s\d{{4}}\b|\bQ[1-4]\s(?:19|20)\d{{2}}\b")
_NUMBER_START = r"(?=[\dazotfsenhdq]|\w+fold\b)"
"""Where a number below can start: a digit, the first letter of one of its words, or a
'-fold' word. One test rules out most positions before the alternatives are tried, so a
new alternative must start with one of these (or the lookahead must take it in)."""
_NUMBER = re.compile(
    rf"\b{_NUMBER_START}(?:(?:19|20)\d{{2}}\b"
    rf"|\d[\d,]*(?:\.\d+)?\s?(?:-|\s)?{_UNITS}(?:\s(?:context|window|faster|cheaper|slower))?"
    rf"|\d+(?:\.\d+)?\s?%|\d+(?:\.\d+)?x\b"
    rf"|{_WORD_NUMBER}(?:-|\s)(?:{_UNIT_WORDS})\b"
    rf"|\d[\d,]*(?:\.\d+)?[kmb]?-[a-z]+(?:\s(?:context|window|diff|model|vectors?))?"
    rf"|\d+x\d+\b"  # 1024x1024
    rf"|(?:\d+|{_WORD_NUMBER}) (?:[a-z]+ ){{0,2}}out of (?:\d+|{_WORD_NUMBER})\b"
    rf"|(?:a|one|two|three|four|nine)[- ](?:half|halves|thirds?|quarters?|fifths?|tenths?)\b"
    rf"|\w+fold\b|twice\b|a (?:half|third|quarter|fifth|tenth|hundredth)\b"
    rf"|\b(?:halve[sd]?|doubled|doubles|tripled?|triples|quadrupled?)\b"
    # a counted thing: 'four voices', 'twelve engineers' (not 'one', too common in prose)
    rf"|\b(?!one\b){_WORD_NUMBER} (?:[a-z]+-)?(?:[a-z]+s|people|men|women)\b"
    r"|\b(?:half )?an? (?:hour|minute|day|week|month|quarter|year)\b"
    rf")",
    re.IGNORECASE,
)
_BARE_NUMBER = re.compile(r"\b\d[\d,]*(?:\.\d+)?\b")
# Words that open sentences or carry no claim when capitalised.
_STOP_WORDS = """
a after all also although an and another any anyone are as at balance be because
before both budget but buyer by can could developer-experience did do does each
eight either even every everything few first five for four from future had happy has
have here how however i i'd i'll i'm if in is it it's its just last less limits many
may meanwhile might moat moment more most much must my neither next nine no nobody
not nothing now of off okay on once one only or other our overall pricing primitive
rate reference retries same second-order seven several ship should since six skip so
some someone still such sure ten that the their then there these thesis they this
those though three timing to today twelve two unless until up verdict version very
was we well what when where which while who why will with would yes yet you your
monday tuesday wednesday thursday friday saturday sunday
"""
_STOP = set(_STOP_WORDS.split())
_GENERIC = """
ai api apis arr b2b b2c cd ceo cfo ci cli clis cpu cpus cto csv dns eu faq ga gb gpu gpus
html http https ide ides json kb llm llms mb ml mrr mvp ok oss pdf poc pr prs qa
qps rag readme rest roi rps saas sdk sdks sla slas sql sso tb tco tps ui uk url urls us
usd eur ux vpc yaml toml ram vcpu vcpus captcha ssd nvme os
"""
_GENERIC_ACRONYMS = {w for w in _GENERIC.split() if not w.endswith("?")}
# Brands written in lower case (most names are capitalised or oddly cased: vLLM, o3-mini).
_LOWER_BRANDS = """
npm pnpm pip pipx uv yarn bun pgvector sqlite-vec llama.cpp whisper.cpp vllm ollama
turbopuffer htmx tmux vim neovim zsh git curl jq webpack esbuild vite ruff mypy pytest
numpy pandas pytorch scikit-learn langchain
"""
_BRANDS = set(_LOWER_BRANDS.split())
_TOKEN = re.compile(r"[A-Za-z0-9][\w.+-]*[A-Za-z0-9+]|[A-Za-z0-9]")
_VERSION = re.compile(r"\d+(?:\.\d+)*[A-Za-z]{0,2}")
_AFTER_VERSION = re.compile(rf"[,.]\d|\s?(?:%|{_UNIT_WORDS}|x\b|per\b)", re.IGNORECASE)
_SENTENCE_START = re.compile(r"(?:^|[.!?:;\u2014]\s+|[\"\u201c(]\s*|\s-\s)$")
_UPPER_AFTER_LOWER = re.compile(r"[a-z][A-Z]")


def _opens_sentence(text: str, start: int) -> bool:
    """Whether the word at ``start`` opens a sentence of ``text``: ``_SENTENCE_START`` read
    over the whitespace before it and the three characters before that (no alternative
    reaches further back), not over the whole text before it at every word."""
    begin = start
    while begin > 0 and text[begin - 1].isspace():
        begin -= 1
    return _SENTENCE_START.search(text, max(0, begin - 3), start) is not None


@dataclass(frozen=True)
class Found:
    """A claim found in a text, with its character span."""

    text: str
    kind: ClaimKind
    start: int
    end: int


def _normal(text: str) -> str:
    words = re.sub(r"[^\w$€£%.+-]+", " ", text.lower()).split()
    return " ".join(_NUMBER_WORDS.get(w, w) for w in words).strip(" .")


@dataclass(frozen=True, eq=False)
class Vocabulary:
    """The launch's name words as written, and in lower case. Compared by identity, one
    instance per set of words (``of``), so the token checks below cache cheaply on it."""

    exact: frozenset[str]
    lower: frozenset[str]

    @classmethod
    def of(cls, words: Iterable[str]) -> Vocabulary:
        return _vocabulary(frozenset(words))

    def names(self, token: str) -> bool:
        """A launch word: as the launch writes it, or capitalised (not 'weights' for
        'Open Weights')."""
        return token in self.exact or (token[0].isupper() and token.lower() in self.lower)


@functools.lru_cache(maxsize=256)
def _vocabulary(exact: frozenset[str]) -> Vocabulary:
    return Vocabulary(exact, frozenset(w.lower() for w in exact))


@functools.lru_cache(maxsize=8192)
def _shaped(token: str, known: Vocabulary) -> bool:
    """A token that is a name wherever it stands: GPT-5, DriftDB, vLLM, o3-mini, MMLU,
    llama.cpp, a lower-case brand, or a word of the launch's own names."""
    low = token.lower()
    if low in _BRANDS or known.names(token):
        return True
    if low in _GENERIC_ACRONYMS or low in _STOP or token[0].isdigit():
        return False  # API, 8-bit, 1M-token
    letters = any(c.isalpha() for c in token)
    digits = any(c.isdigit() for c in token)
    if letters and digits and not _VERSION.fullmatch(token):
        return True  # GPT-5, Qwen2.5, o3-mini, A100 (not a size such as 70B)
    if _UPPER_AFTER_LOWER.search(token):
        return True  # OpenAI, DriftDB, vLLM, GitHub
    return len(token) > 1 and token.isupper() and token.isalpha()


@functools.lru_cache(maxsize=8192)
def _starts(token: str, known: Vocabulary) -> bool:
    """A token that may begin a name: capitalised (not a stock word) or shaped like one."""
    if token.lower() in _STOP or token.lower() in _GENERIC_ACRONYMS:
        return _shaped(token, known)
    return token[0].isupper() or _shaped(token, known)


def _continues(text: str, token: re.Match[str], known: Vocabulary) -> bool:
    """A token that extends the name before it: a capitalised word, a name-shaped token,
    or a version or size (Llama 3.1 70B) not followed by a unit (so not 'Postgres 90%')."""
    word = token.group(0)
    if _VERSION.fullmatch(word):
        return not _AFTER_VERSION.match(text, token.end())
    if word.lower() in _STOP:
        return False
    return word[0].isupper() or _shaped(word, known)


def _names(text: str, taken: list[tuple[int, int]], known: Vocabulary) -> list[Found]:
    """Names: runs of name words; a lone plain capitalised word opening a sentence is a
    name only when the text uses it again mid-sentence or the launch names it."""
    tokens = [t for t in _TOKEN.finditer(text) if not taken or not _overlaps(t.span(), taken)]
    tokens = [_unsuffixed(t) for t in tokens]
    capitalised_inside = {
        t.group(0)
        for t in tokens
        if t.group(0)[0].isupper() and not _opens_sentence(text, t.start())
    }
    found: list[Found] = []
    i = 0
    while i < len(tokens):
        first = tokens[i]
        if not _starts(first.group(0), known):
            i += 1
            continue
        run = [first]
        while i + len(run) < len(tokens):
            nxt = tokens[i + len(run)]
            gap = text[run[-1].end() : nxt.start()]
            if gap != " " or not _continues(text, nxt, known):
                break
            run.append(nxt)
        i += len(run)
        start, end = run[0].start(), run[-1].end()
        name = text[start:end].rstrip(".")
        if len(run) == 1:
            word = first.group(0).rstrip(".")
            opener = _opens_sentence(text, start)
            listed = _LISTED.match(text, end) is not None and not _PLAIN_WORD.search(word)
            if opener and not (_shaped(word, known) or word in capitalised_inside or listed):
                continue
        found.append(Found(name, ClaimKind.NAME, start, start + len(name)))
    return found


_SUFFIXED = re.compile(
    r"([A-Z][\w.]*)-(?:licensed|based|compatible|native|style|powered|backed|hosted|first|"
    r"only|class|grade|level)\b"
)
_PLAIN_WORD = re.compile(r"(?:ly|ing|ed)$")
_LISTED = re.compile(r"['\u2019]s\b|, (?:[A-Z]|[a-z]+[A-Z])")
"""After an opening word: a possessive ('Groq's'), or a list of names ('Qdrant, Weaviate')."""
"""English word endings: a sentence opening with one before a comma is no name."""


def _unsuffixed(token: re.Match[str]) -> re.Match[str]:
    """'MIT-licensed', 'OpenAI-compatible': the name without its hyphenated suffix."""
    found = _SUFFIXED.fullmatch(token.group(0)) if "-" in token.group(0) else None
    if found is None:
        return token
    inner = _TOKEN.match(token.string, token.start(), token.start() + len(found.group(1)))
    return inner or token


def _overlaps(span: tuple[int, int], taken: list[tuple[int, int]]) -> bool:
    return any(s < span[1] and span[0] < e for s, e in taken)


def find_claims(text: str, *, ignore: Iterable[str] = (), known: Iterable[str] = ()) -> list[Found]:
    """The claims of ``text``, non-overlapping, in text order (``ignore``: names to skip,
    such as the reviewer's own; ``known``: the launch's name words, names wherever used)."""
    skip = {i.lower() for i in ignore} | {"the builder", "the skeptic", "the futurist"}
    skip |= {"the operator", "builder", "skeptic", "futurist", "operator"}
    found: list[Found] = []
    taken: list[tuple[int, int]] = []

    def add(kind: ClaimKind, pattern: re.Pattern[str]) -> None:
        for match in pattern.finditer(text):
            claim = match.group(0).strip()
            span = (match.start(), match.start() + len(claim))
            if _overlaps(span, taken) or not claim:
                continue
            taken.append(span)
            found.append(Found(claim, kind, span[0], span[1]))

    add(ClaimKind.MONEY, _MONEY)
    add(ClaimKind.NUMBER, _DATE)
    # Names before the other numbers: a model's size belongs to its name (Llama 3.1 70B).
    for name in _names(text, taken, Vocabulary.of(known)):
        if name.text.lower() in skip or name.text.lower().removeprefix("the ") in skip:
            continue
        taken.append((name.start, name.end))
        found.append(name)
    add(ClaimKind.NUMBER, _NUMBER)
    add(ClaimKind.NUMBER, _BARE_NUMBER)
    return sorted(found, key=lambda f: f.start)


def launch_vocabulary(launch: Launch) -> set[str]:
    """The launch's own names (the words of its name and vendor, and the capitalised words
    of its text that do not open a sentence): names wherever a review uses them, even in
    lower case or opening a sentence."""
    words = set(f"{launch.name} {launch.vendor or ''}".split())
    for text in (launch.tagline, launch.description, launch.license):
        for token in _TOKEN.finditer(text or ""):
            word = token.group(0)
            if word[0].isupper() and not _opens_sentence(token.string, token.start()):
                words.add(word)
    cleaned = {w.strip(".,()") for w in words}
    return {
        w
        for w in cleaned
        if len(w) > 1 and not w[0].isdigit() and w.lower() not in _STOP | _GENERIC_ACRONYMS
    }


def _launch_text(launch: Launch) -> str:
    parts = (launch.name, launch.vendor, launch.category, launch.tagline, launch.description)
    more = (launch.entry, launch.license, launch.url)
    return " ".join(p for p in (*parts, *more) if p)


def launch_statement(launch: Launch) -> str:
    """The launch's text as :func:`in_launch` reads it (normalised once for its claims)."""
    return f" {_normal(_launch_text(launch))} "


def in_launch(needle: str, statement: str) -> bool:
    """True when the launch text (``launch_statement``) states the claim whose normalised
    text is ``needle`` (case, spacing and number words aside)."""
    return bool(needle) and f" {needle} " in statement


def _claim_id(persona_id: str, kind: ClaimKind, text: str, used: set[str]) -> str:
    digest = hashlib.sha256(f"{kind.value}:{_normal(text)}".encode()).hexdigest()
    for size in (4, 6, 8, 64):
        candidate = f"{persona_id}-{digest[:size]}"
        if candidate not in used:
            return candidate
    raise AssertionError("unreachable: a full digest is unique")


CHECKED = (ClaimStatus.VERIFIED, ClaimStatus.WAIVED)
"""Statuses an editor set, kept when the claim is found again."""


@dataclass(frozen=True)
class Evidence:
    """A source's text cut into sentences, each with its normalised form, for matching."""

    where: str
    sentences: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, where: str, text: str) -> Evidence:
        pieces = (p.strip() for p in _SENTENCE_END.split(text))
        return cls(where, tuple((p, f" {_normal(p)} ") for p in pieces if p))

    def sentence(self, needle: str) -> str | None:
        """The first sentence stating ``needle`` (normalised), or None."""
        return next((raw for raw, normal in self.sentences if f" {needle} " in normal), None)


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
MAX_EVIDENCE_CHARS = 400


def read_claims(
    persona_id: str,
    texts: Mapping[ClaimField, str],
    launch: Launch,
    previous: Sequence[Claim] = (),
    sources: Sequence[Evidence] | None = None,
) -> list[Claim]:
    """The claims of one review's texts. A claim found before (same kind and text) keeps
    its id, and its check when it was verified or waived. One the launch does not state
    but a source does is ``supported`` (with the source and its sentence); ``sources``
    None (not at hand) keeps what an earlier read found."""
    before = {(c.kind, _normal(c.text)): c for c in previous}
    seen: dict[tuple[ClaimKind, str], Claim] = {}
    used = {c.id for c in previous}
    vocabulary = launch_vocabulary(launch)
    statement = launch_statement(launch)
    for field in ("headline", "quote", "pricing_read"):
        text = texts.get(field, "")
        for found in find_claims(text or "", ignore=[persona_id], known=vocabulary):
            key = (found.kind, _normal(found.text))
            if key in seen:
                continue
            old = before.get(key)
            if old is not None:
                claim_id = old.id
            else:
                claim_id = _claim_id(persona_id, found.kind, found.text, used)
                used.add(claim_id)
            claim = Claim(id=claim_id, text=found.text, kind=found.kind, field=field)
            if in_launch(key[1], statement):
                claim.status = ClaimStatus.IN_LAUNCH
            elif sources is not None:
                _support(claim, key[1], sources)
            elif old is not None and old.status is ClaimStatus.SUPPORTED:
                claim = claim.model_copy(
                    update={"status": old.status, "source": old.source, "evidence": old.evidence}
                )
            if old is not None and old.status in CHECKED and claim.open:
                checked = {"status": old.status, "changed_by": old.changed_by}
                claim = claim.model_copy(update={**checked, "changed_at": old.changed_at})
            seen[key] = claim
    return list(seen.values())


def _support(claim: Claim, needle: str, sources: Sequence[Evidence]) -> None:
    """Mark ``claim`` supported by the first source with a sentence stating it."""
    if not needle:
        return
    for source in sources:
        sentence = source.sentence(needle)
        if sentence is not None:
            claim.status = ClaimStatus.SUPPORTED
            claim.source = source.where
            claim.evidence = sentence[:MAX_EVIDENCE_CHARS]
            return


def claim_spans(text: str, claims: Sequence[Claim]) -> list[tuple[int, int, Claim]]:
    """Where each of ``claims`` occurs in ``text``, non-overlapping, in order."""
    spans: list[tuple[int, int, Claim]] = []
    for claim in sorted(claims, key=lambda c: -len(c.text)):
        for match in re.finditer(re.escape(claim.text), text, re.IGNORECASE):
            start, end = match.span()
            if not any(s < end and start < e for s, e, _ in spans):
                spans.append((start, end, claim))
    return sorted(spans, key=lambda s: s[0])


def with_current_claims(panel: ToolPanel) -> ToolPanel:
    """``panel`` with each review's claims read from its text now, checks kept: a panel
    stored before claims were read (or by an older extractor) is gated like a new one."""
    reviews = [
        r
        if r.failed or not r.quote
        else r.model_copy(update={"claims": review_claims(r, panel.launch)})
        for r in panel.reviews
    ]
    if all(new.claims == old.claims for new, old in zip(reviews, panel.reviews, strict=True)):
        return panel
    return panel.model_copy(update={"reviews": reviews})


def review_claims(
    review: Review, launch: Launch | None, sources: Sequence[Evidence] | None = None
) -> list[Claim]:
    """The checkable claims of a review's headline, quote and pricing read: those found
    now, and those stored before (by an older extractor, say) whose text is still there.
    ``sources``: the texts the reviewers read (None: not at hand, supports kept)."""
    if launch is None:
        return list(review.claims)
    texts: dict[ClaimField, str] = {
        "headline": review.headline,
        "quote": review.quote,
        "pricing_read": review.pricing_read or "",
    }
    found = read_claims(review.persona_id, texts, launch, review.claims, sources)
    seen = {c.id for c in found} | {(c.kind, _normal(c.text)) for c in found}
    everything = " ".join(texts.values()).lower()
    for old in review.claims:
        if old.id in seen or (old.kind, _normal(old.text)) in seen:
            continue
        if old.text.lower() in everything:
            found.append(old)
    return found
