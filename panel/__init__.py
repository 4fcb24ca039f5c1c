"""Panel: reviewer panels for newly launched AI and developer tools."""

__version__ = "0.1.0"
