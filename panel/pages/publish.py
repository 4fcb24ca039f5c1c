"""Publishing: mark records published, write their pages atomically, rebuild index and feed."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from panel.errors import ConflictError, NotFoundError, UsageError
from panel.pages.reads import split_read
from panel.pages.render import (
    COMPARISONS_DIR,
    FEED_FILE,
    INDEX_FILE,
    TOOLS_DIR,
    ComparisonLink,
    ComparisonPage,
    Renderer,
    SiteIndex,
    ToolPage,
    public_json,
)
from panel.paths import outputs_dir
from panel.records import Comparison, Status, ToolPanel, now
from panel.status import Gate, change_status, load_record, panels_of, plan_publish
from panel.store import Store
from panel.store.comparisons import comparisons_of, find_comparison, list_comparisons
from panel.votes import get_votes


def default_site_dir() -> Path:
    """Where pages go by default: outputs/site/."""
    return outputs_dir() / "site"


def check_base_url(base_url: str | None) -> str | None:
    """An http(s) base URL ending in '/', or None; anything else is a UsageError."""
    if not base_url:
        return None
    if not re.match(r"^https?://[^\s\"'<>]+$", base_url, re.IGNORECASE):
        raise UsageError(
            f"base URL {base_url!r} (--base-url, or [site] base_url in panel.toml): "
            "expected an http:// or https:// URL"
        )
    return base_url if base_url.endswith("/") else base_url + "/"


# -- pages from the store ---------------------------------------------------------------


class SiteView:
    """What pages show: the published snapshots (``live``) or the current records (preview).

    Published pages are immutable snapshots: an edit after publishing makes a new draft
    revision, and the live site keeps showing the revision that was published until the
    next publish.
    """

    def __init__(self, store: Store, *, live: bool) -> None:
        self.store = store
        self.live = live
        self._panels: dict[str, ToolPanel] = {}
        self._comparisons: list[Comparison] = []
        if live:
            snapshots = store.published_snapshots("panel")
            self._panels = {k: ToolPanel.model_validate_json(v) for k, v in snapshots.items()}
            self._comparisons = [
                Comparison.model_validate_json(v)
                for v in store.published_snapshots("comparison").values()
            ]

    def panel(self, slug: str) -> ToolPanel:
        """A tool's panel as the site shows it."""
        if self.live and slug in self._panels:
            return self._panels[slug]
        return self.store.get_panel(slug)

    def panels(self) -> list[ToolPanel]:
        """Published tool panels."""
        if self.live:
            return list(self._panels.values())
        return self.store.list_panels(Status.PUBLISHED)

    def comparisons(self, tool: str | None = None) -> list[Comparison]:
        """Published comparisons (of one tool, when named)."""
        if not self.live:
            if tool is None:
                return list_comparisons(self.store, Status.PUBLISHED)
            return comparisons_of(self.store, tool, Status.PUBLISHED)
        return [c for c in self._comparisons if tool is None or tool in (c.a_slug, c.b_slug)]


def _tool(view: SiteView, panel: ToolPanel) -> ToolPage:
    return ToolPage(panel=panel, votes=get_votes(view.store, panel.slug))


def comparison_page(view: SiteView, comparison: Comparison) -> ComparisonPage:
    """A comparison with both tools' panels, votes and pricing reads, as the page shows it."""
    a = view.panel(comparison.a_slug)
    b = view.panel(comparison.b_slug)
    return ComparisonPage(
        comparison=comparison, read=split_read(a, b), a=_tool(view, a), b=_tool(view, b)
    )


def tool_page(view: SiteView, panel: ToolPanel) -> ToolPage:
    """A tool panel with its votes, pricing read and the published comparisons it is in."""
    links: list[ComparisonLink] = []
    for comparison in view.comparisons(panel.slug):
        a = view.panel(comparison.a_slug)
        b = view.panel(comparison.b_slug)
        title = f"{a.launch.name} vs {b.launch.name}"
        links.append(ComparisonLink(slug=comparison.slug, title=title, read=split_read(a, b)))
    return _tool(view, panel).model_copy(update={"comparisons": links})


def site_index(view: SiteView, base_url: str | None = None) -> SiteIndex:
    """Published comparisons (newest first) and tools (by name) for the index and the feed."""
    comparisons = [comparison_page(view, c) for c in view.comparisons()]
    comparisons.sort(key=lambda p: (p.comparison.updated_at, p.comparison.slug), reverse=True)
    tools = [_tool(view, p) for p in view.panels()]
    tools.sort(key=lambda t: (t.panel.launch.name.casefold(), t.panel.slug))
    stamps = [p.comparison.updated_at for p in comparisons] + [t.panel.updated_at for t in tools]
    return SiteIndex(
        comparisons=comparisons,
        tools=tools,
        updated_at=max(stamps) if stamps else now(),
        base_url=base_url,
    )


# -- writing --------------------------------------------------------------------------------


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file and os.replace (never half-written)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise UsageError(f"{path.parent}: cannot write pages ({exc.strerror})") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise UsageError(f"{path}: cannot write ({exc.strerror})") from None


def _tool_files(renderer: Renderer, page: ToolPage) -> dict[str, str]:
    base = f"{TOOLS_DIR}/{page.panel.slug}"
    return {
        f"{base}.html": renderer.tool_html(page),
        f"{base}.md": renderer.tool_markdown(page),
        f"{base}.json": public_json(page),
    }


