"""Fixtures of the desk's tests: two seeded panels and their comparison, a client, and
the desk served by uvicorn for the browser tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from starlette.testclient import TestClient

from panel.paths import default_db, outputs_dir
from panel.web import create_app
from tests.pages_support import make_panel, store_comparison
from tests.web.support import desk, fresh_store, settings_with


@pytest.fixture
def seeded() -> Iterator[None]:
    """Two panels (one with hostile launch text) and their comparison, all drafts."""
    launch = {
        "category": "Developer Tools",
        "tagline": "<img src=x onerror=alert(1)>Agents that ship",
    }
    a = make_panel("Acme Agent", "yynn", launch=launch)
    b = make_panel("Zed Cloud", "ynnn", launch={"category": "Infrastructure"})
    with fresh_store() as store:
        store_comparison(store, a, b)
    yield


@pytest.fixture
def client(seeded: None) -> Iterator[TestClient]:
    """A desk client; cookies persist like a browser's."""
    with desk() as c:
        yield c


@pytest.fixture
def served(request: pytest.FixtureRequest) -> Iterator[str]:
    """The desk, served by uvicorn in a thread on a free loopback port; yields its URL.

    Parametrize it indirectly with ``{"require_verified_claims": False}`` for a desk whose
    panel.toml lets claims to verify pass.
    """
    options: dict[str, bool] = getattr(request, "param", {})
    settings = settings_with(**options) if options else None
    app = create_app(
        default_db(), model="fake:mixed", out=outputs_dir() / "site", settings=settings
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline, "the desk did not start"
        assert thread.is_alive(), "the desk's server thread died"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(15)
    sock.close()
