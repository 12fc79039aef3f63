"""``commgate backup DIR`` and ``commgate restore DIR``: a consistent copy of an installation
and its way back into a new home.

Why the database is copied *before* the ledger head is read: every writer appends a ledger
entry (and makes it durable) before it commits the database row that names it: intakes
archive then queue, the access log and outbound mail store then record (ARCHITECTURE
contract 1). So every row in a database snapshot names an entry that was in the ledger file
when the snapshot was taken, and a head read *after* the snapshot covers all of them. Read
first, rows committed between the read and the snapshot would name entries the copy lacks,
which ``archive verify`` rightly calls rows without a ledger entry. The other way round the
copy may hold entries that have no row yet (archived while the database was copied): a
restore queues those, as the daemon's catch-up does after a crash, so nothing archived before
the head is lost and the restored installation verifies intact.

A backup is complete once ``manifest.json`` is written, last: the ledger seq and head hash it
ends at, the database backend and schema revision, the commgate version, and the sha256 of
every file. A restore checks every file against it before it writes anything.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archive import LedgerHead, public_key_path
from archive.blobstore import fsync_dir
from archive.copy import ArchiveCopyError, copy_archive
from gateway.config import CONFIG_NAME, load_settings
from gateway.core.clock import utcnow
from gateway.core.errors import BackupError, ConfigError
from gateway.core.text import iso
from gateway.db.backup import (
    database_is_empty,
    dump_database,
    restore_database,
    sqlite_path,
)
from gateway.db.session import Database, code_revisions, migrate, schema_state
from gateway.services.base import View
from gateway.workflows.access_log import record_access

if TYPE_CHECKING:
    from gateway.core.context import Context
    from gateway.processing.context import WorkerContext

MANIFEST = "manifest.json"
FORMAT = "commgate-backup/1"
DATABASE_DIR = "database"
ARCHIVE_DIR = "archive"
PUBLIC_KEY = "checkpoint.pub"
# The moments of a backup a caller may act at (tests archive mail there, deterministically).
STEPS = ("database-copied", "head-read", "archive-copied")


@dataclass(frozen=True)
class BackupDone(View):
    """A finished backup: where, up to which ledger entry, how the blobs got there."""

    target: str
    manifest: dict[str, Any]
    linked: int
    copied: int
    damaged: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.damaged

    def lines(self) -> list[str]:
        ledger = self.manifest["ledger"]
        lines = [f"backup in {self.target}: ledger up to seq {ledger['seq']} (head "
                 f"{(ledger['head_hash'] or '-')[:16]}), {self.manifest['database']['backend']} "
                 f"database at schema revision {self.manifest['database']['revision']}, "
                 f"{self.linked} blobs hard-linked, {self.copied} copied"]
        if self.damaged:
            lines.append(f"commgate: error: {len(self.damaged)} blobs do not match their hash "
                         f"(first {self.damaged[0]}): run 'commgate archive verify'; they are "
                         "in the backup as found")
        return lines

    def to_json(self) -> dict[str, Any]:
        return {"target": self.target, "linked": self.linked, "copied": self.copied,
                "damaged": self.damaged, "manifest": self.manifest}


@dataclass(frozen=True)
class Restored(View):
    """A backup put back into a home: up to which entry, and the schema it now has."""

    home: str
    source: str
    seq: int
    head_hash: str | None
    backend: str
    revision: str | None
    upgraded_to: str | None  # the newest revision, when the backup's was older

    def lines(self) -> list[str]:
        upgraded = (f", upgraded from schema revision {self.revision} to {self.upgraded_to}"
                    if self.upgraded_to else "")
        return [f"restored {self.source} into {self.home}: ledger up to seq {self.seq}, "
                f"{self.backend} database{upgraded}; entries archived after this backup are "
                "not in it"]


# -- backup --------------------------------------------------------------------------------

def back_up(ctx: Context, *, actor: str, target: Path,
            on_step: Callable[[str], None] | None = None) -> BackupDone:
    """Copy the installation into ``target`` (absent or empty): database first, then the
    archive up to the ledger head read after it (why: this module's docstring)."""
    target = Path(target).resolve()
    archive_root = ctx.settings.archive_path.resolve()
    if target.is_relative_to(archive_root):
        raise BackupError(f"{target} is inside the archive folder {archive_root}: choose a "
                          "folder outside it")
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise BackupError(f"{target} is not an empty folder: choose a new one")
    state = schema_state(ctx.db.engine)
    if state.state in ("empty", "unknown"):
        what = ("has no commgate schema: nothing to back up" if state.state == "empty" else
                f"is at schema revision {state.current}, made by a newer commgate: back it up "
                "with that one")
        raise BackupError(f"the database {ctx.db.engine.url.render_as_string(hide_password=True)}"
                          f" {what}")
    step = on_step or (lambda _name: None)
    try:
        # A new folder is the owner's only: it holds every message (an existing empty one
        # keeps the mode its owner gave it).
        target.mkdir(mode=0o700, parents=True, exist_ok=True)
        (target / DATABASE_DIR).mkdir(exist_ok=True)
    except OSError as exc:
        raise BackupError(f"cannot create {target}: {exc.strerror}") from exc
    # Recorded first, so the backup holds the record of its own making. A database behind the
    # code (backed up before 'db upgrade', as the refusal asks) gets the ledger entry only:
    # its row follows at the first catch-up after the upgrade, or at the restore.
    record_access(ctx, actor, "backup", {"target": str(target)},
                  queue=state.state == "current")
    database = dump_database(ctx.db, target / DATABASE_DIR)
    step("database-copied")
    head = ctx.archive.head()
    step("head-read")
    try:
        copied = copy_archive(archive_root, target / ARCHIVE_DIR, head, grow=ctx.archive.head)
    except ArchiveCopyError as exc:
        raise BackupError(str(exc)) from exc
    step("archive-copied")
    files = [{"path": f"{ARCHIVE_DIR}/{f.path}", "sha256": f.sha256, "size": f.size}
             for f in copied.files]
    files.append(_file_entry(target, database.file))
    extra = [(ctx.settings.config_path, target / CONFIG_NAME)]
    key = ctx.settings.config.archive.checkpoint_key
    if key and public_key_path(ctx.settings.resolve(key)).exists():
        extra.append((public_key_path(ctx.settings.resolve(key)), target / PUBLIC_KEY))
    for source, destination in extra:
        shutil.copyfile(source, destination)
        files.append(_file_entry(target, destination))
    final = copied.head
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "created": iso(utcnow()),
        "created_by": actor,
        "commgate_version": _commgate_version(),
        "archive_id": _archive_id(archive_root),
        "ledger": {"seq": final.seq if final else 0,
                   "head_hash": final.entry_hash if final else None},
        "database": {"backend": database.backend, "revision": database.revision,
                     "file": database.file.relative_to(target).as_posix(),
                     "tool": database.tool_version},
        "checkpoint_public_key": PUBLIC_KEY if len(extra) > 1 else None,
        "files": sorted(files, key=lambda f: str(f["path"])),
    }
    if copied.damaged:
        manifest["damaged_blobs"] = copied.damaged
    _write_manifest(target, manifest)
    return BackupDone(str(target), manifest, copied.linked, copied.copied, copied.damaged)


