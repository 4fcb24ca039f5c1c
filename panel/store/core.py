"""SQLite storage: panels, reviews, revisions (the audit trail) and the call log."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from panel.errors import ConflictError, NotFoundError, UsageError
from panel.records import Comparison, Review, Status, ToolPanel, now
from panel.store.migrations import MIGRATIONS

Versioned = TypeVar("Versioned", ToolPanel, Comparison)
"""A record with a slug, a revision and timestamps: what the revision rule applies to."""


class Answer(Protocol):
    """What the response cache keeps of a model's answer (a provider's ModelResponse)."""

    @property
    def text(self) -> str: ...
    @property
    def input_tokens(self) -> int: ...
    @property
    def output_tokens(self) -> int: ...
    @property
    def cache_read_tokens(self) -> int: ...
    @property
    def cache_write_tokens(self) -> int: ...
    @property
    def stop_reason(self) -> str | None: ...


@dataclass(frozen=True)
class CachedAnswer:
    """An answer as the response cache returns it."""

    text: str
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    stop_reason: str | None


ANSWER_FIELDS = tuple(CachedAnswer.__dataclass_fields__)


@dataclass(frozen=True)
class CallRecord:
    """One model call (one attempt) as the call log keeps it."""

    model: str
    attempt: int
    request: str
    response: str | None = None
    error: str | None = None
    status: int | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float = 0.0
    latency_ms: int = 0
    panel_slug: str | None = None
    persona_id: str | None = None
    cache_key: str | None = None
    cached: bool = False


class Store:
    """A Panel database. Open with :func:`open_store`; every write is one transaction."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self.conn = conn
        self.path = path

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that takes the lock up front (BEGIN IMMEDIATE).

        Nested, it joins the outer one: several saves commit (or roll back) together.
        """
        if self.conn.in_transaction:
            yield self.conn
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")

    @contextmanager
    def together(self) -> Iterator[None]:
        """Several saves as one unit: they all commit, or none does (nothing half-written)."""
        with self.transaction():
            yield

    # -- schema -------------------------------------------------------------------------

    def schema_version(self) -> int:
        """Highest migration applied."""
        row = self.conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
        return int(row[0] or 0)

    def migrate(self) -> None:
        """Apply pending numbered migrations, each recorded in schema_migrations."""
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        current = self.schema_version()
        if current > len(MIGRATIONS):
            raise UsageError(
                f"{self.path}: database schema {current} is newer than this panel "
                f"({len(MIGRATIONS)}); upgrade panel"
            )
        for version, (name, sql) in enumerate(MIGRATIONS, start=1):
            if version <= current:
                continue
            with self.transaction() as conn:
                for statement in sql.split(";\n"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                    (version, name, now().isoformat()),
                )

    # -- panels -------------------------------------------------------------------------

    def save_panel(
        self,
        panel: ToolPanel,
        *,
        expected_revision: int | None,
        editor: str,
        action: str,
        detail: str = "",
    ) -> ToolPanel:
        """Store ``panel`` as a new revision; refuse if the stored one moved on.

        ``expected_revision`` is the revision the change was made against (None for a
        panel that must not exist yet). Returns the stored panel with its new revision.
        """
        with self.transaction() as conn:
            row = conn.execute(
                "SELECT revision FROM panels WHERE slug = ?", (panel.slug,)
            ).fetchone()
            saved = self.next_revision("panel", panel, row[0] if row else None, expected_revision)
            conn.execute(
                "INSERT INTO panels (slug, revision, status, record, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(slug) DO UPDATE SET "
                "revision=excluded.revision, status=excluded.status, record=excluded.record, "
                "updated_at=excluded.updated_at",
                (
                    saved.slug,
                    saved.revision,
                    saved.status.value,
                    saved.model_dump_json(exclude={"reviews"}),
                    saved.created_at.isoformat(),
                    saved.updated_at.isoformat(),
                ),
            )
            conn.execute("DELETE FROM reviews WHERE panel_slug = ?", (saved.slug,))
            for position, review in enumerate(saved.reviews):
                self._insert_review(conn, saved.slug, position, review)
            self.audit(conn, "panel", saved, editor=editor, action=action, detail=detail)
        return saved

    def next_revision(
        self, kind: str, record: Versioned, stored: int | None, expected: int | None
    ) -> Versioned:
        """``record`` as the revision after ``stored``, stamped now; a change made against
        another revision than the stored one is a ConflictError naming who moved it on."""
        if stored != expected:
            raise ConflictError(self._conflict_message(kind, record.slug, expected))
        stamp = now()
        created = record.created_at if stored else stamp
        return record.model_copy(
            update={"revision": (stored or 0) + 1, "updated_at": stamp, "created_at": created}
        )

    @staticmethod
    def audit(
        conn: sqlite3.Connection,
        kind: str,
        saved: Versioned,
        *,
        editor: str,
        action: str,
        detail: str,
    ) -> None:
        """The audit entry of a stored revision: who, when, what, and its snapshot."""
        conn.execute(
            "INSERT INTO revisions (kind, slug, revision, at, editor, action, detail, record)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                kind,
                saved.slug,
                saved.revision,
                saved.updated_at.isoformat(),
                editor,
                action,
                detail,
                saved.model_dump_json(),
            ),
        )

    def _conflict_message(self, kind: str, slug: str, expected: int | None) -> str:
        last = self.conn.execute(
            "SELECT revision, editor, at, action FROM revisions WHERE kind = ? AND slug = ? "
            "ORDER BY revision DESC LIMIT 1",
            (kind, slug),
        ).fetchone()
        if expected is None:
            return f"{kind} {slug!r} already exists (revision {last[0] if last else '?'})"
        if last is None:
            return f"{kind} {slug!r} does not exist"
        return (
            f"{kind} {slug!r} changed since revision {expected}: revision {last[0]} by "
            f"{last[1]} at {last[2][:19]} ({last[3]}); reload and try again"
        )

    @staticmethod
    def _insert_review(conn: sqlite3.Connection, slug: str, position: int, review: Review) -> None:
        prov = review.provenance
        conn.execute(
            "INSERT INTO reviews (panel_slug, persona_id, position, verdict, failed, "
            "human_edited, model, persona_hash, template_hash, attempts, input_tokens, "
            "output_tokens, cost_usd, latency_ms, record) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                slug,
                review.persona_id,
                position,
                review.verdict.value if review.verdict else None,
                int(review.failed),
                int(review.human_edited),
                prov.model if prov else None,
                prov.persona_hash if prov else None,
                prov.template_hash if prov else None,
                prov.attempts if prov else 0,
                prov.input_tokens if prov else 0,
                prov.output_tokens if prov else 0,
                prov.cost_usd if prov else 0.0,
                prov.latency_ms if prov else 0,
                review.model_dump_json(),
            ),
        )

    def find_panel(self, slug: str) -> ToolPanel | None:
        """The current revision of a panel, or None."""
        row = self.conn.execute("SELECT record FROM panels WHERE slug = ?", (slug,)).fetchone()
        if row is None:
            return None
        reviews = [
            Review.model_validate_json(r[0])
            for r in self.conn.execute(
                "SELECT record FROM reviews WHERE panel_slug = ? ORDER BY position", (slug,)
            )
        ]
        data: dict[str, Any] = json.loads(row[0])
        data["reviews"] = reviews
        return ToolPanel.model_validate(data)

    def get_panel(self, slug: str) -> ToolPanel:
        """The current revision of a panel; NotFoundError names the fix."""
        panel = self.find_panel(slug)
        if panel is None:
            raise NotFoundError(f"no panel {slug!r}; run `panel list` or `panel draft LAUNCH`")
        return panel

    def list_panels(self, status: Status | None = None) -> list[ToolPanel]:
        """All panels, oldest first, optionally of one status."""
        query = "SELECT slug FROM panels"
        params: tuple[str, ...] = ()
        if status is not None:
            query += " WHERE status = ?"
            params = (status.value,)
        slugs = [r[0] for r in self.conn.execute(query + " ORDER BY created_at, slug", params)]
        return [self.get_panel(slug) for slug in slugs]

    def history(self, kind: str, slug: str) -> list[dict[str, Any]]:
        """The audit trail of a record, oldest first."""
        rows = self.conn.execute(
            "SELECT revision, at, editor, action, detail FROM revisions "
            "WHERE kind = ? AND slug = ? ORDER BY revision",
            (kind, slug),
        )
        keys = ("revision", "at", "editor", "action", "detail")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def published_snapshots(self, kind: str) -> dict[str, str]:
        """Per slug, the JSON snapshot of its latest published revision (the live page)."""
        rows = self.conn.execute(
            "SELECT slug, record FROM revisions AS r WHERE kind = ? AND action = 'publish' "
            "AND revision = (SELECT MAX(revision) FROM revisions WHERE kind = r.kind "
            "AND slug = r.slug AND action = 'publish')",
            (kind,),
        )
        return {slug: record for slug, record in rows}

    def revision_record(self, kind: str, slug: str, revision: int) -> str | None:
        """The JSON snapshot of one revision."""
        row = self.conn.execute(
            "SELECT record FROM revisions WHERE kind = ? AND slug = ? AND revision = ?",
            (kind, slug, revision),
        ).fetchone()
        return str(row[0]) if row else None

    # -- call log -----------------------------------------------------------------------

    def cached_response(self, key: str) -> CachedAnswer | None:
        """The cached answer to a request, if one was stored."""
        row = self.conn.execute(
            "SELECT response FROM response_cache WHERE key = ?", (key,)
        ).fetchone()
        if row is None:
            return None
        data = json.loads(row[0])
        return CachedAnswer(**{name: data[name] for name in ANSWER_FIELDS})

    def log_call(
        self, call: CallRecord, cache: Answer | None = None, *, evict: bool = False
    ) -> int:
        """Append one model call to the call log and, atomically, cache its answer (or
        ``evict`` the cached answer of its request)."""
        with self.transaction() as conn:
            if evict and call.cache_key:
                conn.execute("DELETE FROM response_cache WHERE key = ?", (call.cache_key,))
            if cache is not None and call.cache_key:
                entry = {name: getattr(cache, name) for name in ANSWER_FIELDS}
                conn.execute(
                    "INSERT OR REPLACE INTO response_cache (key, model, response, created_at) "
                    "VALUES (?, ?, ?, ?)",
                    (call.cache_key, call.model, json.dumps(entry), now().isoformat()),
                )
            cursor = conn.execute(
                "INSERT INTO calls (at, panel_slug, persona_id, model, attempt, request, "
                "response, error, status, input_tokens, output_tokens, cache_read_tokens, "
                "cache_write_tokens, cost_usd, latency_ms, cache_key, cached) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    now().isoformat(),
                    call.panel_slug,
                    call.persona_id,
                    call.model,
                    call.attempt,
                    call.request,
                    call.response,
                    call.error,
                    call.status,
                    call.input_tokens,
                    call.output_tokens,
                    call.cache_read_tokens,
                    call.cache_write_tokens,
                    call.cost_usd,
                    call.latency_ms,
                    call.cache_key,
                    int(call.cached),
                ),
            )
        return int(cursor.lastrowid or 0)

    def recent_calls(self, limit: int = 20) -> list[sqlite3.Row]:
        """The latest calls, newest first."""
        cursor = self.conn.execute("SELECT * FROM calls ORDER BY id DESC LIMIT ?", (limit,))
        cursor.row_factory = sqlite3.Row
        return list(cursor.fetchall())


def open_store(path: Path) -> Store:
    """Open (creating and migrating) the database at ``path``, in WAL mode."""
    if path.exists() and path.is_dir():
        raise UsageError(f"{path}: is a folder; --db needs a file path")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, timeout=30.0, isolation_level=None)
    except (OSError, sqlite3.Error) as exc:
        raise UsageError(f"{path}: cannot open database ({exc})") from None
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=30000")
        store = Store(conn, path)
        store.migrate()
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise UsageError(f"{path}: not a Panel database ({exc})") from None
    return store
