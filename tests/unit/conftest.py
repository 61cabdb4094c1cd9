"""Unit-test fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from redis_ha_exporter.config import OPTIONS


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No exporter variable from the developer's shell may leak into a unit test."""
    for declared in OPTIONS.values():
        for env in declared.env:
            monkeypatch.delenv(env, raising=False)
    yield
