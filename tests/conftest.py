"""Shared test fixtures: where the real samples live, and a skip that says why when they are absent."""

from __future__ import annotations

from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
SHARED = PROJECT.parent / "shared"
SAMPLES = SHARED / "samples"


@pytest.fixture
def samples_dir() -> Path:
    """``../shared/samples`` next to the checkout; tests that need it skip (with the reason) without it."""
    if not SAMPLES.is_dir():
        pytest.skip(f"real samples not available: {SAMPLES} is missing (the tests read ../shared/samples)")
    return SAMPLES


@pytest.fixture
def seeds_dir() -> Path:
    """``../shared/seeds``: the ResetME source documents."""
    path = SHARED / "seeds"
    if not path.is_dir():
        pytest.skip(f"seed documents not available: {path} is missing")
    return path
