"""Batch tests: the retry jitter draws from ``random``; a fixed seed keeps them repeatable."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def seeded_jitter() -> Iterator[None]:
    """Seed ``random`` for the test, then put its state back."""
    state = random.getstate()
    random.seed(1234)
    yield
    random.setstate(state)
