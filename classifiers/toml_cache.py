"""The shipped rule files parsed once per content, kept between processes.

Every process that classifies parses the 79 TOML files of the rules (1.3 MB) twice: once to
read the rules (:func:`classifiers.rules.read_rules`) and once for the words that name one
language (:mod:`classifiers.language_words`). ``tomllib`` is pure Python: about 0.17 s of
CPU a time, 0.35 s of every fork server's start (every daemon start, every ``commgate
ingest``), where reading back what it made, kept with :mod:`marshal`, takes 0.01 s.

A file's parse depends only on its bytes, so the cache file is named after a digest of them
(and of this format and marshal's version): an edited rule file gets a file of its own and can
never meet a stale parse. Each cache file holds a SHA-256 of its payload; one that is missing,
truncated, corrupt or not what this module writes is parsed again and replaced, never
trusted. The folder is the lemma form cache's (:func:`classifiers.lemma_cache.cache_dir`,
``$COMMGATE_CACHE_DIR``, ``off`` for none); a folder that cannot be written costs the parse,
never a result.
"""

from __future__ import annotations

import hashlib
import marshal
import tomllib
from pathlib import Path
from typing import Any

from classifiers.lemma_cache import cache_dir, read_checked, write_checked

_FORMAT = 1  # bump when the file's layout changes


def loads(data: bytes) -> dict[str, Any]:
    """``tomllib.loads(data.decode("utf-8"))``, read from the cache where it holds a parse of
    these bytes; raises what that raises (``UnicodeDecodeError``, ``TOMLDecodeError``)."""
    path = cache_file(data)
    parsed = _read(path) if path is not None else None
    if parsed is None:
        parsed = tomllib.loads(data.decode("utf-8"))
        if path is not None:
            _write(path, parsed)
    return parsed


def cache_file(data: bytes) -> Path | None:
    """The cache file of the parse of ``data``, or None when caching is off."""
    folder = cache_dir()
    if folder is None:
        return None
    digest = hashlib.sha256(f"{_FORMAT}|{marshal.version}|".encode())
    digest.update(data)
    return folder / "toml" / f"{digest.hexdigest()[:32]}.marshal"


def _read(path: Path) -> dict[str, Any] | None:
    """The parse the file holds, or None if it is missing, unreadable or not what we write."""
    payload = read_checked(path)
    if payload is None:
        return None
    try:
        parsed = marshal.loads(payload)
    except (EOFError, ValueError, TypeError):
        return None
    return parsed if isinstance(parsed, dict) else None


def _write(path: Path, parsed: dict[str, Any]) -> None:
    """Keep ``parsed`` in ``path``; a parse marshal cannot hold (TOML's dates and times) is
    left uncached."""
    try:
        payload = marshal.dumps(parsed)
    except ValueError:
        return
    write_checked(path, payload, "rule file cache")
