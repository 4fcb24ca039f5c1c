"""Errors that reach the user as one line, and the exit codes a script can rely on.

Exit codes: 0 everything worked; 1 an error; 2 bad input (a file, a field, an option);
3 a stale revision (conflict); 4 not found; 5 done, but some reviews (or panels of a
batch) failed; 6 nothing worked: every review (or every panel of a batch) failed;
130 interrupted.
"""

from __future__ import annotations

from dataclasses import dataclass

EXIT_SOME_FAILED = 5
EXIT_ALL_FAILED = 6


def outcome_code(*, ok: int, bad: int) -> int:
    """The exit code of work with ``ok`` successes and ``bad`` failures."""
    if not bad:
        return 0
    return EXIT_SOME_FAILED if ok else EXIT_ALL_FAILED


class PanelError(Exception):
    """An error the CLI prints as one line, exiting non-zero."""

    exit_code = 1

    def lines(self) -> list[str]:
        """What the CLI prints: one line (a newline in it is text, not a line break)."""
        return [str(self)]


class UsageError(PanelError):
    """The user's input is wrong: a file, a field, an option."""

    exit_code = 2


@dataclass(frozen=True)
class Blocker:
    """One thing an editor must settle before an approval or a publish."""

    kind: str
    """failed, claims, flags or status."""
    text: str

    def __str__(self) -> str:
        return self.text


class BlockedError(UsageError):
    """An approval or publish that cannot go ahead yet: every blocker, listed at once."""

    def __init__(self, what: str, blockers: list[Blocker], *, hint: str = "") -> None:
        self.what = what
        self.blockers = blockers
        self.hint = hint
        """A way around all of them (the CLI's --force), printed last; not a blocker."""
        super().__init__("\n".join(self.lines()))

    def lines(self) -> list[str]:
        """One line when there is one blocker; else a header and a line a blocker."""
        hint = [self.hint] if self.hint else []
        if len(self.blockers) == 1:
            return [f"cannot {self.what}: {self.blockers[0]}", *hint]
        head = f"cannot {self.what}: {len(self.blockers)} things to settle first:"
        return [head, *(f"  - {b}" for b in self.blockers), *hint]

    @property
    def only_flags(self) -> bool:
        """True when confirming the flags would let it go ahead."""
        return all(b.kind == "flags" for b in self.blockers)


class ConflictError(PanelError):
    """A change was made against a stale revision."""

    exit_code = 3


class NotFoundError(PanelError):
    """A record that does not exist was asked for."""

    exit_code = 4


class ModelFailure(PanelError):
    """A model call failed after its retries (an outage, a refusal): nothing was changed."""
