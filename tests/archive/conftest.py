"""Fixtures of the archive tests: an empty archive, and a signing key kept outside it."""

from __future__ import annotations

from pathlib import Path

import pytest

from archive import Archive
from archive import checkpoints as cps


@pytest.fixture
def archive(tmp_path: Path) -> Archive:
    a = Archive.open(tmp_path / "archive")
    a.ensure()
    return a


@pytest.fixture
def key(tmp_path: Path) -> Path:
    path = tmp_path / "keys" / "checkpoint.key"
    path.parent.mkdir()
    cps.generate_key(path)
    return path
