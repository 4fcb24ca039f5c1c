"""The records Panel stores and renders: launches, personas, reviews, panels, comparisons."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import PurePath
from typing import Annotated, Any, Literal

from anyascii import anyascii
from pydantic import BaseModel, ConfigDict, Field, computed_field, field_validator, model_validator

from panel.lengths import (
    HEADLINE_MAX_CHARS,
    HEADLINE_WORDS,
    MAX_DESCRIPTION_CHARS,
    MAX_FIELD_CHARS,
    PRICING_READ_WORDS,
    QUOTE_WORDS,
    QUOTE_WORDS_ACCEPTED,
    word_count,
)


def now() -> datetime:
    """The current time in UTC, the only clock records use."""
    return datetime.now(UTC)


def slugify(text: str) -> str:
    """A URL-safe slug: lower-case ASCII words joined by hyphens, from a name in any script.

    Compatibility forms are folded (NFKC: fullwidth letters are ASCII, "™" is "TM"),
    symbols and emoji dropped, and letters of any script transliterated (anyascii:
    "Straße AI" is "strasse-ai", "通义千问 Max" is "tongyiqianwen-max"); ASCII names are
    only lower-cased and hyphenated. The result is empty when nothing can be spelled.
    """
    folded = unicodedata.normalize("NFKC", text)
    kept = "".join(c for c in folded if c.isascii() or not unicodedata.category(c).startswith("S"))
    slug = re.sub(r"[^a-z0-9]+", "-", anyascii(kept).lower()).strip("-")
    return slug[:80].strip("-")


class Verdict(StrEnum):
    """A reviewer's call on a launch."""

    SHIP = "ship"
    SKIP = "skip"


class Status(StrEnum):
    """Editorial status of a panel or a comparison."""

    DRAFT = "draft"
    APPROVED = "approved"
    PUBLISHED = "published"
    REJECTED = "rejected"


ShortText = Annotated[str, Field(max_length=MAX_FIELD_CHARS)]
SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"


MAX_SOURCES = 10
"""Sources a launch may list."""
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)


class SourceRef(BaseModel):
    """A source attached to a launch: a web page (``url``) or a local file (``path``:
    Markdown, HTML or text; relative paths are resolved against the launch file)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    url: ShortText | None = None
    path: str | None = Field(default=None, min_length=1, max_length=4096)
    label: ShortText | None = None
    """What the source is, for the editor and the model ("pricing page")."""

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"url": data} if _SCHEME.match(data.strip()) else {"path": data}
        return data

    @model_validator(mode="after")
    def _one_place(self) -> SourceRef:
        if (self.url is None) == (self.path is None):
            raise ValueError("give either url or path")
        if self.url is not None and not re.match(r"^https?://", self.url, re.IGNORECASE):
            raise ValueError("only http and https URLs are fetched")
        return self

    @property
    def where(self) -> str:
        """The URL or the path."""
        return self.url or self.path or ""


class SourceNote(BaseModel):
    """What a draft read of one source: its provenance (the text itself is in the store)."""

    where: str
    """The URL or the local path."""
    label: str | None = None
    ok: bool
    """False when it could not be read; ``reason`` says why in one line."""
    reason: str | None = None
    sha256: str | None = None
    """Of the bytes read (the page or file as fetched)."""
    size: int = 0
    """Bytes read."""
    words: int = 0
    """Words of extracted text the reviewers were given."""
    fetched_at: datetime | None = None

    @property
    def shown(self) -> str:
        """How the source is named to the model: its URL, or only a local file's name."""
        return self.where if re.match(r"^https?://", self.where) else PurePath(self.where).name


class SourceText(SourceNote):
    """A source as read: its extracted main text, with where it finally came from."""

    final_url: str | None = None
    http_status: int | None = None
    content_type: str | None = None
    title: str | None = None
    text: str = ""

    def note(self) -> SourceNote:
        """The provenance of this read, without its text."""
        return SourceNote(**{k: getattr(self, k) for k in SourceNote.model_fields})


