"""A copy of an archive up to one ledger seq: what a backup holds and what a restore puts back.

The copy has the archive's id file, the ledger's first ``head.seq`` lines (the bytes as they
are: the hash chain is over them), the checkpoints signed over at most that many entries, and
every blob those entries still name. Blobs are immutable, content-addressed, read-only files,
so a copy on the same file system is a hard link (no space, no time, and retention removing
the original leaves the link's content alone); elsewhere it is copied and fsynced. Each file
copied or linked is hashed, so the caller can write a manifest and check it on the way back.

A blob whose last entry up to the head is a tombstone is left out (retention removed it, and
an erased message must not come back from a copy). A blob that is missing while the live
archive is copied was removed by a tombstone written *after* the head: ``grow`` then extends
the copy to the ledger's new end, which has that tombstone (written before the removal).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from archive.blobstore import FilesystemBlobStore, fsync_dir
from archive.entries import LedgerEntry
from archive.errors import ArchiveError
from archive.identity import ID_FILE
from archive.ledger import FileLedger, LedgerHead

LEDGER_FILE = Path("ledger") / "ledger.jsonl"
CHECKPOINTS_FILE = Path("checkpoints") / "checkpoints.jsonl"
# How often a live copy follows the ledger to the tombstones of blobs removed meanwhile.
MAX_ROUNDS = 10


class ArchiveCopyError(ArchiveError):
    """Raised when an archive cannot be copied as asked (target not empty, ledger rewritten
    under the copy, blobs missing that no tombstone accounts for)."""


@dataclass(frozen=True)
class CopiedFile:
    path: str  # relative to the copy's root, with forward slashes
    sha256: str
    size: int


@dataclass
class ArchiveCopy:
    """What was copied: the head it ends at, each file with its hash, and how."""

    head: LedgerHead | None
    files: list[CopiedFile] = field(default_factory=list)
    linked: int = 0
    copied: int = 0
    damaged: list[str] = field(default_factory=list)  # blobs whose content is not their name


def copy_archive(source: Path, target: Path, head: LedgerHead | None,
                 grow: Callable[[], LedgerHead | None] | None = None) -> ArchiveCopy:
    """Copy the archive at ``source`` up to ``head`` into ``target`` (absent or empty).

    ``grow``: for a live archive, the ledger's head now; called when blobs turn out to be
    missing, to follow the ledger to the tombstones that removed them.
    """
    source, target = Path(source), Path(target)
    _refuse_non_empty(target)
    target.mkdir(parents=True, exist_ok=True)
    result = ArchiveCopy(head)
    if (source / ID_FILE).exists():
        result.files.append(_copy_file(source / ID_FILE, target / ID_FILE))
    store = FilesystemBlobStore(source)
    ledger = FileLedger(source / "ledger")
    seen: set[str] = set()
    copied_through = 0
    for _ in range(MAX_ROUNDS):
        wanted = _wanted_blobs(ledger, head)
        missing = []
        for sha256 in sorted(wanted - seen):
            copied = _copy_blob(store, sha256, target, result)
            if copied is None:
                missing.append(sha256)
            else:
                seen.add(sha256)
        copied_through = head.seq if head else 0
        if not missing:
            break
        grown = grow() if grow is not None else head
        if grown == head:
            raise ArchiveCopyError(
                f"{len(missing)} blobs named by the ledger of {source} are missing (first "
                f"{missing[0]}) and no tombstone up to seq {copied_through} removed them: run "
                "'commgate archive verify' on it")
        head = grown
    else:
        raise ArchiveCopyError(f"the archive at {source} kept removing blobs while it was copied "
                               f"({MAX_ROUNDS} rounds): run the backup again")
    result.head = head
    result.files.append(_copy_ledger(source / LEDGER_FILE, target / LEDGER_FILE, head))
    checkpoints = _copy_checkpoints(source / CHECKPOINTS_FILE, target / CHECKPOINTS_FILE,
                                    copied_through)
    if checkpoints is not None:
        result.files.append(checkpoints)
    for folder in {target, target / "ledger", target / "checkpoints", target / "blobs"}:
        if folder.is_dir():
            fsync_dir(folder)
    return result


def _refuse_non_empty(target: Path) -> None:
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ArchiveCopyError(f"{target} is not an empty folder: choose a new one")


def _wanted_blobs(ledger: FileLedger, head: LedgerHead | None) -> set[str]:
    """The blobs entries up to ``head`` name whose last mention is not a tombstone."""
    last_kind: dict[str, str] = {}
    if head is None:
        return set()
    last: LedgerEntry | None = None
    for entry in ledger.entries(0, head.seq):
        last_kind[entry.sha256] = entry.kind
        last = entry
    if last is None or (last.seq, last.entry_hash) != (head.seq, head.entry_hash):
        raise ArchiveCopyError(
            f"the ledger {ledger.path} does not have entry {head.seq} with hash "
            f"{head.entry_hash}: it was cut or rewritten; run 'commgate archive verify'")
    return {sha for sha, kind in last_kind.items() if kind != "tombstone"}


def _copy_blob(store: FilesystemBlobStore, sha256: str, target: Path,
               result: ArchiveCopy) -> CopiedFile | None:
    """Link (or copy) one blob; None when the source has none."""
    src = store.path_of(sha256)
    relative = src.relative_to(store.root)
    dst = target / relative
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
        result.linked += 1
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
            raise
        try:
            _copy_bytes(src, dst)
        except FileNotFoundError:
            return None
        result.copied += 1
    digest, size = _hash_file(dst)
    if digest != sha256:
        result.damaged.append(sha256)
    copied = CopiedFile(relative.as_posix(), digest, size)
    result.files.append(copied)
    return copied


def _copy_bytes(src: Path, dst: Path) -> None:
    """Copy, fsync, keep the mode (blobs are read-only)."""
    with open(src, "rb") as reader, open(dst, "xb") as writer:
        shutil.copyfileobj(reader, writer, 1 << 20)
        writer.flush()
        os.fsync(writer.fileno())
    shutil.copymode(src, dst)


def _copy_file(src: Path, dst: Path) -> CopiedFile:
    dst.parent.mkdir(parents=True, exist_ok=True)
    _copy_bytes(src, dst)
    digest, size = _hash_file(dst)
    return CopiedFile(dst.name, digest, size)


def _copy_ledger(src: Path, dst: Path, head: LedgerHead | None) -> CopiedFile:
    """The ledger's lines up to ``head``, byte for byte (it is a copy, never a link: the
    live ledger grows, and so will the restored one)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    with open(dst, "xb") as writer:
        for line in _lines_through(src, head.seq if head else 0):
            writer.write(line)
            digest.update(line)
            size += len(line)
        writer.flush()
        os.fsync(writer.fileno())
    shutil.copymode(src, dst)
    return CopiedFile(LEDGER_FILE.as_posix(), digest.hexdigest(), size)


