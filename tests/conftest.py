"""Shared test settings: verification always on, hypothesis profiles, the shared data folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

os.environ.setdefault("ZEROSKIP_VERIFY", "1")

settings.register_profile(
    "default", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
# CI is derandomized so a landing never depends on the draw; local runs keep exploring new inputs.
settings.register_profile(
    "ci", max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("thorough", max_examples=1000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "default"))

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """../shared/data beside the project; tests that need it skip loudly when it is missing."""
    if not DATA.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"shared data not found at {DATA}; CI must run with ../shared beside the checkout")
        pytest.skip(f"shared data not found at {DATA}")
    return DATA