class Launch(BaseModel):
    """A tool launch as an editor hands it in. Its text is untrusted."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: ShortText = Field(min_length=1)
    """Product name as launched."""
    slug: str = Field(default="", max_length=80)
    """URL-safe identifier; derived from the name when absent."""
    vendor: ShortText | None = None
    """Company or team behind the launch."""
    category: ShortText | None = None
    """Product category, e.g. Developer Tools."""
    tagline: ShortText | None = None
    """One-line pitch."""
    description: str = Field(min_length=1, max_length=MAX_DESCRIPTION_CHARS)
    """What the launch is, in the vendor's or editor's words."""
    entry: ShortText | None = None
    """Pricing entry: Free, Freemium, Paid, Enterprise..."""
    license: ShortText | None = None
    """License terms, when stated."""
    url: ShortText | None = None
    """Launch or product URL (http or https only)."""
    sources: list[SourceRef] = Field(default_factory=list, max_length=MAX_SOURCES)
    """Pages and files the reviewers read besides the description (issue 15)."""

    @model_validator(mode="after")
    def _derive_slug(self) -> Launch:
        if not self.slug:
            self.slug = slugify(self.name)
        if not self.slug:
            raise ValueError(
                f"the name {self.name!r} spells no slug (no letter or digit to write in "
                "ASCII); set `slug:` in the launch file"
            )
        if not re.match(SLUG_PATTERN, self.slug):
            raise ValueError(
                f"slug {self.slug!r} must be lower-case letters, digits and single hyphens"
            )
        return self

    @field_validator("url")
    @classmethod
    def _http_only(cls, value: str | None) -> str | None:
        if value and not re.match(r"^https?://", value, re.IGNORECASE):
            raise ValueError("must start with http:// or https://")
        return value


class Persona(BaseModel):
    """A reviewer: front matter of a persona file plus its voice."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=SLUG_PATTERN)
    """Short identifier used on the command line and in records (e.g. dx)."""
    name: str = Field(min_length=1)
    """Display name of the reviewer."""
    role: str = Field(min_length=1)
    """What lens the reviewer reads a launch through."""
    beats: list[str] = Field(min_length=1)
    """Questions the quote must answer, in order."""
    beat_cues: dict[str, list[str]] = Field(default_factory=dict)
    """Per beat (by index, as a string), cues whose presence suggests it is covered.

    Cue syntax (see panel/drafting/quality.py): a word or phrase (whole words), ``stem*`` (a
    prefix), or a special cue: ``@name``, ``@number``, ``@money``, ``@duration``,
    ``@verdict``. A beat without cues is not checked.
    """
    beat_labels: list[str] = Field(default_factory=list)
    """Short names of the beats, aligned with ``beats`` (flags use them); default: 'beat N'."""
    model: str | None = None
    """Optional model id override, e.g. anthropic:claude-haiku-4-5."""
    order: int = 100
    """Position on the scorecard (lower first)."""
    pricing_read: bool = False
    """True for the one reviewer whose quote carries the pages' pricing read."""
    voice: str = ""
    """The body of the persona file: voice and rubric."""
    file_hash: str = ""
    """SHA-256 of the persona file, for provenance."""

    @model_validator(mode="after")
    def _beats_line_up(self) -> Persona:
        if self.beat_labels and len(self.beat_labels) != len(self.beats):
            raise ValueError(
                f"beat_labels has {len(self.beat_labels)} entries for {len(self.beats)} beats"
            )
        for key in self.beat_cues:
            if not key.isdigit() or int(key) >= len(self.beats):
                raise ValueError(
                    f"beat_cues key {key!r} must be a beat index from 0 to {len(self.beats) - 1}"
                )
        return self

    def beat_label(self, index: int) -> str:
        """The short name of beat ``index``."""
        return self.beat_labels[index] if self.beat_labels else f"beat {index + 1}"


PRICING_READ = "pricing_read"
"""The answer field of the reviewer whose persona file gives the pricing read."""
PRICING_READ_ASK = (
    "One sentence: your read of the pricing, in your voice; null unless your instructions "
    "ask you for it."
)
"""What the wire schema tells the model the pricing read is."""
# A sentence ends at . ! or ? (then any closing quotes) before a capital or a digit.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'\u201d\u2019)]*\s+(?=[\"'\u201c\u2018(]?[A-Z0-9])")


