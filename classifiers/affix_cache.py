"""What :mod:`classifiers.affixes` reads from spaCy's affix patterns by parsing them, kept
between processes.

The faster searches of ``affixes`` are derived from each language's patterns with the
stdlib's regex parser: the characters each suffix piece can end with and each prefix piece
begin with (the dispatch tables), and the characters every infix match needs (the infix
guard, a class of ~6,000 symbols enumerated). About 0.17 s of CPU for the 11 languages, in
every fork server's start (every daemon start, every ``commgate ingest``), for answers that
depend only on the pattern's text and flags and on the code that reads them.

So each answer is kept in a JSON file named after a digest of the pattern's pieces and flags,
what is asked of them (``kind``), the Python version (its regex parser) and the bytes of
:mod:`classifiers.affixes` and :mod:`classifiers.regex_starts` (which enumerates the
classes): a new spaCy (other patterns) or a change to that code gets files of their own, and
nothing stale can be read. Each file holds a SHA-256 of its payload; one that is missing,
corrupt, of another shape or length, or not what this module writes is computed again and
replaced, never trusted. The folder is the lemma form cache's
(:func:`classifiers.lemma_cache.cache_dir`, ``$COMMGATE_CACHE_DIR``, ``off`` for none); a
folder that cannot be written costs the parse, never a result.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path

from classifiers.lemma_cache import cache_dir, read_checked, write_checked

_FORMAT = 2  # bump when the file's layout or the meaning of an answer changes

# The characters of one piece (a set), or None: unknown, as ``affixes`` answers.
Chars = frozenset[str] | None
# One answer per piece, or None when no answer can be given for the pattern at all.
Answers = list[Chars] | None


def chars(kind: str, pieces: Sequence[str], flags: int, count: int,
          compute: Callable[[], Answers]) -> Answers:
    """``compute()`` (``count`` answers, or None), read from the cache file of ``kind`` for
    ``pieces`` and ``flags`` where it holds them; computed and kept otherwise."""
    path = cache_file(kind, pieces, flags)
    if path is not None:
        found = _read(path, count)
        if found is not None:
            return found[0]
    answers = compute()
    if path is not None:
        _write(path, answers)
    return answers


# The modules that compute the answers (read as files: affixes imports this module).
_CODE = ("affixes.py", "regex_starts.py")


@cache
def _code_identity() -> bytes:
    """The bytes of the modules that compute the answers, and the regex parser's version."""
    digest = hashlib.sha256(f"{_FORMAT}|{sys.version}".encode())
    for name in _CODE:
        digest.update(Path(__file__).with_name(name).read_bytes())
    return digest.digest()


def cache_file(kind: str, pieces: Sequence[str], flags: int) -> Path | None:
    """The cache file of ``kind`` for ``pieces`` and ``flags``, or None when caching is off."""
    folder = cache_dir()
    if folder is None:
        return None
    digest = hashlib.sha256(_code_identity())
    digest.update(json.dumps([kind, flags, list(pieces)]).encode())
    return folder / "affixes" / f"{kind}-{digest.hexdigest()[:32]}.json"


def _read(path: Path, count: int) -> tuple[Answers] | None:
    """(the answers,) the file holds, or None if it is missing, unreadable, corrupt or not
    ``count`` answers of the shape this module writes."""
    payload = read_checked(path)
    if payload is None:
        return None
    try:
        data = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("format") != _FORMAT:
        return None
    answers = data.get("answers")
    if answers is None:
        return (None,)
    if (not isinstance(answers, list) or len(answers) != count
            or not all(a is None or isinstance(a, str) for a in answers)):
        return None
    return ([None if a is None else frozenset(a) for a in answers],)


def _write(path: Path, answers: Answers) -> None:
    """Keep ``answers`` in ``path`` (ASCII JSON: a lone surrogate of a class is escaped)."""
    listed = None if answers is None else [
        None if a is None else "".join(sorted(a)) for a in answers
    ]
    payload = json.dumps({"format": _FORMAT, "answers": listed}).encode()
    write_checked(path, payload, "affix cache")
