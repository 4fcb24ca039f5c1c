"""A launch with sources, end to end: served by a local server (an HTML launch post with
navigation and ads around the article, a pricing page) and a Markdown file beside the
launch; the reviewers' prompts carry the article and not the chrome; the draft's
provenance lists the sources with their hashes; an unsafe or failing source is noted and
the panel still drafts."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from panel.cli import main
from panel.paths import default_db, outputs_dir
from panel.providers.fake import FakeProvider
from panel.records import ClaimStatus
from panel.store import open_store
from panel.store.sources import stored_sources
from tests.batch.test_batch_api import MODELS, configure, user_turns
from tests.fakeserver import FakeServer
from tests.web.support import desk

PAGES = Path(__file__).parent / "pages"
SERVED = {
    "/blog/quillstream-2": ("launch_post.html", "text/html; charset=utf-8"),
    "/pricing": ("pricing.html", "text/html; charset=utf-8"),
}
ARTICLE = "the median team cut the time between a merged pull request and updated docs"
CHROME = ("Careers at Larkspur", "We use cookies to personalise content", "Partner Program")
CHANGELOG = "The Team plan now includes up to 25 private repositories (was 10)."


class _Pages(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path not in SERVED:
            self.send_error(404)
            return
        name, content_type = SERVED[self.path]
        body = (PAGES / name).read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        """Quiet."""


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    """The launch's web pages on 127.0.0.1 (one server for the module)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, allow: bool) -> None:
    """panel.toml allowing the test server's address (or not)."""
    text = "require_verified_claims = false\n"
    if allow:
        text += '[sources]\nallow_hosts = ["127.0.0.1"]\n'
    (tmp_path / "panel.toml").write_text(text, "utf-8")
    monkeypatch.setenv("PANEL_CONFIG", str(tmp_path / "panel.toml"))


def launch_file(tmp_path: Path, site: str) -> Path:
    folder = tmp_path / "launches"
    folder.mkdir()
    (folder / "changelog.md").write_bytes((PAGES / "changelog.md").read_bytes())
    launch = {
        "name": "Quillstream",
        "vendor": "Larkspur",
        "description": "Docs that follow the code: a bot that proposes doc edits on merge.",
        "sources": [
            f"{site}/blog/quillstream-2",
            {"url": f"{site}/pricing", "label": "pricing page"},
            {"path": "changelog.md", "label": "changelog"},
        ],
    }
    path = folder / "quillstream.yaml"
    path.write_text(yaml.safe_dump(launch), "utf-8")
    return path


def prompts_of(fake: FakeProvider) -> list[str]:
    return [m.content for _, request in fake.calls for m in request.messages if m.role == "user"]