class ReviewOutput(BaseModel):
    """What a model must return for one persona (the wire schema, validated here)."""

    model_config = ConfigDict(extra="forbid")

    headline: str = Field(
        description=f"One line, at most {HEADLINE_WORDS.high} words, summing up the call."
    )
    quote: str = Field(description="One paragraph in the reviewer's own voice.")
    verdict: Verdict = Field(description="ship or skip; must follow from the quote.")
    pricing_read: str | None = Field(default=None, description=PRICING_READ_ASK)
    """Asked only of the reviewer whose persona file sets ``pricing_read: true``."""

    @field_validator("headline")
    @classmethod
    def _headline(cls, value: str) -> str:
        value = " ".join(value.split())
        if not value:
            raise ValueError("headline is empty")
        if len(value) > HEADLINE_MAX_CHARS:
            raise ValueError(
                f"headline is {len(value)} characters; keep it under {HEADLINE_MAX_CHARS}"
            )
        return value

    @field_validator("quote")
    @classmethod
    def _quote(cls, value: str) -> str:
        value = " ".join(value.split())
        words = word_count(value)
        if not QUOTE_WORDS_ACCEPTED.low <= words <= QUOTE_WORDS_ACCEPTED.high:
            fix = "write" if words < QUOTE_WORDS_ACCEPTED.low else "cut it to"
            raise ValueError(f"quote has {words} words; {fix} one paragraph of {QUOTE_WORDS} words")
        return value

    @field_validator("pricing_read")
    @classmethod
    def _pricing_read(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = " ".join(value.split())
        words = word_count(value)
        if not PRICING_READ_WORDS.low <= words <= PRICING_READ_WORDS.high:
            fix = "write" if words < PRICING_READ_WORDS.low else "cut it to"
            raise ValueError(
                f"pricing_read has {words} words; {fix} one sentence of {PRICING_READ_WORDS} "
                "words giving your read of the pricing"
            )
        sentences = len(_SENTENCE_END.split(value))
        if sentences > 1:
            raise ValueError(
                f"pricing_read has {sentences} sentences; make it one sentence with your read "
                "of the pricing"
            )
        return value

    @classmethod
    def wire_schema(cls) -> dict[str, object]:
        """JSON schema every provider accepts: all fields required, no extra keys.

        One schema for every reviewer, so that the prompt prefix the four reviewers share
        stays identical (providers cache the schema as part of the prompt): the pricing
        read may be null, and the persona's own instructions say whether to give it.
        """
        properties = cls._wire_properties()
        return {
            "type": "object",
            "properties": properties,
            "required": list(properties),
            "additionalProperties": False,
        }

    @classmethod
    def wire_fields(cls) -> list[str]:
        """The names of the answer's fields, in schema order."""
        return list(cls._wire_properties())

    @staticmethod
    def _wire_properties() -> dict[str, object]:
        return {
            "headline": {"type": "string", "description": "One line summing up the call."},
            "quote": {
                "type": "string",
                "description": f"One paragraph of {QUOTE_WORDS.low}-{QUOTE_WORDS.high} "
                "words in the reviewer's voice.",
            },
            "verdict": {"type": "string", "enum": ["ship", "skip"]},
            PRICING_READ: {"type": ["string", "null"], "description": PRICING_READ_ASK},
        }


class Provenance(BaseModel):
    """Where a review came from."""

    model: str
    """Model id, provider:model."""
    persona_hash: str
    """SHA-256 of the persona file used."""
    template_hash: str
    """SHA-256 of the prompt templates used."""
    attempts: int = 0
    """Model calls made for this review (retries and re-asks included)."""
    input_tokens: int = 0
    """Input tokens over all attempts."""
    output_tokens: int = 0
    """Output tokens over all attempts."""
    cost_usd: float = 0.0
    """Cost over all attempts, from the price table."""
    latency_ms: int = 0
    """Wall time spent producing this review."""


class ClaimKind(StrEnum):
    """What a checkable claim is."""

    NUMBER = "number"
    """A number: a percentage, score, size, count, date or duration."""
    MONEY = "money"
    """An amount of money, e.g. $20 per seat."""
    NAME = "name"
    """A named product, company, model, license or benchmark."""


class ClaimStatus(StrEnum):
    """Where a claim stands with the editor."""

    IN_LAUNCH = "in_launch"
    """The launch text states it."""
    TO_VERIFY = "to_verify"
    """Not in the launch: an editor must verify or waive it before approval."""
    VERIFIED = "verified"
    """An editor checked it."""
    WAIVED = "waived"
    """An editor let it stand unchecked (e.g. opinion, common knowledge)."""
    SUPPORTED = "supported"
    """A source the reviewers read states it (``source``, ``evidence``): no check needed."""


ClaimField = Literal["quote", "headline", "pricing_read"]


class Claim(BaseModel):
    """A checkable fact in a review's text: a number, an amount or a name."""

    id: str
    """Stable within a panel (the reviewer, then a hash of the kind and text), e.g. dx-3f2a."""
    text: str
    """The claim as written, e.g. '$20 per seat'."""
    kind: ClaimKind
    """number, money or name."""
    status: ClaimStatus = ClaimStatus.TO_VERIFY
    """in_launch, to_verify, verified or waived."""
    field: ClaimField = "quote"
    """Which text of the review it was found in first."""
    changed_by: str | None = None
    """The editor who last verified or waived it."""
    changed_at: datetime | None = None
    """When they did."""
    source: str | None = None
    """For a supported claim: the URL or path of the source that states it."""
    evidence: str | None = None
    """For a supported claim: the source's sentence that states it."""

    @property
    def open(self) -> bool:
        """True while an editor still has to verify or waive it."""
        return self.status is ClaimStatus.TO_VERIFY


class BeatRead(BaseModel):
    """Whether a quote covers one of its persona's beats, and the cue that said so."""

    beat: str
    """The beat's short name (the persona's beat label)."""
    covered: bool
    """True when a cue of the beat was found in the quote."""
    cue: str | None = None
    """The cue that matched, with the text it matched, e.g. 'weekend'; None when missing."""


class Review(BaseModel):
    """One persona's read of one launch."""

    persona_id: str
    """Persona file id."""
    persona_name: str
    """Display name of the persona at generation time."""
    pricing_read: str | None = None
    """This reviewer's one-sentence read of the pricing, when its persona file gives one."""
    verdict: Verdict | None = None
    """ship or skip; None when the persona failed."""
    headline: str = ""
    """One-line summary of the call."""
    quote: str = ""
    """The reviewer's paragraph."""
    failed: bool = False
    """True when no valid answer was obtained."""
    error: str | None = None
    """Why the persona failed, when it did."""
    raw: str | None = None
    """Raw model output of the last attempt, kept for failures."""
    human_edited: bool = False
    """True once an editor changed the quote or verdict by hand."""
    flags: list[str] = Field(default_factory=list)
    """Quality flags for the editor."""
    dismissed_flags: list[str] = Field(default_factory=list)
    """Flags an editor dismissed (audited); a flag that is no longer raised drops out."""
    claims: list[Claim] = Field(default_factory=list)
    """The checkable claims of the headline, quote and pricing read."""
    beats: list[BeatRead] = Field(default_factory=list)
    """Per-beat coverage of the quote (empty for failed reviews and old records)."""
    provenance: Provenance | None = None
    """Model, hashes, attempts, tokens, cost."""

    @model_validator(mode="before")
    @classmethod
    def _legacy_pricing_read(cls, data: Any) -> Any:
        """Records stored before the pricing read was the reviewer's own answer said only
        whether the quote carried it (a bool): they have no pricing read."""
        if isinstance(data, dict) and isinstance(data.get("pricing_read"), bool):
            return {**data, "pricing_read": None}
        return data

    @property
    def open_flags(self) -> list[str]:
        """Flags not dismissed by an editor."""
        return [f for f in self.flags if f not in self.dismissed_flags]

    @property
    def open_claims(self) -> list[Claim]:
        """Claims an editor still has to verify or waive."""
        return [c for c in self.claims if c.open]

    def claim(self, claim_id: str) -> Claim | None:
        """The claim with ``claim_id``, if this review has it."""
        return next((c for c in self.claims if c.id == claim_id), None)


class ToolPanel(BaseModel):
    """A launch with its reviewer panel."""

    slug: str
    """Launch slug; one panel per tool."""
    launch: Launch
    """The launch as handed in."""
    reviews: list[Review] = Field(default_factory=list)
    """One per persona, in scorecard order."""
    status: Status = Status.DRAFT
    """Editorial status."""
    revision: int = 1
    """Incremented on every change."""
    reason: str | None = None
    """Why it was rejected, when it was."""
    diversity: float | None = None
    """1 - mean pairwise cosine similarity of the quotes; None when not measured."""
    max_similarity: float | None = None
    """Cosine similarity of the two most alike quotes; None when not measured."""
    flags: list[str] = Field(default_factory=list)
    """Panel-level quality flags for the editor (e.g. a collapsed panel)."""
    dismissed_flags: list[str] = Field(default_factory=list)
    """Panel-level flags an editor dismissed (audited)."""
    sources: list[SourceNote] = Field(default_factory=list)
    """The launch's sources as the draft read them (hash, size; why one failed)."""
    created_at: datetime = Field(default_factory=now)
    """When the first revision was drafted."""
    updated_at: datetime = Field(default_factory=now)
    """When the latest revision was made."""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def ship_count(self) -> int:
        """Reviewers who said ship."""
        return sum(1 for r in self.reviews if r.verdict is Verdict.SHIP)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def verdict_count(self) -> int:
        """Reviewers with a verdict (failed personas excluded)."""
        return sum(1 for r in self.reviews if r.verdict is not None)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def ship_share(self) -> float | None:
        """Share of reviewers with a verdict who said ship, 0..1, or None."""
        if not self.verdict_count:
            return None
        return self.ship_count / self.verdict_count

    @computed_field  # type: ignore[prop-decorator]
    @property
    def split(self) -> str:
        """Reviewer split, e.g. '3/4 ship'."""
        return f"{self.ship_count}/{self.verdict_count} ship"

    def review(self, persona_id: str) -> Review | None:
        """The review of ``persona_id``, if the panel has one."""
        return next((r for r in self.reviews if r.persona_id == persona_id), None)

    @property
    def open_flags(self) -> list[str]:
        """Panel-level flags not dismissed by an editor."""
        return [f for f in self.flags if f not in self.dismissed_flags]


def percent(share: float | None) -> str:
    """A share as a whole percentage, or an em dash when there is none."""
    return "—" if share is None else f"{round(share * 100)}%"


def comparison_slug(a_slug: str, b_slug: str) -> str:
    """The slug of the comparison of two tools, in the order given: 'a-vs-b'."""
    return f"{a_slug}-vs-{b_slug}"


class Comparison(BaseModel):
    """Two tool panels side by side: "A vs B — which one should you ship with?"."""

    slug: str = Field(pattern=SLUG_PATTERN)
    """Comparison slug, 'a-vs-b' in the order the tools were given."""
    a_slug: str = Field(pattern=SLUG_PATTERN)
    """Slug of the first tool's panel."""
    b_slug: str = Field(pattern=SLUG_PATTERN)
    """Slug of the second tool's panel."""
    status: Status = Status.DRAFT
    """Editorial status."""
    revision: int = 1
    """Incremented on every change."""
    reason: str | None = None
    """Why it was rejected, when it was."""
    created_at: datetime = Field(default_factory=now)
    """When the first revision was made."""
    updated_at: datetime = Field(default_factory=now)
    """When the latest revision was made."""

    @model_validator(mode="after")
    def _two_tools(self) -> Comparison:
        if self.a_slug == self.b_slug:
            raise ValueError(f"a comparison needs two different tools, got {self.a_slug!r} twice")
        return self

    @classmethod
    def of(cls, a_slug: str, b_slug: str) -> Comparison:
        """A new draft comparison of two tools, slugged in the order given."""
        return cls(slug=comparison_slug(a_slug, b_slug), a_slug=a_slug, b_slug=b_slug)


class Votes(BaseModel):
    """Community votes on one tool."""

    slug: str = Field(pattern=SLUG_PATTERN)
    """Slug of the tool voted on."""
    ship: int = Field(default=0, ge=0)
    """Votes to ship."""
    skip: int = Field(default=0, ge=0)
    """Votes to skip."""
    updated_at: datetime | None = None
    """When the counts last changed; None when there are no votes yet."""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def total(self) -> int:
        """All votes cast."""
        return self.ship + self.skip

    @computed_field  # type: ignore[prop-decorator]
    @property
    def share(self) -> float | None:
        """Share of votes that said ship, 0..1, or None with no votes."""
        return self.ship / self.total if self.total else None
