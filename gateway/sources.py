"""Finding messages in what an operator points ``ingest`` at: files, folders, Maildirs, mbox."""

from __future__ import annotations

import mailbox
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

MESSAGE_SUFFIXES = (".eml", ".msg", ".mbox", ".mbx")
_MBOX_SEPARATOR = b"\n\nFrom "


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
    """An mbox starts with a ``From `` line and separates messages with blank line + ``From ``."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(1 << 16)
    except OSError:
        return False
    if not head.startswith(b"From "):
        return False
    if path.suffix.lower() in (".mbox", ".mbx") or ".mbox" in path.name.lower():
        return True
    return _MBOX_SEPARATOR in head.replace(b"\r\n", b"\n")


def count_files(paths: list[Path]) -> int:
    return sum(1 for _ in _files(paths))


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
            box = mailbox.mbox(str(path), factory=None, create=False)
            try:
                for number, key in enumerate(box.iterkeys(), start=1):
                    yield SourceMessage(box.get_bytes(key), f"{path}#{number}",
                                        {"file": str(path), "mbox_index": number})
            finally:
                box.close()
            return
        yield SourceMessage(path.read_bytes(), str(path), {"file": str(path)})
    except OSError as exc:
        yield SourceProblem(str(path), f"cannot read: {exc.strerror or exc}")
