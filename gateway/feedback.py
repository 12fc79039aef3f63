"""Placeholder being written in parallel; replaced by its owner."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def on_filed(session: Any, settings: Any, filed: Sequence[Any]) -> None:
    return None
