"""Prompt caching the way the providers document it, simulated for the fake server.

Anthropic caches explicitly: a block marked ``cache_control`` is a breakpoint, and the
prefix up to it (tools, then system, then messages) is written when it is long enough for
the model and read back by a later request with the same prefix. OpenAI caches
automatically: every prompt of 1024 tokens or more is stored, and a later prompt reads the
longest common prefix, in steps of 128 tokens past 1024.

A request's cache outcome is looked up when it arrives (``PromptCache.plan``) and its writes
become visible when it is answered (``PromptCache.commit``), so concurrent identical requests
all write. The clock is ``time.monotonic()`` plus an offset that ``advance`` moves on.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Literal

JSON = dict[str, Any]
Api = Literal["anthropic", "openai"]

ANTHROPIC_MIN_TOKENS: dict[str, int] = {
    "claude-haiku-4-5": 4096,
    "claude-opus-4-5": 4096,
    "claude-opus-4-6": 4096,
    "claude-sonnet-4": 1024,
    "claude-sonnet-4-5": 1024,
    "claude-sonnet-4-6": 1024,
    "claude-opus-4": 1024,
    "claude-opus-4-1": 1024,
    "claude-haiku-3-5": 2048,
    "claude-3-5-haiku": 2048,
}
"""Shortest cacheable prefix per model family, in tokens; the longest matching id wins."""
ANTHROPIC_DEFAULT_MIN = 1024
"""The minimum for any other model id."""
MAX_BREAKPOINTS = 4
LOOKBACK = 20
"""Block boundaries before a breakpoint that are checked for a hit."""
TTLS = {"5m": 300.0, "1h": 3600.0}
OPENAI_MIN = 1024
OPENAI_STEP = 128
OPENAI_TTL = 300.0
BLOCK_OVERHEAD = 3
MESSAGE_OVERHEAD = 4
_PIECE = re.compile(r"\w+|[^\w\s]")
_LONG_WORD = 8
_CHUNK = 6
_BAD_TTL = -1.0
"""The lifetime of a breakpoint whose ``ttl`` is neither 5m nor 1h (a 400)."""


def pieces(text: str) -> list[str]:
    """``text`` as tokens: a rough BPE-like split, deliberately not Panel's own estimate.

    Words and single punctuation marks are a token each; a word longer than 8 characters
    is cut into pieces of 6 (so it counts ceil(len / 6))."""
    out: list[str] = []
    for piece in _PIECE.findall(text):
        if len(piece) > _LONG_WORD:
            out.extend(piece[i : i + _CHUNK] for i in range(0, len(piece), _CHUNK))
        else:
            out.append(piece)
    return out


def count_tokens(text: str) -> int:
    """How many tokens ``text`` is (see ``pieces``)."""
    count = 0
    for piece in _PIECE.findall(text):
        count += math.ceil(len(piece) / _CHUNK) if len(piece) > _LONG_WORD else 1
    return count


def min_cacheable(model: str) -> int:
    """The shortest prefix, in tokens, that ``model`` caches (Anthropic)."""
    found = [k for k in ANTHROPIC_MIN_TOKENS if model == k or model.startswith(f"{k}-")]
    return ANTHROPIC_MIN_TOKENS[max(found, key=len)] if found else ANTHROPIC_DEFAULT_MIN


def _dump(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _strip(block: Any) -> Any:
    """A block without its ``cache_control`` mark (the mark is not part of the prefix)."""
    if isinstance(block, dict):
        return {k: v for k, v in block.items() if k != "cache_control"}
    return block


@dataclass(frozen=True)
class Block:
    """One block of an Anthropic prompt."""

    identity: str
    """What must match byte for byte for a hit."""
    tokens: int
    ttl: float | None = None
    """Seconds an entry written at this block lives; None when it is no breakpoint."""


def anthropic_blocks(body: JSON) -> list[Block]:
    """The prompt of a Messages request as blocks: tools, system, then each message's."""
    blocks: list[Block] = []

    def add(kind: str, block: Any, extra: int = 0) -> None:
        bare = _strip(block)
        text = bare.get("text") if isinstance(bare, dict) else None
        size = count_tokens(text if isinstance(text, str) else _dump(bare))
        mark = block.get("cache_control") if isinstance(block, dict) else None
        ttl = TTLS.get(str(mark.get("ttl", "5m")), _BAD_TTL) if isinstance(mark, dict) else None
        blocks.append(Block(f"{kind}\x00{_dump(bare)}", size + BLOCK_OVERHEAD + extra, ttl))

    for tool in body.get("tools") or []:
        add("tool", tool)
    system = body.get("system")
    if isinstance(system, str) and system:
        add("system", {"type": "text", "text": system})
    for block in system if isinstance(system, list) else []:
        add("system", block)
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else message
        role = message.get("role") if isinstance(message, dict) else None
        parts = [{"type": "text", "text": content}] if isinstance(content, str) else content
        for index, part in enumerate(parts or [{"type": "text", "text": ""}]):
            first = index == 0
            add(f"{role}:{'start' if first else 'more'}", part, MESSAGE_OVERHEAD if first else 0)
    return blocks


