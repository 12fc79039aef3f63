"""The one clock: aware UTC datetimes, so both databases store and compare the same instants."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
