"""Fixtures of the web tests: the application's test client on this test's installation (each
backend: SQLite and PostgreSQL, as every ``app`` test)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from gateway.bootstrap import App
from tests.support.web import web_client


@pytest.fixture
def client(app: App) -> Iterator[TestClient]:
    with web_client(app) as test_client:
        yield test_client