def _lines_through(path: Path, seq: int) -> Iterator[bytes]:
    if seq == 0:
        return
    with open(path, "rb") as reader:
        for number, line in enumerate(reader, start=1):
            if not line.endswith(b"\n"):
                break
            yield line
            if number == seq:
                return
    raise ArchiveCopyError(f"the ledger {path} ended before seq {seq}")


def _copy_checkpoints(src: Path, dst: Path, tree_size: int) -> CopiedFile | None:
    """The checkpoints over at most ``tree_size`` entries (a later one would speak of entries
    the copy does not have, and verify would rightly call the ledger truncated)."""
    if not src.exists():
        return None
    dst.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    with open(src, "rb") as reader, open(dst, "xb") as writer:
        for line in reader:
            if not line.endswith(b"\n"):
                break  # a torn append, never acknowledged
            try:
                covered = int(json.loads(line)["tree_size"])
            except (ValueError, KeyError, TypeError):
                covered = 0  # damaged: kept, so verify of the copy names it as of the original
            if covered > tree_size:
                continue
            writer.write(line)
            digest.update(line)
            size += len(line)
        writer.flush()
        os.fsync(writer.fileno())
    return CopiedFile(CHECKPOINTS_FILE.as_posix(), digest.hexdigest(), size)


def _hash_file(path: Path) -> tuple[str, int]:
    with open(path, "rb") as reader:
        digest = hashlib.file_digest(reader, "sha256")
    return digest.hexdigest(), path.stat().st_size
