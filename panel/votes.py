"""Community votes: ship/skip counts per tool, cast one by one or imported in bulk."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from panel.errors import UsageError
from panel.files import parse_json, read_text
from panel.records import SLUG_PATTERN, Verdict, Votes
from panel.store import Store
from panel.store.votes import add_votes, get_votes, set_votes

MAX_VOTES = 1_000_000_000
"""Upper bound on one count, to catch a misplaced column."""
FIELDS = ("slug", "ship", "skip")

__all__ = ["Imported", "add_vote", "get_votes", "import_votes", "parse_votes_file", "set_votes"]


def add_vote(store: Store, slug: str, verdict: Verdict, count: int = 1) -> Votes:
    """Add ``count`` votes for ``verdict`` on ``slug``; returns the new totals."""
    if not 1 <= count <= MAX_VOTES:
        raise UsageError(f"--count must be between 1 and {MAX_VOTES:,}, got {count}")
    ship, skip = (count, 0) if verdict is Verdict.SHIP else (0, count)
    return add_votes(store, slug, ship=ship, skip=skip)


def _count(value: Any, where: str, field: str) -> int:
    if isinstance(value, bool):
        raise UsageError(f"{where}: {field}: expected a whole number, found {value!r}")
    if isinstance(value, str):
        value = value.strip() or "0"
        if not re.fullmatch(r"\d+", value):
            raise UsageError(f"{where}: {field}: expected a whole number, found {value!r}")
        value = int(value)
    if not isinstance(value, int) or value < 0:
        raise UsageError(f"{where}: {field}: expected a whole number >= 0, found {value!r}")
    if value > MAX_VOTES:
        raise UsageError(f"{where}: {field}: {value:,} is more than {MAX_VOTES:,}")
    return value


def _row(data: Any, where: str) -> Votes:
    if not isinstance(data, dict):
        raise UsageError(f"{where}: expected an object with slug, ship, skip")
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise UsageError(f"{where}: unknown field {unknown[0]!r} (allowed: slug, ship, skip)")
    slug = data.get("slug")
    if not isinstance(slug, str) or not re.match(SLUG_PATTERN, slug.strip()):
        raise UsageError(
            f"{where}: slug: {slug!r} is not a slug (lower-case letters, digits, hyphens)"
        )
    return Votes(
        slug=slug.strip(),
        ship=_count(data.get("ship", 0), where, "ship"),
        skip=_count(data.get("skip", 0), where, "skip"),
    )


def _parse_csv(text: str, source: str) -> list[Votes]:
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip().lower() for h in reader.fieldnames or []]
    if "slug" not in header:
        raise UsageError(f"{source}: line 1: the CSV needs a header row: slug,ship,skip")
    reader.fieldnames = header
    rows = []
    for record in reader:
        where = f"{source}: line {reader.line_num}"
        if None in record:
            raise UsageError(f"{where}: more cells than the header has columns")
        rows.append(_row(record, where))
    return rows


def _parse_json(text: str, source: str) -> list[Votes]:
    data = parse_json(text, source)
    if isinstance(data, dict):
        # {"slug": {"ship": 3, "skip": 1}, ...}
        items = [
            {"slug": slug, **counts} if isinstance(counts, dict) else counts
            for slug, counts in data.items()
        ]
    elif isinstance(data, list):
        items = data
    else:
        raise UsageError(f"{source}: expected a list of {{slug, ship, skip}} objects")
    return [_row(item, f"{source}: item {n}") for n, item in enumerate(items, start=1)]


def parse_votes_file(path: Path) -> list[Votes]:
    """Read a CSV or JSON file of slug, ship, skip rows; any bad row is a UsageError."""
    text = read_text(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        rows = _parse_csv(text, str(path))
    elif suffix == ".json":
        rows = _parse_json(text, str(path))
    else:
        raise UsageError(f"{path}: expected a .csv or .json file of slug, ship, skip")
    if not rows:
        raise UsageError(f"{path}: no vote rows found")
    seen: set[str] = set()
    for votes in rows:
        if votes.slug in seen:
            raise UsageError(f"{path}: slug {votes.slug!r} appears more than once")
        seen.add(votes.slug)
    return rows


@dataclass(frozen=True)
class Imported:
    """What a votes import did: the counts set, and the slugs skipped for naming no panel."""

    rows: list[Votes]
    skipped: list[str]


def import_votes(store: Store, path: Path) -> Imported:
    """Set the counts of every slug of a votes file that names a panel, in one transaction
    (a bad row changes nothing); rows whose slug has no panel are skipped, never counted."""
    rows = parse_votes_file(path)
    known = [v for v in rows if store.find_panel(v.slug) is not None]
    skipped = [v.slug for v in rows if v not in known]
    return Imported(set_votes(store, known) if known else [], skipped)
