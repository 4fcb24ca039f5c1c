"""Helpers of the desk's HTTP tests: the test database, a desk client, its forms."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import httpx2
from starlette.testclient import TestClient

from panel.drafting.context import Settings, load_settings
from panel.paths import default_db, outputs_dir
from panel.records import ToolPanel
from panel.store import Store, open_store
from panel.web import create_app

BASE = "http://127.0.0.1:8000"
SLUG = "acme-agent"
OTHER = "zed-cloud"
PAIR = f"{SLUG}-vs-{OTHER}"
HOSTILE_QUOTE = 'I\'d ship it </textarea><script>window.__pwned=1</script> & <b>bold</b> "q"'


def fresh_store() -> Store:
    """The test's database."""
    return open_store(default_db())


def panel_now(slug: str = SLUG) -> ToolPanel:
    """The stored panel."""
    with fresh_store() as store:
        return store.get_panel(slug)


def settings_with(*, require_verified_claims: bool) -> Settings:
    """The desk's settings with panel.toml's ``require_verified_claims`` set."""
    settings = load_settings()
    config = dataclasses.replace(settings.config, require_verified_claims=require_verified_claims)
    return dataclasses.replace(settings, config=config)


def desk(base_url: str = BASE, **options: Any) -> TestClient:
    """A client of a desk over the test database, as seen from 127.0.0.1 by default."""
    options.setdefault("model", "fake:mixed")
    options.setdefault("out", outputs_dir() / "site")
    options.setdefault("secret", "test-secret")
    return TestClient(create_app(default_db(), **options), base_url=base_url)


def csrf_of(html: str) -> str:
    """The CSRF token a page's forms carry."""
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "page has no CSRF field"
    return match.group(1)


def form_for(client: TestClient, path: str = f"/panels/{SLUG}") -> dict[str, str]:
    """The hidden fields of a page's forms: its CSRF token and revision."""
    html = client.get(path).text
    revision = re.search(r'name="revision" value="(\d+)"', html)
    assert revision
    return {"csrf": csrf_of(html), "revision": revision.group(1)}


def post(client: TestClient, path: str, **data: str | list[str]) -> httpx2.Response:
    """POST a form without following the redirect."""
    return client.post(path, data=data, follow_redirects=False)
