"""The HTTP test server in a process of its own, so it does not share our GIL."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """A running ``python -m tests.fakeserver``."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.openai_url = f"{self.url}/v1"

    def stats(self) -> dict[str, Any]:
        """The server's counters."""
        with urllib.request.urlopen(f"{self.url}/_stats", timeout=5) as reply:
            data: dict[str, Any] = json.loads(reply.read())
            return data

    def reset_cache(self) -> None:
        """Empty the server's simulated prompt cache."""
        request = urllib.request.Request(f"{self.url}/_reset_cache", data=b"{}", method="POST")
        with urllib.request.urlopen(request, timeout=5) as reply:
            reply.read()


@contextmanager
def server_process(latency: float = 0.0, rpm: float | None = None) -> Iterator[ServerProcess]:
    """Start the fake server in a subprocess and wait until it answers."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "tests.fakeserver",
        "--port",
        str(port),
        "--latency",
        str(latency),
    ]
    if rpm:
        command += ["--rpm", str(rpm)]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL)
    server = ServerProcess(port)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                server.stats()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("the fake server did not start") from None
                time.sleep(0.05)
        yield server
    finally:
        proc.terminate()
        proc.wait(10)
