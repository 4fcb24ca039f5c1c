"""KV-cache files of the local model's prompt prefixes, kept across processes.

Every review prompt opens with the house rules, then the launch: llama.cpp's state of
such a prefix (its KV cache, about 23 KB a token) is saved to a file the first time it is
evaluated, and loaded instead of evaluated the next time a process needs it (a new
``panel draft`` of any launch reads the house rules from it; a redraft, the launch too).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

KEEP = 8
"""Files kept (the newest used; one is 10 to 20 MB)."""


class PrefixFiles:
    """Saved states of prompt prefixes in ``folder``, for models that ``salt`` names."""

    def __init__(self, folder: Path, salt: str, bindings: Any) -> None:
        self._folder = folder
        self._salt = salt
        self._bindings = bindings

    def path(self, tokens: Sequence[int]) -> Path:
        """The file of the prefix ``tokens``."""
        digest = hashlib.sha256(self._salt.encode())
        digest.update(",".join(map(str, tokens)).encode())
        return self._folder / f"{digest.hexdigest()[:32]}.kv"

    def load(self, llama: Any, tokens: Sequence[int], marks: Sequence[int], kept: int) -> int:
        """Load the longest saved prefix of ``tokens`` that ends at one of ``marks`` and
        is longer than the ``kept`` tokens ``llama`` holds; the tokens it then holds."""
        for mark in sorted((m for m in marks if m > kept), reverse=True):
            path = self.path(tokens[:mark])
            if not path.is_file():
                continue
            if self._restore(llama, path, tokens[:mark]):
                os.utime(path)
                return mark
            kept = 0  # a file that does not load (another llama.cpp): the context is empty
        return kept

    def _restore(self, llama: Any, path: Path, prefix: Sequence[int]) -> bool:
        b = self._bindings
        memory = b.llama_get_memory(llama.ctx)
        b.llama_memory_seq_rm(memory, 0, -1, -1)
        llama.n_tokens = 0
        read = (b.llama_token * len(prefix))()
        count = ctypes.c_size_t(0)
        loaded = b.llama_state_seq_load_file(
            llama.ctx, str(path).encode(), 0, read, len(prefix), ctypes.byref(count)
        )
        if not loaded or count.value != len(prefix) or list(read) != list(prefix):
            b.llama_memory_seq_rm(memory, 0, -1, -1)
            return False
        llama.input_ids[: len(prefix)] = prefix
        llama.n_tokens = len(prefix)
        return True

    def save(self, llama: Any, prefix: Sequence[int]) -> None:
        """Save the state of ``llama``, which holds exactly ``prefix``, unless saved."""
        path = self.path(prefix)
        if path.is_file():
            return
        tokens = (self._bindings.llama_token * len(prefix))(*prefix)
        try:
            self._folder.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(f"{path.name}.{os.getpid()}.part")
            if self._bindings.llama_state_seq_save_file(
                llama.ctx, str(partial).encode(), 0, tokens, len(prefix)
            ):
                partial.replace(path)
            else:
                partial.unlink(missing_ok=True)
            saved = sorted(self._folder.glob("*.kv"), key=lambda p: p.stat().st_mtime)
            for old in saved[:-KEEP]:
                old.unlink(missing_ok=True)
        except OSError:
            return  # a read-only cache: the prefix is evaluated each time
