"""Where Panel finds its files: personas, prompts, the database, the site."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
"""The project folder: personas/ and prompts/ live here."""


def personas_dir() -> Path:
    """Persona files: $PANEL_PERSONAS or personas/ of the project."""
    return Path(os.environ.get("PANEL_PERSONAS") or ROOT / "personas")


def prompts_dir() -> Path:
    """Prompt templates: $PANEL_PROMPTS or prompts/ of the project."""
    return Path(os.environ.get("PANEL_PROMPTS") or ROOT / "prompts")


def outputs_dir() -> Path:
    """Default home of the database and the site: $PANEL_OUTPUTS or outputs/."""
    return Path(os.environ.get("PANEL_OUTPUTS") or ROOT / "outputs")


def cache_dir() -> Path:
    """Files Panel derives and may remake (the local model's requantized weights):
    $PANEL_CACHE, else $XDG_CACHE_HOME/panel, else ~/.cache/panel."""
    env = os.environ.get("PANEL_CACHE")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "panel"


def default_db() -> Path:
    """The database: $PANEL_DB or outputs/panel.db."""
    env = os.environ.get("PANEL_DB")
    return Path(env) if env else outputs_dir() / "panel.db"
