"""Reading one source of a launch: fetch it (or read the file), extract its main text.

A source that cannot be read is not an error of the draft: it comes back with ``ok``
false and a one-line ``reason``, and the panel drafts without it.
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any

from panel.records import SourceRef, SourceText, now
from panel.sources.extract import ExtractError, extract, file_type
from panel.sources.fetch import FetchError, FetchPolicy, fetch


async def read_source(ref: SourceRef, policy: FetchPolicy) -> SourceText:
    """``ref`` read and extracted, or the reason it could not be."""
    base: dict[str, Any] = {"where": ref.where, "label": ref.label}
    extra: dict[str, Any]
    try:
        if ref.url is not None:
            fetched = await fetch(ref.url, policy)
            body = fetched.body
            # Extraction is CPU work: in a thread, so other panels of a batch keep going.
            extracted = await asyncio.to_thread(
                extract, body, fetched.content_type, charset=fetched.charset, url=fetched.final_url
            )
            extra = {
                "final_url": fetched.final_url,
                "http_status": fetched.status,
                "content_type": fetched.content_type,
                "fetched_at": fetched.fetched_at,
            }
        else:
            path = Path(ref.path or "")
            content_type = file_type(path)
            body = await asyncio.to_thread(_read_file, path, policy.max_bytes)
            extracted = await asyncio.to_thread(extract, body, content_type)
            extra = {"fetched_at": now(), "content_type": content_type}
    except (FetchError, ExtractError, ValueError, OSError) as exc:
        return SourceText(**base, ok=False, reason=_one_line(exc), fetched_at=now())
    return SourceText(
        **base,
        **extra,
        ok=True,
        sha256=hashlib.sha256(body).hexdigest(),
        size=len(body),
        words=extracted.words,
        title=extracted.title,
        text=extracted.text,
    )


def _read_file(path: Path, limit: int) -> bytes:
    """The bytes of a local source file, refused past ``limit``."""
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    size = path.stat().st_size
    if size > limit:
        raise ValueError(f"{path}: {size:,} bytes, more than the {limit:,} a source may have")
    return path.read_bytes()


def _one_line(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, OSError) and exc.strerror:
        text = f"{exc.filename or ''}: {exc.strerror}".strip(": ")
    return " ".join(text.split())
