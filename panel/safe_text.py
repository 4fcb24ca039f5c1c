"""Untrusted text made inert for a terminal: control characters shown, never obeyed."""

from __future__ import annotations

import re

# C0 and C1 controls (ESC starts ANSI sequences, 0x9b is a one-byte CSI), DEL, and the
# bidirectional and line-separator characters that reorder or break what is shown.
_UNSAFE = re.compile(
    "[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)


def _visible(char: str) -> str:
    code = ord(char)
    if code < 0x20:
        return chr(0x2400 + code)  # the Control Pictures block: ␀ … ␛ … ␟
    if code == 0x7F:
        return "\u2421"  # ␡
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def inert(value: object, *, multiline: bool = False) -> str:
    """``value`` as text with every control character replaced by a visible, inert form.

    Newlines are kept only when ``multiline``; a tab stays a tab.
    """
    text = str(value)
    if multiline:
        text = text.replace("\r\n", "\n")

    def replace(match: re.Match[str]) -> str:
        char = match.group()
        return char if multiline and char == "\n" else _visible(char)

    return _UNSAFE.sub(replace, text)