def _file_entry(root: Path, path: Path) -> dict[str, Any]:
    with open(path, "rb") as reader:
        digest = hashlib.file_digest(reader, "sha256").hexdigest()
    return {"path": path.relative_to(root).as_posix(), "sha256": digest,
            "size": path.stat().st_size}


def _write_manifest(target: Path, manifest: dict[str, Any]) -> None:
    """Written last, fsynced, renamed into place: a folder without it is no backup."""
    partial = target / f".{MANIFEST}.partial"
    with open(partial, "w", encoding="utf-8") as writer:
        json.dump(manifest, writer, indent=1, ensure_ascii=False)
        writer.write("\n")
        writer.flush()
        os.fsync(writer.fileno())
    os.replace(partial, target / MANIFEST)
    fsync_dir(target)


def _commgate_version() -> str:
    try:
        return version("commgate")
    except PackageNotFoundError:  # a source tree that was never installed
        return "unknown"


def _archive_id(root: Path) -> str | None:
    from archive.identity import read_archive_id

    found = read_archive_id(root)
    return found.id if found else None


# -- restore -------------------------------------------------------------------------------

def restore_backup(home: Path, source: Path) -> Restored:
    """Put the backup in ``source`` into ``home``: its database must be empty or absent and
    its archive folder empty or absent (refused otherwise, before anything is written). A home
    without ``commgate.toml`` gets the backup's. A backup of an older schema is upgraded."""
    source = Path(source).resolve()
    manifest = read_manifest(source)
    _check_files(source, manifest)
    revision = manifest["database"]["revision"]
    if revision not in code_revisions()[1]:
        raise BackupError(f"the backup's database is at schema revision {revision}, which this "
                          f"commgate does not know: restore it with the commgate that made it "
                          f"({manifest['commgate_version']})")
    home = Path(home)
    config = home / CONFIG_NAME
    if not config.exists():
        home.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / CONFIG_NAME, config)
    settings = load_settings(home)
    archive_path = settings.archive_path
    if archive_path.exists() and (not archive_path.is_dir() or any(archive_path.iterdir())):
        raise BackupError(f"the archive folder {archive_path} is not empty: restore needs an "
                          "empty or absent one (move it away, or set archive.path)")
    url = settings.database_url()
    backend = manifest["database"]["backend"]
    if url.get_backend_name() != backend:
        raise ConfigError(f"the backup holds a {backend} database and {config} names a "
                          f"{url.get_backend_name()} one: set database.url to a {backend} "
                          "database")
    path = sqlite_path(url) if backend == "sqlite" else None
    db = Database.open(url, schema="unchecked")
    try:
        if not database_is_empty(db):
            raise BackupError(
                f"the database {url.render_as_string(hide_password=True)} is not empty: "
                "restore needs an empty one (drop and create it, or set database.url)")
        head = manifest["ledger"]
        try:
            copied = copy_archive(source / ARCHIVE_DIR, archive_path,
                                  LedgerHead(head["seq"], head["head_hash"]) if head["seq"]
                                  else None)
            _check_copied(manifest, copied.files)
            restore_database(db, source / manifest["database"]["file"], backend)
        except BaseException:
            # Both were empty: leave them so, and the same restore can simply be run again.
            db.engine.dispose()
            _empty(archive_path)
            if path is not None:
                path.unlink(missing_ok=True)
            raise
        upgraded = None
        newest = code_revisions()[0]
        if revision != newest:
            migrate(db.engine)
            upgraded = newest
    except ArchiveCopyError as exc:
        raise BackupError(str(exc)) from exc
    finally:
        db.close()
    return Restored(str(home), str(source), head["seq"], head["head_hash"], backend, revision,
                    upgraded)


