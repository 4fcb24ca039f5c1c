"""`panel publish`: the feed's base URL from --base-url or panel.toml, else one warning."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from panel.cli import main
from panel.paths import default_db, outputs_dir
from panel.records import Status
from panel.store import open_store
from tests.pages_support import make_panel, store_comparison, store_panel

XML_BASE = "{http://www.w3.org/XML/1998/namespace}base"
NOTE = (
    "note: feed.xml links are relative (no base URL): pass --base-url URL or set "
    "[site] base_url in panel.toml\n"
)


@pytest.fixture
def site(tmp_path: Path) -> Path:
    store = open_store(default_db())
    store_comparison(
        store, store_panel(store, make_panel("Alpha", "yyyy")), make_panel("Beta", "nnnn")
    )
    return tmp_path / "site"


def publish(site: Path, *args: str) -> int:
    return main(["publish", "alpha-vs-beta", "--force", "--out", str(site), *args])


def feed_base(site: Path) -> str | None:
    return ET.parse(site / "feed.xml").getroot().get(XML_BASE)


def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    path = tmp_path / "panel.toml"
    path.write_text("require_verified_claims = false\n" + text, encoding="utf-8")
    monkeypatch.setenv("PANEL_CONFIG", str(path))


def test_without_a_base_url_publish_warns_once(
    site: Path, claims_not_required: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert publish(site) == 0
    assert capsys.readouterr().err == NOTE
    assert feed_base(site) is None


def test_panel_toml_gives_the_base_url_and_the_option_wins(
    site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config(tmp_path, monkeypatch, '[site]\nbase_url = "https://reviews.example.com"\n')
    assert publish(site) == 0
    assert capsys.readouterr().err == ""
    assert feed_base(site) == "https://reviews.example.com/"
    assert publish(site, "--base-url", "https://mirror.example.org/") == 0
    assert feed_base(site) == "https://mirror.example.org/"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[site]\nbase_url = "ftp://x.example"\n', "expected an http:// or https:// URL"),
        ("[site]\nbase_url = 3\n", "[site] base_url must be a URL"),
        ('[site]\nbase = "https://x.example"\n', "unknown key 'base' in [site]"),
        ('site = "https://x.example"\n', "[site] must be a table"),
    ],
)
def test_a_bad_site_setting_is_one_line(
    site: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    text: str,
    message: str,
) -> None:
    config(tmp_path, monkeypatch, text)
    assert publish(site) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (site / "feed.xml").exists()


def test_the_desk_publishes_with_panel_tomls_base_url_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.web.support import desk, form_for, post

    config(tmp_path, monkeypatch, '[site]\nbase_url = "https://reviews.example.com"\n')
    store = open_store(default_db())
    store_panel(store, make_panel("Solo", "yyyy").model_copy(update={"status": Status.APPROVED}))
    with desk() as client:
        response = post(client, "/panels/solo/publish", **form_for(client, "/panels/solo"))
    assert response.status_code == 303
    assert feed_base(outputs_dir() / "site") == "https://reviews.example.com/"
