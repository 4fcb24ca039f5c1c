"""Storage: every SQL statement of the project (SQLite), behind the Store."""

from panel.store.core import CallRecord, Store, open_store

__all__ = ["CallRecord", "Store", "open_store"]
