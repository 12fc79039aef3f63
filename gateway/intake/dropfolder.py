"""Drop-folder intake: a Maildir (``new/``) or a plain folder of ``.eml`` files.

A file is removed only after ``accept`` returned, i.e. after its bytes and ledger entry are
fsynced (ARCHITECTURE contract 1). Maildir ``new/`` files are complete by the Maildir protocol
(written in ``tmp/`` and renamed); in a plain folder a file is taken only once its size and
mtime have not changed for ``settle_seconds``, so a file still being copied in is left alone.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from archive import Receipt
from archive.blobstore import fsync_dir
from gateway.config import DropFolderConfig
from gateway.core.context import Context
from gateway.intake.aliases import alias_from_headers
from gateway.intake.handoff import Delivery, accept
from gateway.intake.sources import is_maildir

log = logging.getLogger(__name__)
_IGNORED_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".swp")
MAX_BATCH = 100


@dataclass
class _Seen:
    size: int
    mtime_ns: int
    since: float


@dataclass
class DropFolder:
    config: DropFolderConfig
    path: Path
    seen: dict[Path, _Seen] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"dropfolder:{self.path}"

    @property
    def watched_path(self) -> Path:
        return self.path / "new" if is_maildir(self.path) else self.path

    def ready_files(self, now: float | None = None) -> list[Path]:
        """Files that may be taken now (complete, not hidden, not temporary)."""
        now = time.monotonic() if now is None else now
        maildir = is_maildir(self.path)
        ready: list[Path] = []
        present: set[Path] = set()
        try:
            entries = sorted(os.scandir(self.watched_path), key=lambda e: e.name)
        except FileNotFoundError:
            return []
        for entry in entries:
            if entry.name.startswith(".") or entry.name.lower().endswith(_IGNORED_SUFFIXES):
                continue
            try:
                if not entry.is_file(follow_symlinks=False):
                    continue
                stat = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            path = Path(entry.path)
            present.add(path)
            if maildir:
                ready.append(path)
                continue
            previous = self.seen.get(path)
            if previous is None or (previous.size, previous.mtime_ns) != (stat.st_size,
                                                                         stat.st_mtime_ns):
                self.seen[path] = _Seen(stat.st_size, stat.st_mtime_ns, now)
            elif now - previous.since >= self.config.settle_seconds:
                ready.append(path)
        self.seen = {p: s for p, s in self.seen.items() if p in present}
        return ready

    def take(self, app: Context) -> int:
        """Archive the ready files in batches and remove each once durable; returns how many."""
        taken = 0
        files = self.ready_files()
        for start in range(0, len(files), MAX_BATCH):
            taken += self._take_batch(app, files[start:start + MAX_BATCH])
        return taken

    def _take_batch(self, app: Context, files: list[Path]) -> int:
        deliveries, sources = [], []
        aliases = app.settings.alias_addresses
        for path in files:
            try:
                raw = path.read_bytes()
            except OSError as exc:
                log.warning("%s: cannot read %s (%s); will retry", self.name, path, exc.strerror)
                continue
            alias = self.config.alias.lower() or alias_from_headers(
                raw, aliases, app.settings.default_alias)
            deliveries.append(Delivery(raw, Receipt(
                transport="dropfolder",
                envelope={"alias": alias, "folder": str(self.path), "file": path.name,
                          "node": app.settings.node_name})))
            sources.append(path)
        if not deliveries:
            return 0
        accept(app, deliveries)  # raises ArchiveWriteError: files stay, retried next scan
        for path in sources:
            path.unlink(missing_ok=True)
            self.seen.pop(path, None)
        fsync_dir(self.watched_path)
        return len(sources)

