"""Numbered schema migrations; each runs once and is recorded in schema_migrations.

Append new migrations at the end; never edit one that has shipped.
"""

MIGRATIONS: list[tuple[str, str]] = [
    (
        "panels, reviews, revisions, calls",
        """
CREATE TABLE panels (
    slug TEXT PRIMARY KEY,
    revision INTEGER NOT NULL,
    status TEXT NOT NULL,
    record TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX panels_status ON panels (status, created_at);
CREATE TABLE reviews (
    panel_slug TEXT NOT NULL REFERENCES panels (slug) ON DELETE CASCADE,
    persona_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    verdict TEXT,
    failed INTEGER NOT NULL DEFAULT 0,
    human_edited INTEGER NOT NULL DEFAULT 0,
    model TEXT,
    persona_hash TEXT,
    template_hash TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    cost_usd REAL NOT NULL DEFAULT 0,
    latency_ms INTEGER NOT NULL DEFAULT 0,
    record TEXT NOT NULL,
    PRIMARY KEY (panel_slug, persona_id)
);
CREATE TABLE revisions (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    slug TEXT NOT NULL,
    revision INTEGER NOT NULL,
    at TEXT NOT NULL,
    editor TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    record TEXT NOT NULL,
    UNIQUE (kind, slug, revision)
);
CREATE TABLE calls (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    panel_slug TEXT,
    persona_id TEXT,
    model TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    request TEXT NOT NULL,
    response TEXT,
    error TEXT,
    status INTEGER,
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    cache_read_tokens INTEGER NOT NULL DEFAULT 0,
    cache_write_tokens INTEGER NOT NULL DEFAULT 0,
    cost_usd REAL NOT NULL DEFAULT 0,
    latency_ms INTEGER NOT NULL DEFAULT 0,
    cache_key TEXT,
    cached INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX calls_panel ON calls (panel_slug, persona_id);
CREATE INDEX calls_at ON calls (at)
""",
    ),
]
