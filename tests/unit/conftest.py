"""Unit tests: pure logic, and services on the in-memory fakes of tests/unit/fakes.py. No moto, no
subprocess, no network: every socket is refused (pytest-socket), so a test that reaches for AWS, a
CRM or DNS fails instead of silently talking to something."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _no_sockets(socket_disabled: None) -> None:
    """Requesting pytest-socket's ``socket_disabled`` blocks sockets for the test; its teardown lifts it."""
