"""The claim extractor against its hand-annotated table: recall and false alarms by kind.

The table (tests/drafting/claims_table.yaml) holds realistic reviewer sentences with the
claims an editor would have to check, written apart from the extractor's patterns. An
expected claim counts as found when an extracted claim of the same kind overlaps it (the
desk highlights that span, so the editor sees it); an extracted claim that overlaps no
expected claim of its kind is a false alarm. Money and numbers are scored together too,
as the issue's target is stated for them together.

    .venv/bin/python -m benchmarks.claims [--misses]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from panel.claims import Found, find_claims, launch_vocabulary
from panel.records import ClaimKind, Launch

TABLES = Path(__file__).resolve().parent.parent / "tests" / "drafting"
TABLE = TABLES / "claims_table.yaml"
"""The table the extractor was tuned on (written before the extractor was tuned)."""
TABLE_2 = TABLES / "claims_table_2.yaml"
"""Written next by someone who had not read the extractor; measured once held out, then
used for tuning too."""
HELD_OUT = TABLES / "claims_heldout.yaml"
"""Written last by someone who had not read the extractor; never used to tune it."""
KINDS: dict[str, ClaimKind] = {
    "money": ClaimKind.MONEY,
    "numbers": ClaimKind.NUMBER,
    "names": ClaimKind.NAME,
}
PERSONAS = ("The Builder", "The Skeptic", "The Futurist", "The Operator")


@dataclass
class Tally:
    """Expected claims found and missed, and false alarms, of one kind."""

    found: int = 0
    missed: list[str] = field(default_factory=list)
    false_alarms: list[str] = field(default_factory=list)

    @property
    def expected(self) -> int:
        return self.found + len(self.missed)

    @property
    def recall(self) -> float:
        return self.found / self.expected if self.expected else 1.0

    def add(self, other: Tally) -> Tally:
        return Tally(
            self.found + other.found,
            self.missed + other.missed,
            self.false_alarms + other.false_alarms,
        )


@dataclass(frozen=True)
class Row:
    """One sentence of the table with its expected claims by kind."""

    sentence: str
    expected: dict[ClaimKind, list[str]]
    known: frozenset[str] = frozenset()
    """The vocabulary of the launch the sentence is about (none for a general line)."""


def load_table(path: Path = TABLE) -> list[Row]:
    """The table's sentences; each expected claim must be a substring of its sentence."""
    data: dict[str, Any] = yaml.safe_load(path.read_text("utf-8"))
    launches = {key: Launch(**value) for key, value in (data.get("launches") or {}).items()}
    rows = []
    for entry in data["claims"]:
        sentence = entry["sentence"]
        expected = {kind: list(entry.get(key) or []) for key, kind in KINDS.items()}
        for texts in expected.values():
            for text in texts:
                if text not in sentence:
                    raise ValueError(f"{path}: {text!r} is not in {sentence!r}")
        launch = launches.get(entry["launch"]) if entry.get("launch") else None
        known = frozenset(launch_vocabulary(launch)) if launch else frozenset()
        rows.append(Row(sentence, expected, known))
    return rows


def _spans(sentence: str, texts: list[str]) -> Iterator[tuple[str, int, int]]:
    start = 0
    for text in texts:
        at = sentence.find(text, start)
        if at < 0:
            at = sentence.find(text)
        yield text, at, at + len(text)
        start = at + 1


def score_row(row: Row) -> dict[ClaimKind, Tally]:
    """Found, missed and false alarms for one sentence, by kind."""
    found = find_claims(row.sentence, ignore=PERSONAS, known=row.known)
    tallies = {}
    for kind in ClaimKind:
        mine: list[Found] = [f for f in found if f.kind is kind]
        wanted = list(_spans(row.sentence, row.expected[kind]))
        tally = Tally()
        for text, start, end in wanted:
            if any(f.start < end and start < f.end for f in mine):
                tally.found += 1
            else:
                tally.missed.append(f"{text!r} in {row.sentence!r}")
        for f in mine:
            if not any(start < f.end and f.start < end for _, start, end in wanted):
                tally.false_alarms.append(f"{f.text!r} in {row.sentence!r}")
        tallies[kind] = tally
    return tallies


def score_table(rows: list[Row]) -> dict[str, Tally]:
    """The table's tallies: by kind, and money and numbers together."""
    totals = {kind: Tally() for kind in ClaimKind}
    for row in rows:
        for kind, tally in score_row(row).items():
            totals[kind] = totals[kind].add(tally)
    result = {kind.value: tally for kind, tally in totals.items()}
    result["money+number"] = totals[ClaimKind.MONEY].add(totals[ClaimKind.NUMBER])
    return result


def report(path: Path, *, misses: bool) -> None:
    """Print one table's figures (and, with ``misses``, what was missed or false)."""
    rows = load_table(path)
    started = time.perf_counter()
    scores = score_table(rows)
    elapsed = time.perf_counter() - started
    print(f"{path.name}: {len(rows)} sentences")
    for name, tally in scores.items():
        print(
            f"  {name:<13} recall {tally.recall:6.1%} ({tally.found} of {tally.expected} found) "
            f"· {len(tally.false_alarms)} false alarms"
        )
    print(f"  extraction: {elapsed / len(rows) * 1e6:.0f} µs a sentence")
    if misses:
        for name, tally in scores.items():
            if name == "money+number":
                continue
            for line in tally.missed:
                print(f"  missed {name}: {line}")
            for line in tally.false_alarms:
                print(f"  false alarm {name}: {line}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--misses", action="store_true", help="List misses and false alarms.")
    args = parser.parse_args()
    for path in (TABLE, TABLE_2, HELD_OUT):
        report(path, misses=args.misses)


if __name__ == "__main__":
    main()