def test_a_draft_reads_its_sources_and_lists_them_with_their_hashes(
    site: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fake: FakeProvider,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config(tmp_path, monkeypatch, allow=True)
    path = launch_file(tmp_path, site)
    assert main(["draft", str(path), "-m", "fake:mixed"]) == 0, capsys.readouterr().err
    prompts = prompts_of(fake)
    assert len(prompts) >= 4
    for prompt in prompts:
        assert ARTICLE in prompt and CHANGELOG in prompt and "$20" in prompt
        assert not any(chrome in prompt for chrome in CHROME), prompt
        assert str(tmp_path) not in prompt  # a local file is named, not its path
        assert "Source 3 (changelog): changelog.md" in prompt
        article = prompt.index(ARTICLE)
        assert prompt.index("<untrusted-launch>") < article < prompt.index("</untrusted-launch>")
    panel = open_store(default_db()).get_panel("quillstream")
    hashes = [
        hashlib.sha256((PAGES / name).read_bytes()).hexdigest()
        for name in ("launch_post.html", "pricing.html", "changelog.md")
    ]
    assert [s.sha256 for s in panel.sources] == hashes
    assert [s.label for s in panel.sources] == [None, "pricing page", "changelog"]
    assert all(s.ok and s.words > 20 for s in panel.sources)
    out = capsys.readouterr().out
    assert f"source {site}/pricing: " in out and "sha256 " in out
    # a claim the pricing page states is supported, with the page and its sentence
    business = panel.review("business")
    assert business is not None
    price = next(c for c in business.claims if c.text == "$20 per seat")
    assert price.status is ClaimStatus.SUPPORTED
    assert price.source in {f"{site}{path}" for path in SERVED}  # the first source saying it
    assert "$20 per seat" in (price.evidence or "")

    # stored once: a second draft reads nothing again (the server is not asked again)
    fetched_at = [s.fetched_at for s in panel.sources]
    assert main(["draft", str(path), "-m", "fake:ship"]) == 0
    again = open_store(default_db()).get_panel("quillstream")
    assert [s.fetched_at for s in again.sources] == fetched_at

    # `panel sources fetch` reads them again; `list` shows what is stored
    assert main(["sources", "fetch", "quillstream"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines[-3:]] == ["read", "read", "read"]
    assert main(["sources", "list", str(path)]) == 0
    assert "changelog.md (changelog): " in capsys.readouterr().out

    # the desk's fact-check station lists them beside the launch: web pages as links
    page = desk().get("/panels/quillstream").text
    sources = page[
        page.index('<ul class="sources">') : page.index("</ul>", page.index('<ul class="sources">'))
    ]
    assert (
        f'<a href="{site}/pricing" rel="noopener noreferrer" target="_blank">pricing page</a>'
        in sources
    )
    assert "changelog" in sources and f'href="{tmp_path}' not in sources and "sha256 " in sources
    card = page[page.index('id="review-business"') :]
    evidence = card[card.index('<blockquote class="evidence">') :][:600]
    assert '<mark class="claim supported"' in evidence and f'href="{price.source}"' in evidence


def test_a_loopback_source_is_refused_unless_allowed_and_the_panel_still_drafts(
    site: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fake: FakeProvider,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config(tmp_path, monkeypatch, allow=False)
    path = launch_file(tmp_path, site)
    assert main(["draft", str(path), "-m", "fake:mixed"]) == 0
    err = capsys.readouterr().err
    assert f"panel: source {site}/blog/quillstream-2: " in err and "loopback" in err
    panel = open_store(default_db()).get_panel("quillstream")
    assert [s.ok for s in panel.sources] == [False, False, True]  # the local file is read
    assert all(ARTICLE not in p and CHANGELOG in p for p in prompts_of(fake))
    assert main(["sources", "fetch", "quillstream"]) == 5  # some failed
    assert "failed  " in capsys.readouterr().err


def test_no_fetch_drafts_from_what_is_stored_and_pages_never_show_sources(
    site: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fake: FakeProvider,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config(tmp_path, monkeypatch, allow=True)
    path = launch_file(tmp_path, site)
    assert main(["draft", str(path), "-m", "fake:mixed", "--no-fetch"]) == 0
    assert "not read (--no-fetch)" in capsys.readouterr().err
    store = open_store(default_db())
    assert stored_sources(store, "quillstream") == {}
    assert main(["draft", str(path), "-m", "fake:mixed"]) == 0
    assert len(stored_sources(store, "quillstream")) == 3
    assert main(["approve", "quillstream", "--accept-flags"]) == 0
    assert main(["publish", "quillstream"]) == 0
    page = outputs_dir() / "site" / "tools" / "quillstream.json"
    data = json.loads(page.read_text("utf-8"))
    assert "sources" not in data["panel"]["launch"] and "changelog" not in page.read_text()


@pytest.mark.parametrize(
    ("sources", "message"),
    [
        (["ftp://example.com/a"], "sources.0: Value error, only http and https URLs are fetched"),
        ([{"url": "https://a.example", "path": "x.md"}], "give either url or path"),
        ([{"href": "https://a.example"}], "unknown field (allowed: url, path, label)"),
        ([f"https://a.example/{i}" for i in range(11)], "sources: List should have at most 10"),
    ],
)
def test_bad_sources_in_a_launch_file_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sources: list[object], message: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"name": "X", "description": "Y.", "sources": sources}))
    assert main(["draft", str(path), "-m", "fake:ship"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"panel: error: {path}: ") and message in err and "\n" not in err


def test_a_batch_api_run_sends_the_sources_text_and_drafts_from_the_answers(
    fake_server: FakeServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Submitted requests carry the stored source text, so the draft after collecting is
    answered from the batch (the same request), not asked again."""
    (tmp_path / "changelog.md").write_bytes((PAGES / "changelog.md").read_bytes())
    row = {
        "name": "Quillstream",
        "description": "Docs that follow the code.",
        "sources": [{"path": "changelog.md", "label": "changelog"}],
    }
    queue = tmp_path / "q.jsonl"
    queue.write_text(json.dumps(row) + "\n")
    configure("openai", fake_server)
    args = ["batch", str(queue), "--batch-api", "-m", MODELS["openai"], "--wait"]
    assert main(args) == 0, capsys.readouterr().err
    [batch] = fake_server.batch.batches.values()
    bodies = [json.dumps(params) for _, _, params in batch.requests]
    assert len(bodies) == 4 and all(CHANGELOG in body for body in bodies)
    assert user_turns(fake_server, "openai") == []  # every review answered by the batch
    panel = open_store(default_db()).get_panel("quillstream")
    assert [s.label for s in panel.sources] == ["changelog"] and panel.sources[0].ok


@pytest.mark.parametrize("where", ["../secret.md", "/etc/hostname.txt", "inner/../../secret.md"])
def test_a_launch_cannot_make_panel_read_a_file_outside_its_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    (tmp_path / "secret.md").write_text("API key: hunter2\n")
    folder = tmp_path / "launches"
    folder.mkdir()
    path = folder / "evil.yaml"
    path.write_text(yaml.safe_dump({"name": "X", "description": "Y.", "sources": [where]}))
    assert main(["draft", str(path), "-m", "fake:ship"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"panel: error: {path}: sources.0: {where} is outside the launch file's folder "
        f"({folder.resolve()}); put the file beside the launch"
    )
    assert not default_db().exists() or open_store(default_db()).list_panels() == []


def test_a_symlink_out_of_the_launch_folder_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "secret.md").write_text("API key: hunter2\n")
    folder = tmp_path / "launches"
    folder.mkdir()
    (folder / "notes.md").symlink_to(tmp_path / "secret.md")
    path = folder / "evil.yaml"
    path.write_text(yaml.safe_dump({"name": "X", "description": "Y.", "sources": ["notes.md"]}))
    assert main(["draft", str(path), "-m", "fake:ship"]) == 2
    assert "notes.md is outside the launch file's folder" in capsys.readouterr().err
