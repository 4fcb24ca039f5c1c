"""The main text of a source: what a reviewer should read of a page, and nothing around it.

HTML goes through trafilatura (the kept extractor; measured on the saved pages under
``tests/sources/pages``): the article body with its headings, lists, code blocks and tables
as Markdown, without navigation, footers, cookie banners, ads, comments or newsletter boxes.
It works on the bytes it is given and never fetches anything (fetching is ``panel.sources.fetch``).
Markdown and plain text are kept as written. Either way the text is cleaned (control
characters dropped, whitespace normalised, paragraphs separated by one blank line) and a
source longer than ``MAX_SOURCE_WORDS`` is cut at a paragraph, with a final line saying how
much was cut. Same bytes in, same text out.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxml import etree, html  # type: ignore[import-untyped]  # lxml ships no type hints

MAX_SOURCE_WORDS = 6000
"""A source longer than this (in words) is cut at a paragraph boundary."""

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
MARKDOWN_TYPES = frozenset({"text/markdown", "text/x-markdown"})
FILE_TYPES = {
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".txt": "text/plain",
    ".html": "text/html",
    ".htm": "text/html",
}

NO_TEXT = "no readable text (a script-only page?)"


class ExtractError(ValueError):
    """A source with nothing to read; the message is a one-line reason."""


@dataclass(frozen=True)
class Extracted:
    """A source's main text: plain, paragraphs separated by blank lines (Markdown headings,
    list markers, code fences and tables kept as text), cut at ``MAX_SOURCE_WORDS``."""

    text: str
    title: str | None
    words: int  # the words of ``text``, the cut marker not counted


def extract(
    body: bytes, content_type: str, *, charset: str | None = None, url: str | None = None
) -> Extracted:
    """The main text of ``body`` served as ``content_type`` (parameters such as
    ``; charset=...`` allowed; ``charset`` wins over them). HTML and XHTML through trafilatura;
    Markdown and any other ``text/*`` as text. ``url`` only labels the page (relative links);
    nothing is fetched. Raises ExtractError when there is nothing to read."""
    media, _, params = content_type.partition(";")
    media = media.strip().lower()
    if charset is None:
        found = re.search(r"charset\s*=\s*[\"']?([\w.:-]+)", params, re.IGNORECASE)
        charset = found.group(1) if found else None
    if media in HTML_TYPES:
        return _from_html(body, charset, url)
    if media.startswith("text/"):
        return _from_text(body, charset, markdown=media in MARKDOWN_TYPES)
    raise ExtractError(f"unsupported content type: {media or '(none)'}")


def extract_file(path: Path) -> Extracted:
    """The main text of a local file, read by its suffix: .md/.markdown/.txt as text,
    .html/.htm as HTML. Any other suffix is a ValueError naming it."""
    return extract(path.read_bytes(), file_type(path))


def file_type(path: Path) -> str:
    """The content type a local source file is read as (by its suffix); a ValueError
    naming the suffix when it is not one of FILE_TYPES."""
    suffix = path.suffix.lower()
    if suffix not in FILE_TYPES:
        raise ValueError(
            f"unsupported source file type {suffix or '(no suffix)'!r} for {path.name}: "
            f"expected one of {', '.join(FILE_TYPES)}"
        )
    return FILE_TYPES[suffix]


# --- text and Markdown -------------------------------------------------------------------


def _from_text(body: bytes, charset: str | None, *, markdown: bool) -> Extracted:
    codec = _codec(charset) or "utf-8"
    if codec == "utf-8":
        codec = "utf-8-sig"  # a BOM is dropped
    try:
        text = body.decode(codec)
    except UnicodeDecodeError:
        raise ExtractError(f"not {_label(codec)} text") from None
    blocks = _blocks(_clean_chars(text), keep_indent=True)
    if not blocks:
        raise ExtractError("no readable text (empty or whitespace only)")
    return _finish(blocks, _markdown_title(blocks) if markdown else None)


def _markdown_title(blocks: list[str]) -> str | None:
    """The first ``# `` heading outside code."""
    for block in blocks:
        if _FENCE.match(block):
            continue
        for line in block.split("\n"):
            found = re.match(r" {0,3}# +(.+?)(?: +#+)?$", line)
            if found:
                return found.group(1).strip() or None
    return None


# --- HTML ---------------------------------------------------------------------------------


def _from_html(body: bytes, charset: str | None, url: str | None) -> Extracted:
    source = _clean_chars(_decode_html(body, charset))
    source = re.sub(r"^\s*<\?xml[^>]*\?>", "", source)  # lxml refuses str with a declaration
    if not source.strip():
        raise ExtractError(NO_TEXT)
    try:
        tree = html.document_fromstring(source, parser=_PARSER)
    except etree.ParserError:  # "Document is empty": nothing but comments or whitespace
        raise ExtractError(NO_TEXT) from None
    title = _html_title(tree)
    for element in list(tree.iter("noscript", "template")):  # not shown by a browser
        element.drop_tree()
    _space_adjacent_spans(tree)
    main = _trafilatura_markdown(tree, url)
    if main:
        blocks = _blocks(_clean_chars(main), keep_indent=False)
    else:
        blocks = _visible_blocks(tree)
        if blocks and title and blocks[0] != title:
            blocks.insert(0, title)
    if not blocks:
        raise ExtractError(NO_TEXT)
    return _finish(blocks, title)


# Teasers trafilatura's own rules leave in, in recall mode (measured on the saved pages): a
# "Keep reading" box after the article, a "Read more: <link>" line inside it. Only short
# elements that link somewhere, so a "read more" expander holding the article's rest stays.
_TEASER_NAMES = ("keep-reading", "read-more", "readmore")
_PRUNE_XPATH = "//*[{}][self::a or .//a][string-length(normalize-space(.)) < 1000]".format(
    " or ".join(f"contains(@class, '{name}') or contains(@id, '{name}')" for name in _TEASER_NAMES)
)


def _trafilatura_markdown(tree: Any, url: str | None) -> str | None:
    """trafilatura's main text of ``tree`` as Markdown, or None when it finds none.

    Recall over precision and the default: on the saved pages all three dropped the same
    chrome (precision also a "Keep reading" box, which the teaser prune handles), but only
    recall kept a pricing page's plan cards and FAQ questions. No fetching, no metadata
    (dates), no cross-call deduplication: deterministic."""
    import trafilatura  # here, not at the top: a tenth of a second every command would pay

    return trafilatura.extract(
        tree,  # trafilatura copies the tree; ours stays intact for the fallback
        url=url,
        output_format="markdown",
        favor_recall=True,
        include_comments=False,
        include_tables=True,
        include_images=False,
        include_links=False,
        deduplicate=False,
        with_metadata=False,
        prune_xpath=_PRUNE_XPATH,
    )


_PARSER = html.HTMLParser(collect_ids=False, remove_comments=True, remove_pis=True)
_META_CHARSET = re.compile(rb"<meta[^>]+charset\s*=\s*[\"']?\s*([\w.:-]+)", re.IGNORECASE)
_XML_ENCODING = re.compile(rb"^\s*<\?xml[^>]+encoding\s*=\s*[\"']([\w.:-]+)", re.IGNORECASE)


def _decode_html(body: bytes, charset: str | None) -> str:
    """A byte-order mark first, then ``charset`` (from the response), then the page's own
    ``<meta charset>`` or XML declaration, else UTF-8; undecodable bytes are replaced."""
    boms = (
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
    )
    for bom, bom_codec in boms:
        if body.startswith(bom):
            return body[len(bom) :].decode(bom_codec, errors="replace")
    codec = _codec(charset)
    if codec is None:
        head = body[:4096]
        declared = _META_CHARSET.search(head) or _XML_ENCODING.search(head)
        codec = _codec(declared.group(1).decode("ascii")) if declared else None
        if codec is not None and codec.startswith("utf-16"):
            codec = "utf-8"  # a page that could declare it in ASCII is not UTF-16
    return body.decode(codec or "utf-8", errors="replace")


def _codec(label: str | None) -> str | None:
    """The Python codec for a charset label, None when unknown. Latin-1 and ASCII labels
    mean windows-1252, as in browsers (curly quotes and dashes in the 0x80-0x9F range)."""
    if not label:
        return None
    try:
        name = codecs.lookup(label.strip()).name
    except LookupError:
        return None
    return "cp1252" if name in {"iso8859-1", "ascii"} else name


def _label(codec: str) -> str:
    return "UTF-8" if codec.startswith("utf-8") else codec


def _html_title(tree: Any) -> str | None:
    """og:title, else <title>."""
    for found in (tree.xpath("//meta[@property='og:title']/@content"), tree.xpath("//title")):
        for item in found:
            value = item if isinstance(item, str) else item.text_content()
            title = " ".join(str(value).split())
            if title:
                return title
    return None


def _space_adjacent_spans(tree: Any) -> None:
    """``<span>$24</span><span>per seat</span>`` laid out apart by CSS reads "$24 per seat",
    not "$24per seat": a space between spans that touch."""
    for span in tree.iter("span"):
        following = span.getnext()
        if following is not None and following.tag == "span" and not span.tail:
            span.tail = " "


_DROP_TAGS = ("script", "style", "nav", "header", "footer")
_BLOCK_TAGS = (
    "p", "div", "section", "article", "main", "aside", "h1", "h2", "h3", "h4", "h5", "h6",
    "li", "ul", "ol", "dl", "dt", "dd", "tr", "table", "pre", "blockquote", "figure",
    "figcaption", "details", "summary", "form",
)  # fmt: skip
_BREAK = "\ue000"  # a paragraph break while flattening (private use; cleaned from the input)


def _visible_blocks(tree: Any) -> list[str]:
    """The fallback when trafilatura finds nothing: the visible text of <main>, else
    <article>, else <body>, without scripts, styles, navigation, headers and footers."""
    for tag in _DROP_TAGS:
        for element in list(tree.iter(tag)):
            element.drop_tree()
    for element in tree.iter(*_BLOCK_TAGS, "br"):
        element.tail = _BREAK + (element.tail or "")
        if element.tag != "br":
            element.text = _BREAK + (element.text or "")
    for tag in ("main", "article", "body"):
        for element in tree.iter(tag):
            paragraphs = (" ".join(part.split()) for part in element.text_content().split(_BREAK))
            blocks = [paragraph for paragraph in paragraphs if paragraph]
            if blocks:
                return blocks
    return []


# --- shared: characters, paragraphs, the cut ------------------------------------------------

_NEWLINES = re.compile("\r\n?|[\x0b\x0c\x85\u2028]")
_DROPPED = re.compile(
    "[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\u200b\u202a-\u202e\u2066-\u2069\ufeff\ue000]"
)
_SPACES = re.compile("[\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]")
_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")


def _clean_chars(text: str) -> str:
    """Line breaks as \\n, paragraph separators as a blank line, control and invisible
    formatting characters (NUL, bidi overrides, zero-width spaces, BOMs) dropped except tabs,
    and Unicode spaces as plain spaces."""
    text = _NEWLINES.sub("\n", text).replace("\u2029", "\n\n")
    return _SPACES.sub(" ", _DROPPED.sub("", text))


def _blocks(text: str, *, keep_indent: bool) -> list[str]:
    """The paragraphs of ``text``: split at blank lines, trailing spaces dropped, a fenced
    code block kept whole with its own spacing. Without ``keep_indent`` (extracted HTML, whose
    indentation is the page source's) lines are also stripped and inner runs of spaces
    collapsed; Markdown and text keep theirs."""
    blocks: list[str] = []
    current: list[str] = []
    fence = ""

    def flush() -> None:
        if current:
            blocks.append("\n".join(current))
            current.clear()

    for raw in text.split("\n"):
        line = raw.rstrip()
        if fence:
            current.append(line)
            closing = line.strip()
            if closing and set(closing) == {fence[0]} and len(closing) >= len(fence):
                fence = ""
                flush()
            continue
        opening = _FENCE.match(line)
        if opening:
            flush()
            fence = opening.group(1)
            current.append(line if keep_indent else line.strip())
        elif not line.strip():
            flush()
        else:
            current.append(line if keep_indent else " ".join(line.split()))
    flush()
    return blocks


def _finish(blocks: list[str], title: str | None) -> Extracted:
    text, words = _cut(blocks, MAX_SOURCE_WORDS)
    return Extracted(text=text, title=title, words=words)


def _cut(blocks: list[str], limit: int) -> tuple[str, int]:
    """``blocks`` joined by blank lines, cut after the last whole paragraph within ``limit``
    words, with a final "[… cut: N more words]" line; and the words kept."""
    counts = [len(block.split()) for block in blocks]
    total = sum(counts)
    if total <= limit:
        return "\n\n".join(blocks), total
    kept: list[str] = []
    words = 0
    for block, count in zip(blocks, counts, strict=True):
        if words + count > limit:
            break
        kept.append(block)
        words += count
    if not kept:  # one paragraph longer than the limit: cut inside it
        first, words = _cut_block(blocks[0], limit)
        kept.append(first)
    return "\n\n".join([*kept, f"[\u2026 cut: {total - words} more words]"]), words


def _cut_block(block: str, limit: int) -> tuple[str, int]:
    """The first lines of ``block`` within ``limit`` words (the first ``limit`` words when
    even its first line is longer), a code fence closed again; and the words kept."""
    lines: list[str] = []
    words = 0
    for line in block.split("\n"):
        count = len(line.split())
        if words + count > limit:
            break
        lines.append(line)
        words += count
    if not lines:
        lines, words = [" ".join(block.split()[:limit])], limit
    opening = _FENCE.match(lines[0])
    if opening:
        lines.append(opening.group(1))
    return "\n".join(lines), words