def _comparison_files(renderer: Renderer, page: ComparisonPage) -> dict[str, str]:
    base = f"{COMPARISONS_DIR}/{page.comparison.slug}"
    return {
        f"{base}.html": renderer.comparison_html(page),
        f"{base}.md": renderer.comparison_markdown(page),
        f"{base}.json": public_json(page),
    }


def site_files(
    view: SiteView, renderer: Renderer, kind: str, slug: str, base_url: str | None = None
) -> dict[str, str]:
    """Every file publishing a comparison or panel writes, by path within the site."""
    files: dict[str, str] = {}
    comparison = find_comparison(view.store, slug) if kind == "comparison" else None
    if view.live and comparison is not None:
        comparison = next((c for c in view.comparisons() if c.slug == slug), comparison)
    if comparison is not None:
        files |= _comparison_files(renderer, comparison_page(view, comparison))
        tools = [comparison.a_slug, comparison.b_slug]
    else:
        tools = [slug]
        # A published comparison shows this panel too: its page changes with it.
        for shown in view.comparisons(slug):
            files |= _comparison_files(renderer, comparison_page(view, shown))
    for tool in tools:
        files |= _tool_files(renderer, tool_page(view, view.panel(tool)))
    index = site_index(view, base_url)
    files[INDEX_FILE] = renderer.index_html(index)
    files[FEED_FILE] = renderer.feed(index)
    return files


# -- publishing -----------------------------------------------------------------------------


@dataclass
class PublishResult:
    """What `panel publish` did."""

    kind: str
    """'comparison' or 'panel'."""
    slug: str
    """What was published."""
    out: Path
    """The site folder."""
    files: list[Path] = field(default_factory=list)
    """Files written, the record's pages first, then the index and the feed."""
    marked: list[str] = field(default_factory=list)
    """Records whose status changed to published."""


def publish(
    store: Store,
    slug: str,
    *,
    editor: str,
    out: Path | None = None,
    force: bool = False,
    templates: Path | None = None,
    base_url: str | None = None,
    kind: str | None = None,
    expected: dict[str, int] | None = None,
    approve: bool = False,
    gate: Gate | None = None,
) -> PublishResult:
    """Publish a comparison (with both tool panels) or one tool panel, and rebuild the site.

    Records must be approved (or already published); ``force`` publishes drafts too, but
    never failed reviews (the status machine's rules, see panel.status.check_publish).
    ``expected`` maps slugs (the record, a comparison's panels) to the revisions the
    editor saw; a record that moved on since is refused with a ConflictError.
    ``templates`` names a folder overriding the built-in templates; ``kind`` settles a
    slug that names both a panel and a comparison. Pages are rendered once before any
    status changes, so a template error changes nothing. ``approve`` first approves what
    is still a draft (a comparison with its panels), under ``gate``. Publishing a panel
    also rewrites the pages of the published comparisons that show it.
    """
    renderer = Renderer(templates)
    base_url = check_base_url(base_url)
    out = out or default_site_dir()
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out}: --out must be a folder")
    comparison = find_comparison(store, slug) if kind != "panel" else None
    panel = store.find_panel(slug) if kind != "comparison" else None
    if comparison is not None and panel is not None:
        raise UsageError(f"{slug!r} names a panel and a comparison; pass --kind panel|comparison")
    record: Comparison | ToolPanel
    if comparison is not None:
        kind, record = "comparison", comparison
    elif panel is not None:
        kind, record = "panel", panel
    else:
        what = kind or "comparison or panel"
        raise NotFoundError(f"no {what} {slug!r}; run `panel list` or `panel compare A B`")
    # What the editor saw, checked before anything changes (an approval makes new revisions).
    panels = panels_of(store, record)
    seen = [(kind, slug, record.revision)]
    seen += [("panel", p.slug, p.revision) for p in panels if comparison is not None]
    for what, name, revision in seen:
        wanted = (expected or {}).get(name)
        if wanted is not None and wanted != revision:
            raise ConflictError(
                f"{what} {name!r} changed since revision {wanted}: it is now revision "
                f"{revision}; review it again"
            )
    if approve:
        # One action for the whole unit: approve what is still a draft, then publish.
        pending = [p for p in panels if p.status is Status.DRAFT]
        if record.status is Status.DRAFT or pending:
            change_status(
                store,
                kind,  # type: ignore[arg-type]
                slug,
                "approve",
                expected_revision=(expected or {}).get(slug),
                editor=editor,
                gate=gate,
            )
            record = load_record(store, kind, slug)  # type: ignore[arg-type]
            expected = None
    # The status machine decides what may be published, listing every blocker at once;
    # panels are marked before their comparison, so a comparison is never live without
    # its tools.
    marks = plan_publish(store, kind, record, force=force, gate=gate)  # type: ignore[arg-type]
    # A dry run on the current records: a template error stops us before any change.
    site_files(SiteView(store, live=False), renderer, kind, slug, base_url)

    result = PublishResult(kind=kind, slug=slug, out=out)
    with store.together():  # every mark or none
        for what, marked in marks:
            change_status(
                store,
                what,
                marked.slug,
                "publish",
                expected_revision=marked.revision,
                editor=editor,
                force=force,
                note=f"with {slug}" if what == "panel" and comparison else "",
            )
            result.marked.append(f"{what} {marked.slug}")

    live = SiteView(store, live=True)
    for relative, text in site_files(live, renderer, kind, slug, base_url).items():
        path = out / relative
        write_atomic(path, text)
        result.files.append(path)
    return result
