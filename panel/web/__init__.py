"""The web review desk (`panel serve`): the queue, drafts, edits and publishing in a browser."""

from panel.web.app import create_app

__all__ = ["create_app"]
