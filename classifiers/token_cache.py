"""Which concept forms a language's tokenizer keeps as one token, kept between processes.

Building a language's sequence index asks, for each of its concept forms and literals (about
7,000 per language, 78,000 for the 11), whether spaCy's tokenizer yields it as one token
(:func:`classifiers.rules._one_token`): a tokenizer call or two per form, about 0.45 s of
CPU for the 11 languages, paid by every fork server (every daemon start, every ``commgate
ingest``) and by every process that classifies. The answer depends only on the word and the
tokenizer, so it is kept in one JSON file per language and tokenizer: the file's name
carries spaCy's version and the bytes of the modules that change the tokenizer here
(:mod:`classifiers.affixes`, :mod:`classifiers.french_tokens`), and a word missing from the
file is asked of the tokenizer and added. A new rule or concept form can therefore never
meet a stale answer, and a changed tokenizer gets a file of its own.

The folder is the lemma form cache's (:func:`classifiers.lemma_cache.cache_dir`,
``$COMMGATE_CACHE_DIR``, ``off`` for none); like that cache, a file that cannot be read is
read as empty and replaced, and one that cannot be written costs the tokenizer calls, never
a result.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from functools import cache
from importlib import metadata
from pathlib import Path

from classifiers import affixes, french_tokens
from classifiers.lemma_cache import CACHE_ENV, cache_dir, locked, replace_file

log = logging.getLogger(__name__)
_FORMAT = 2  # bump when the file's layout or the meaning of an answer (_one_token) changes
_unusable: set[Path] = set()  # files this process failed to write (logged once)


@cache
def _tokenizer_identity() -> str:
    """spaCy's version and the bytes of the modules that modify its tokenizers here."""
    digest = hashlib.sha256(f"{_FORMAT}|{metadata.version('spacy')}".encode())
    for module in (affixes, french_tokens):
        digest.update(Path(module.__file__ or "").read_bytes())
    return digest.hexdigest()[:16]


def cache_file(lang: str) -> Path | None:
    """The file of ``lang``'s answers, or None when caching is off."""
    folder = cache_dir()
    if folder is None:
        return None
    return folder / "one-token" / f"{lang}-{_tokenizer_identity()}.json"


class OneToken:
    """``one_token(word)`` from the file where it has the word, else from ``ask`` (the
    tokenizer); :meth:`save` adds the new answers to the file."""

    def __init__(self, path: Path | None, ask: Callable[[str], bool]) -> None:
        self._path = path
        self._ask = ask
        self._known = _read(path) if path is not None else {}
        self._new: dict[str, bool] = {}

    def __call__(self, word: str) -> bool:
        answer = self._known.get(word)
        if answer is None:
            answer = self._new.get(word)
            if answer is None:
                answer = self._new[word] = self._ask(word)
        return answer

    def save(self) -> None:
        """Merge the answers asked of the tokenizer into the file (under its lock, with
        what other processes added meanwhile)."""
        path = self._path
        if path is None or not self._new:
            return
        try:
            with locked(path):
                known = _read(path)
                known.update(self._new)
                _write(path, known)
        except OSError as exc:
            if path not in _unusable:
                _unusable.add(path)
                log.warning("token cache %s not writable (%s); set %s to a writable folder",
                            path, exc.strerror or exc, CACHE_ENV)
        self._new = {}


def _read(path: Path) -> dict[str, bool]:
    """The file's answers, or nothing if it is missing, unreadable or not what we write."""
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return {}
    words = data.get("one_token") if isinstance(data, dict) else None
    if (not isinstance(data, dict) or data.get("format") != _FORMAT
            or not isinstance(words, dict)
            or not all(isinstance(v, bool) for v in words.values())):
        return {}
    return words


def _write(path: Path, words: dict[str, bool]) -> None:
    text = json.dumps({"format": _FORMAT, "one_token": words}, ensure_ascii=False,
                      sort_keys=True)
    replace_file(path, lambda fh: fh.write(text.encode("utf-8")))
