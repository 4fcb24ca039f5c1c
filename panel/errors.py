"""Errors that reach the user as one line."""


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