def anthropic_header(body: JSON) -> str:
    """The part of a Messages request every cache key depends on."""
    tools = [_strip(t) for t in body.get("tools") or []]
    keys = {"model": body.get("model"), "tools": tools, "tool_choice": body.get("tool_choice")}
    return _dump({**keys, "output_config": body.get("output_config")})


def _parts(content: Any) -> list[str]:
    if isinstance(content, str):
        return pieces(content)
    out: list[str] = []
    for part in content if isinstance(content, list) else [] if content is None else [content]:
        text = part.get("text") if isinstance(part, dict) else None
        out += pieces(text if isinstance(text, str) else _dump(part))
    return out


def _turn(role: str, body: list[str]) -> list[str]:
    return ["<|start|>", role, "<|message|>", *body, "<|end|>"]


def openai_tokens(body: JSON) -> list[str]:
    """The prompt of a Chat or Responses request as tokens: schema, tools, instructions,
    then each message or input item (role and content)."""
    schema = body.get("response_format") or (body.get("text") or {}).get("format")
    out: list[str] = pieces(_dump(schema)) if schema else []
    if body.get("tools"):
        out += pieces(_dump(body["tools"]))
    if body.get("instructions"):
        out += _turn("developer", pieces(str(body["instructions"])))
    items = body.get("messages") or body.get("input") or []
    for item in [{"role": "user", "content": items}] if isinstance(items, str) else items:
        if not isinstance(item, dict) or "role" not in item:
            kind = item.get("type") if isinstance(item, dict) else None
            out += _turn(str(kind or "item"), pieces(_dump(item)))
            continue
        extra = {k: v for k, v in item.items() if k not in ("role", "content", "type")}
        tail = pieces(_dump(extra)) if extra else []
        out += _turn(str(item["role"]), _parts(item.get("content")) + tail)
    return out


@dataclass
class Plan:
    """One request's cache outcome: looked up on arrival, stored by ``commit`` on answer."""

    api: Api
    prompt_tokens: int
    """All the prompt's tokens, read and written ones included."""
    read: int = 0
    written: int = 0
    error: str | None = None
    """Why the API refuses the request (a 400), or None."""
    hit: tuple[str, float] | None = None
    """(key, ttl) of the entry read."""
    writes: list[tuple[str, float]] = field(default_factory=list)
    """(key, ttl) of the entries the request creates."""

    @property
    def uncached(self) -> int:
        """Tokens neither read from nor written to the cache."""
        return self.prompt_tokens - self.read - self.written

    @property
    def usage(self) -> tuple[int, int, int]:
        """(uncached input, cache read, cache write) tokens, as Anthropic reports them."""
        return self.uncached, self.read, self.written


