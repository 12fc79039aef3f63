"""The archive's state at a glance for an auditor: its size, its last signed checkpoint and its
last verify. Hashes and counts only, so nothing here is in the access log."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archive import load_checkpoints
from gateway.evidence.verify_record import last_verify
from gateway.services.base import View

if TYPE_CHECKING:
    from gateway.core.context import Context


@dataclasses.dataclass(frozen=True)
class ArchiveStatus(View):
    """``entries``: ledger entries (mail, access records, tombstones); ``ledger_bytes``: the
    ledger file's size (None when the ledger is not a file); ``last_checkpoint``: the newest
    signed tree head (None before the first); ``last_verify``: the record of the last
    ``archive verify`` (None when never verified); ``checkpoint_key``: whether one is set."""

    entries: int
    ledger_bytes: int | None
    checkpoints: int
    last_checkpoint: dict[str, Any] | None
    last_verify: dict[str, Any] | None
    checkpoint_key: bool

    @property
    def unchecked_entries(self) -> int:
        """Entries written since the last checkpoint (all of them before the first)."""
        covered = self.last_checkpoint["tree_size"] if self.last_checkpoint else 0
        return max(self.entries - int(covered), 0)


def archive_status(ctx: Context, *, actor: str) -> ArchiveStatus:
    """Ledger size, checkpoints and the last verify of ``ctx``'s archive."""
    del actor
    head = ctx.archive.ledger.head()
    path = getattr(ctx.archive.ledger, "path", None)
    size = path.stat().st_size if isinstance(path, Path) and path.exists() else None
    checkpoints = load_checkpoints(ctx.archive)
    last = checkpoints[-1].to_json() if checkpoints else None
    return ArchiveStatus(entries=head.seq if head else 0, ledger_bytes=size,
                         checkpoints=len(checkpoints), last_checkpoint=last,
                         last_verify=last_verify(ctx.settings.home),
                         checkpoint_key=bool(ctx.settings.config.archive.checkpoint_key))
