"""Who is making a change: --editor-name, $PANEL_EDITOR, or the OS user."""

from __future__ import annotations

import getpass
import os


def current_editor(name: str | None = None) -> str:
    """The editor's name for the audit trail."""
    if name and name.strip():
        return name.strip()
    env = os.environ.get("PANEL_EDITOR", "").strip()
    if env:
        return env
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
