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
    (
        "comparisons, votes",
        """
CREATE TABLE comparisons (
    slug TEXT PRIMARY KEY,
    a_slug TEXT NOT NULL REFERENCES panels (slug),
    b_slug TEXT NOT NULL REFERENCES panels (slug),
    revision INTEGER NOT NULL,
    status TEXT NOT NULL,
    record TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX comparisons_status ON comparisons (status, created_at);
CREATE INDEX comparisons_a ON comparisons (a_slug);
CREATE INDEX comparisons_b ON comparisons (b_slug);
CREATE TABLE votes (
    slug TEXT PRIMARY KEY,
    ship INTEGER NOT NULL DEFAULT 0 CHECK (ship >= 0),
    skip INTEGER NOT NULL DEFAULT 0 CHECK (skip >= 0),
    updated_at TEXT NOT NULL
)
""",
    ),
    (
        "response cache, batch runs",
        """
CREATE TABLE response_cache (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    response TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE batch_runs (
    id INTEGER PRIMARY KEY,
    queue TEXT NOT NULL,
    queue_hash TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT ''
);
CREATE INDEX batch_runs_queue ON batch_runs (queue_hash);
CREATE TABLE batch_items (
    run_id INTEGER NOT NULL REFERENCES batch_runs (id),
    slug TEXT NOT NULL,
    status TEXT NOT NULL,
    cost_usd REAL NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (run_id, slug)
)
""",
    ),
    (
        "provider batches",
        """
CREATE TABLE provider_batches (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES batch_runs (id),
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    batch_id TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    provider_status TEXT NOT NULL DEFAULT '',
    counts TEXT NOT NULL DEFAULT '{}',
    submitted_at TEXT NOT NULL,
    finished_at TEXT,
    request_count INTEGER NOT NULL
);
CREATE INDEX provider_batches_run ON provider_batches (run_id, status);
CREATE TABLE provider_batch_requests (
    run_id INTEGER NOT NULL REFERENCES batch_runs (id),
    slug TEXT NOT NULL,
    persona_id TEXT NOT NULL,
    batch INTEGER REFERENCES provider_batches (id),
    custom_id TEXT NOT NULL,
    model TEXT NOT NULL,
    cache_key TEXT NOT NULL,
    request TEXT NOT NULL,
    launch TEXT NOT NULL,
    outcome TEXT,
    PRIMARY KEY (run_id, slug, persona_id)
);
CREATE INDEX provider_batch_requests_batch ON provider_batch_requests (batch, custom_id)
""",
    ),
    (
        "batch item errors; drop cached answers that failed validation",
        """
ALTER TABLE batch_items ADD COLUMN error TEXT;
DELETE FROM response_cache WHERE key IN (
    SELECT c.cache_key FROM calls c
    WHERE c.cache_key IS NOT NULL AND c.error LIKE 'invalid answer:%'
      AND c.id = (SELECT MAX(id) FROM calls WHERE cache_key = c.cache_key)
)
""",
    ),
    (
        "launch sources as read: extracted text, hash, size, status",
        """
CREATE TABLE sources (
    launch_slug TEXT NOT NULL,
    location TEXT NOT NULL,
    record TEXT NOT NULL,
    ok INTEGER NOT NULL,
    fetched_at TEXT NOT NULL,
    PRIMARY KEY (launch_slug, location)
)
""",
    ),
]
