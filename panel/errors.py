"""Errors that reach the user as one line, and the exit codes a script can rely on.

Exit codes: 0 everything worked; 1 an error; 2 bad input (a file, a field, an option);
3 a stale revision (conflict); 4 not found; 5 done, but some reviews (or panels of a
batch) failed; 6 nothing worked: every review (or every panel of a batch) failed;
130 interrupted.
"""

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


class UsageError(PanelError):
    """The user's input is wrong: a file, a field, an option."""

    exit_code = 2


class ConflictError(PanelError):
    """A change was made against a stale revision."""

    exit_code = 3


class NotFoundError(PanelError):
    """A record that does not exist was asked for."""

    exit_code = 4


class ModelFailure(PanelError):
    """A model call failed after its retries (an outage, a refusal): nothing was changed."""
