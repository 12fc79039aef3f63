"""The archive's own commands: a raw message's bytes, integrity verification, checkpoints.

Viewing a raw message hands out mail as received, so :func:`show_raw` writes the access
record (who, which blob, why) before it reads a byte; a caller that wants those bytes for a
person (``commgate archive show``, a web page) comes here. ``Archive.read`` stays the archive
library's primitive for processing, which hands nothing to a person. Verifying and signing a
checkpoint hand out hashes only and are not recorded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from archive import Checkpoint, write_checkpoint
from gateway.core.errors import ConfigError, GatewayError
from gateway.evidence.integrity import describe, verify_installation
from gateway.services.base import View
from gateway.workflows.access_log import record_access
from gateway.workflows.retention import tombstone_of

if TYPE_CHECKING:
    from gateway.core.context import Context

_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class RawMessage(View):
    """The archived bytes of one blob, and the ledger seq of the record of this view."""

    sha256: str
    raw: bytes
    access_seq: int

    def to_json(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "size": len(self.raw), "access_seq": self.access_seq}


@dataclass(frozen=True)
class IntegrityReport(View):
    """What ``archive verify`` found; ``report`` is the JSON shape of ``--json``."""

    report: dict[str, Any]

    @property
    def ok(self) -> bool:
        return bool(self.report["ok"])

    def lines(self) -> list[str]:
        return describe(self.report)

    def to_json(self) -> dict[str, Any]:
        return self.report


@dataclass(frozen=True)
class SignedCheckpoint(View):
    checkpoint: Checkpoint

    def to_json(self) -> dict[str, Any]:
        return self.checkpoint.to_json()


def show_raw(ctx: Context, *, actor: str, sha256: str, reason: str = "") -> RawMessage:
    """Record the view in the access log, then read the blob. Purged content is refused
    with its tombstone (when, by whom, why), nothing being handed out."""
    digest = sha256.strip().lower()
    if not _SHA256.fullmatch(digest):
        raise GatewayError(f"not a sha256 digest: {sha256!r} (64 hex characters)")
    with ctx.db.session() as session:
        tombstone = tombstone_of(session, digest)
    if tombstone is not None:
        until = (f", retained until {tombstone['retain_until']}"
                 if tombstone["retain_until"] else "")
        raise GatewayError(
            f"{digest} was purged on {tombstone['at']} by {tombstone['actor'] or 'system'} "
            f"({tombstone['reason'] or 'no reason recorded'}{until}): its tombstone is ledger "
            f"entry seq {tombstone['seq']}; the message record stays ('commgate cases show')")
    access = record_access(ctx, actor, "view-raw", {"sha256": digest, "reason": reason})
    return RawMessage(digest, ctx.archive.read(digest), access.seq)


def verify_archive(ctx: Context, *, actor: str, since: int = 0) -> IntegrityReport:
    """Recompute every hash and compare the ledger with the database (hashes only: no
    record; ``actor`` is taken for the common shape of the services)."""
    del actor
    return IntegrityReport(verify_installation(ctx, since=since))


def sign_checkpoint(ctx: Context, *, actor: str) -> SignedCheckpoint:
    """Sign a Merkle tree head over the whole ledger with the configured key."""
    del actor
    key = ctx.settings.checkpoint_key_path()
    if key is None:
        raise ConfigError("archive.checkpoint_key is not set: create a key with "
                          "'commgate archive keygen PATH' and name it in commgate.toml")
    return SignedCheckpoint(write_checkpoint(ctx.archive, key))
