"""The `panel` command: the group and shared options (app), one module per command family."""

from panel.cli.main import main

__all__ = ["main"]
