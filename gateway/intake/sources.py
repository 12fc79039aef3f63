"""Finding messages in what an operator points ``ingest`` at: files, folders, Maildirs, mbox."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

MESSAGE_SUFFIXES = (".eml", ".msg", ".mbox", ".mbx")
_BOM = b"\xef\xbb\xbf"
_FROM_LINE = re.compile(rb"^From \S+(?:[ \t]*|[ \t]+.*\d{1,2}:\d{2}.*)\r?\n?$")


@dataclass(frozen=True)
class SourceMessage:
    """Raw bytes exactly as found, and where (for the ledger and for error messages)."""

    raw: bytes
    origin: str
    envelope: dict[str, str | int]


@dataclass(frozen=True)
class SourceProblem:
    origin: str
    reason: str


def is_maildir(path: Path) -> bool:
    return all((path / sub).is_dir() for sub in ("cur", "new", "tmp"))


def looks_like_mbox(path: Path) -> bool:
    """An mbox by name (``*.mbox``, ``*.mbx``, ``*.mbox.txt``), or a file without a message
    suffix that starts with a ``From `` line and has another one after a blank line.

    A ``.eml`` file is always one message, even when its body quotes a ``From `` line (a git
    patch, a bounce): splitting it would archive bytes that are not the file's bytes.
    """
    name = path.name.lower()
    if name.endswith((".mbox", ".mbx")) or ".mbox." in name:
        return True
    if name.endswith((".eml", ".msg")):
        return False
    try:
        with open(path, "rb") as fh:
            head = fh.read(1 << 16)
    except OSError:
        return False
    lines = head.removeprefix(_BOM).splitlines(keepends=True)
    return bool(lines) and is_from_line(lines[0]) and sum(map(is_from_line, lines)) > 1


def is_from_line(line: bytes) -> bool:
    """An mbox separator: ``From SENDER DATE`` (a time in it) or Netscape's bare ``From -``.
    Body lines such as "From Russia with love" in an un-escaped mbox are not separators."""
    return _FROM_LINE.match(line) is not None


def mbox_messages(path: Path) -> Iterator[bytes]:
    """The messages of an mbox file, streamed. The ``From `` separator line and the blank line
    before the next one belong to the mbox, not the message; the rest is kept byte for byte."""
    with open(path, "rb") as fh:
        lines: list[bytes] = []
        started = False
        for number, line in enumerate(fh):
            if number == 0:
                line = line.removeprefix(_BOM)
            if is_from_line(line):
                if started:
                    yield _without_separator_blank(lines)
                lines, started = [], True
                continue
            if started:
                lines.append(line)
        if started:
            yield _without_separator_blank(lines)


def _without_separator_blank(lines: list[bytes]) -> bytes:
    if lines and lines[-1] in (b"\n", b"\r\n"):
        lines = lines[:-1]
    return b"".join(lines)


def count_files(paths: list[Path]) -> int:
    return sum(1 for _ in _files(paths))


def count_messages(paths: list[Path]) -> int:
    """How many items :func:`iter_messages` yields for ``paths`` (messages, and files that
    cannot be read), for an import's progress total: each mbox is read once more, line by
    line, for its separators, without keeping any message."""
    return sum(_count_in(path) for path in _files(paths))


def _count_in(path: Path) -> int:
    try:
        if not looks_like_mbox(path):
            return 1
        with open(path, "rb") as fh:
            first = fh.readline().removeprefix(_BOM)
            return is_from_line(first) + sum(map(is_from_line, fh))
    except OSError:
        return 1  # iter_messages reports it as one unreadable item


def iter_messages(paths: list[Path]) -> Iterator[SourceMessage | SourceProblem]:
    """Every message below ``paths``, file by file, mbox message by message."""
    for path in _files(paths):
        yield from _messages_in(path)


def _files(paths: list[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from _folder(path)
        else:
            yield path


def _folder(folder: Path) -> Iterator[Path]:
    if is_maildir(folder):
        for sub in ("new", "cur"):
            yield from sorted(p for p in (folder / sub).iterdir() if p.is_file())
        for child in sorted(folder.iterdir()):  # Maildir++ subfolders (.Sent, .Archive ...)
            if child.name.startswith(".") and child.is_dir() and is_maildir(child):
                yield from _folder(child)
        return
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        base = Path(root)
        if base != folder and is_maildir(base):
            dirs[:] = []
            yield from _folder(base)
            continue
        for name in sorted(files):
            if name.lower().endswith(MESSAGE_SUFFIXES) and not name.startswith("."):
                yield base / name


def _messages_in(path: Path) -> Iterator[SourceMessage | SourceProblem]:
    try:
        if looks_like_mbox(path):
            for number, raw in enumerate(mbox_messages(path), start=1):
                yield SourceMessage(raw, f"{path}#{number}",
                                    {"file": str(path), "mbox_index": number})
            return
        yield SourceMessage(path.read_bytes(), str(path), {"file": str(path)})
    except OSError as exc:
        yield SourceProblem(str(path), f"cannot read: {exc.strerror or exc}")