class PromptCache:
    """The cache entries of both APIs, with their own clock; thread-safe."""

    def __init__(self) -> None:
        self.offset = 0.0
        """Seconds added to ``time.monotonic()`` (see ``advance``)."""
        self._entries: dict[str, tuple[float, float]] = {}
        """key -> (expiry on our clock, lifetime in seconds)."""
        self._totals = {"requests": 0, "hits": 0, "prompt": 0, "read": 0, "written": 0}
        self._lock = threading.Lock()

    def now(self) -> float:
        """The cache's clock."""
        return time.monotonic() + self.offset

    def advance(self, seconds: float) -> None:
        """Move the clock on by ``seconds`` (to expire entries without sleeping)."""
        with self._lock:
            self.offset += seconds

    def reset(self) -> None:
        """Drop every entry and zero the totals (the clock keeps its offset)."""
        with self._lock:
            self._entries.clear()
            self._totals = dict.fromkeys(self._totals, 0)

    def stats(self) -> dict[str, int]:
        """Totals over committed requests."""
        with self._lock:
            totals = dict(self._totals)
            now = self.now()
            live = sum(1 for expiry, _ in self._entries.values() if expiry > now)
        return {
            "cache_requests": totals["requests"],
            "cache_hits": totals["hits"],
            "prompt_tokens": totals["prompt"],
            "cache_read_tokens": totals["read"],
            "cache_write_tokens": totals["written"],
            "cache_entries": live,
        }

    def _live(self, key: str, now: float) -> float | None:
        """The lifetime of a live entry ``key``, or None."""
        found = self._entries.get(key)
        return found[1] if found and found[0] > now else None

    def plan(self, path: str, body: JSON, enabled: bool = True) -> Plan:
        """The cache outcome of a generation request (``enabled`` False: no caching)."""
        if path == "/v1/messages":
            return self.anthropic(body, enabled)
        return self.openai(body, enabled)

    def anthropic(self, body: JSON, enabled: bool = True) -> Plan:
        """Read the longest cached prefix at a breakpoint; write up to the last one."""
        blocks = anthropic_blocks(body)
        plan = Plan("anthropic", sum(b.tokens for b in blocks))
        marks = [i for i, b in enumerate(blocks) if b.ttl is not None]
        if len(marks) > MAX_BREAKPOINTS:
            plan.error = (
                f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. "
                f"Found {len(marks)}."
            )
            return plan
        if any(blocks[i].ttl == _BAD_TTL for i in marks):
            plan.error = "cache_control.ttl: Input should be '5m' or '1h'"
            return plan
        if not enabled or not marks:
            return plan
        keys: list[str] = []
        sizes: list[int] = []
        digest = hashlib.sha256(f"anthropic\x00{anthropic_header(body)}".encode())
        total = 0
        for block in blocks:
            digest.update(hashlib.sha256(block.identity.encode()).digest())
            keys.append(digest.hexdigest())
            total += block.tokens
            sizes.append(total)
        least = min_cacheable(str(body.get("model") or ""))
        cacheable = [i for i in marks if sizes[i] >= least]
        if not cacheable:
            return plan
        with self._lock:
            now = self.now()
            candidates = {j for i in cacheable for j in range(max(0, i - LOOKBACK), i + 1)}
            hits = [(sizes[j], j, self._live(keys[j], now)) for j in candidates]
        found = max(((size, j, ttl) for size, j, ttl in hits if ttl is not None), default=None)
        if found:
            plan.read, j, ttl = found
            plan.hit = (keys[j], ttl)
        plan.written = max(0, sizes[cacheable[-1]] - plan.read)
        plan.writes = [(keys[i], blocks[i].ttl or TTLS["5m"]) for i in cacheable]
        return plan

    def openai(self, body: JSON, enabled: bool = True) -> Plan:
        """Read the longest stored prefix, in steps of 128 past 1024; store the prompt."""
        prompt = openai_tokens(body)
        plan = Plan("openai", len(prompt))
        if not enabled or len(prompt) < OPENAI_MIN:
            return plan
        digest = hashlib.sha256(f"openai\x00{body.get('model')}".encode())
        checkpoints: list[tuple[int, str]] = []
        for index, piece in enumerate(prompt, 1):
            digest.update(piece.encode() + b"\x1f")
            if index >= OPENAI_MIN and (index - OPENAI_MIN) % OPENAI_STEP == 0:
                checkpoints.append((index, digest.hexdigest()))
        with self._lock:
            now = self.now()
            for size, key in reversed(checkpoints):
                if self._live(key, now) is not None:
                    plan.read, plan.hit = size, (key, OPENAI_TTL)
                    break
        plan.writes = [(key, OPENAI_TTL) for _, key in checkpoints]
        return plan

    def commit(self, plan: Plan) -> None:
        """The request is answered: refresh what it read, store what it wrote, count it."""
        with self._lock:
            now = self.now()
            for key, ttl in [plan.hit] if plan.hit else []:
                self._entries[key] = (now + ttl, ttl)
            for key, ttl in plan.writes:
                expiry, _ = self._entries.get(key, (0.0, ttl))
                self._entries[key] = (max(expiry, now + ttl), ttl)
            if len(self._entries) > 10_000:
                self._entries = {k: v for k, v in self._entries.items() if v[0] > now}
            self._totals["requests"] += 1
            self._totals["hits"] += plan.read > 0
            self._totals["prompt"] += plan.prompt_tokens
            self._totals["read"] += plan.read
            self._totals["written"] += plan.written
