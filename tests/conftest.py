"""Shared fixtures: every test gets its own registry and leaves global state as it found it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog
from prometheus_client import CollectorRegistry

import tpe_insight.testing
from tests.helpers import Metrics


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture(autouse=True)
def _reset_globals() -> Iterator[None]:
    yield
    tpe_insight.testing.reset()
    structlog.reset_defaults()


@pytest.fixture
def metrics(registry: CollectorRegistry) -> Metrics:
    """Reader for the pool labelled ``p`` in this test's registry."""
    return Metrics(registry, "p")
