"""The forms of each concept lemma, read from spaCy's lemma tables once per environment.

Expanding a language's concept lemmas scans its whole ``lemma_lookup`` table (up to 800,000
entries): 0.6-2.4 s of CPU per language, paid by every process on its first message in that
language, that is by every worker process of a daemon and every ``commgate`` command that
classifies. The forms of a lemma depend only on the table (the last entry of each form decides,
whatever other lemmas are asked for), so they are kept in one JSON file per language and table
version, and a process scans the table only for lemmas no process has asked for before.

Where: ``$COMMGATE_CACHE_DIR``, else ``$XDG_CACHE_HOME/commgate``, else ``~/.cache/commgate``
(``COMMGATE_CACHE_DIR=off``: no file). A cache that cannot be read or written costs the scan,
never a result: a broken file is read as empty and replaced. Processes that miss the same
lemmas at once take turns on a lock file, so one scans and the others read its result.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

log = logging.getLogger(__name__)
CACHE_ENV = "COMMGATE_CACHE_DIR"
_FORMAT = 1  # bump when the file's layout or the expansion's meaning changes
_unusable: set[Path] = set()  # cache files this process failed to use (logged once)
Scan = Callable[[set[str]], dict[str, set[str]]]


def cache_dir() -> Path | None:
    """The folder of the cache files, or None when caching is off or there is no home."""
    env = os.environ.get(CACHE_ENV, "")
    if env.lower() == "off":
        return None
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    if xdg:
        return Path(xdg) / "commgate"
    try:
        return Path.home() / ".cache" / "commgate"
    except RuntimeError:  # no HOME and no passwd entry (a bare service user)
        return None


def cache_file(lang: str, table: Path) -> Path | None:
    """The cache file of ``lang``'s table: its name carries the table's path, size and
    modification time, so a new spacy-lookups-data gets a file of its own."""
    folder = cache_dir()
    if folder is None:
        return None
    try:
        stat = table.stat()
    except OSError:
        return None
    identity = f"{_FORMAT}|{table.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    digest = hashlib.sha256(identity.encode()).hexdigest()[:16]
    return folder / "lemma-forms" / f"{lang}-{digest}.json"


def lemma_forms(path: Path | None, wanted: set[str], scan: Scan) -> dict[str, set[str]]:
    """lemma -> forms for each lemma of ``wanted``, from the cache file at ``path`` where it
    has them and from ``scan`` (the table) for the rest, which are then added to the file."""
    if path is None or not wanted:
        return scan(wanted) if wanted else {}
    known = _read(path)
    if wanted <= known.keys():
        return {lemma: set(known[lemma]) for lemma in wanted}
    found: dict[str, set[str]] | None = None
    try:
        with locked(path):
            known = _read(path)  # another process may have added them while we waited
            missing = wanted - known.keys()
            if missing:
                found = scan(missing)
                known.update({lemma: sorted(forms) for lemma, forms in found.items()})
                _write(path, known)
    except OSError as exc:
        if path not in _unusable:
            _unusable.add(path)
            log.warning("lemma form cache %s not usable (%s); reading the lemma table instead "
                        "(set %s to a writable folder)", path, exc.strerror or exc, CACHE_ENV)
        if found is None:
            return scan(wanted)
        known.update({lemma: sorted(forms) for lemma, forms in found.items()})
    return {lemma: set(known[lemma]) for lemma in wanted}


def _read(path: Path) -> dict[str, list[str]]:
    """The file's lemmas, or nothing if it is missing, unreadable or not what we write."""
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return {}
    forms = data.get("forms") if isinstance(data, dict) else None
    if not isinstance(forms, dict) or not all(
        isinstance(v, list) and all(isinstance(f, str) for f in v) for v in forms.values()
    ):
        return {}
    return forms


def _write(path: Path, forms: dict[str, list[str]]) -> None:
    text = json.dumps({"format": _FORMAT, "forms": forms}, ensure_ascii=False, sort_keys=True)
    replace_file(path, lambda fh: fh.write(text.encode("utf-8")))


def replace_file(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Replace a cache file in one rename, ``write`` filling the new one: a reader sees the
    old file or the new one, never a part (the lemma forms, the one-token answers and the
    language model's tables, :mod:`classifiers.langid_model`, are written this way)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# Folders a checked cache file could not be written to, each logged once.
_unwritable: set[Path] = set()
_CHECK = 32  # bytes of the payload's SHA-256 at the start of a checked cache file


def read_checked(path: Path) -> bytes | None:
    """The payload of a file :func:`write_checked` wrote, or None if it is missing, unreadable,
    truncated or altered (its SHA-256 no longer matches): such a file is recomputed, never
    trusted."""
    try:
        raw = path.read_bytes()
    except OSError:
        return None
    payload = raw[_CHECK:]
    return payload if hashlib.sha256(payload).digest() == raw[:_CHECK] else None


def write_checked(path: Path, payload: bytes, what: str) -> None:
    """Keep ``payload`` in ``path`` behind its SHA-256, in one rename; a folder that cannot be
    written costs the cache, never a result, and is logged once as ``what``."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        replace_file(path, lambda fh: fh.write(hashlib.sha256(payload).digest() + payload))
    except OSError as exc:
        if path.parent not in _unwritable:
            _unwritable.add(path.parent)
            log.warning("%s %s not writable (%s); set %s to a writable folder",
                        what, path.parent, exc.strerror or exc, CACHE_ENV)


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold ``path``'s lock file (made with its folder if need be) until the block ends."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