def _empty(folder: Path) -> None:
    """Remove what a failed restore put into ``folder`` (found empty before it began)."""
    if folder.is_dir():
        for child in folder.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()


def read_manifest(source: Path) -> dict[str, Any]:
    path = source / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BackupError(f"{source} is not a finished commgate backup: it has no {MANIFEST} "
                          "(a backup writes it last)") from None
    except (OSError, ValueError) as exc:
        raise BackupError(f"cannot read {path}: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{path} is not a {FORMAT} manifest")
    return manifest


def _check_files(source: Path, manifest: dict[str, Any]) -> None:
    """Every file of the manifest is there with its hash, before anything is written."""
    for entry in manifest["files"]:
        path = source / entry["path"]
        try:
            with open(path, "rb") as reader:
                digest = hashlib.file_digest(reader, "sha256").hexdigest()
        except FileNotFoundError:
            raise BackupError(f"the backup {source} is damaged: {entry['path']} is "
                              "missing") from None
        if digest != entry["sha256"]:
            raise BackupError(f"the backup {source} is damaged: {entry['path']} does not "
                              "match the sha256 in its manifest")


def _check_copied(manifest: dict[str, Any], files: list[Any]) -> None:
    expected = {e["path"]: e["sha256"] for e in manifest["files"]
                if e["path"].startswith(f"{ARCHIVE_DIR}/")}
    found = {f"{ARCHIVE_DIR}/{f.path}": f.sha256 for f in files}
    if found != expected:
        differ = sorted(set(found.items()) ^ set(expected.items()))
        raise BackupError(f"the restored archive differs from the backup's manifest at "
                          f"{differ[0][0]}: the backup is damaged")


def queue_restored(ctx: WorkerContext) -> int:
    """Queue the restored ledger's entries that have no database row (archived while the
    database was being copied); the daemon files them at its start. The number queued."""
    return ctx.processor.catch_up()
