"""Legal holds, retention expiry and the access log itself (``commgate hold|retention|audit
log``). Placing or releasing a hold and purging content are recorded in the access log by the
workflow functions of ``gateway.workflows.retention`` themselves; reading the access log is not."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from gateway.services.base import View
from gateway.workflows.access_log import access_log
from gateway.workflows.retention import expire, list_holds, place_hold, release_hold

if TYPE_CHECKING:
    from gateway.core.context import Context


@dataclass(frozen=True)
class HoldPlaced(View):
    id: int
    scope: str
    value: str


@dataclass(frozen=True)
class HoldReleased(View):
    id: int
    released_by: str | None


@dataclass(frozen=True)
class Rows(View):
    """A listing whose ``--json`` is a list of objects (holds, the access log)."""

    rows: tuple[dict[str, Any], ...]

    def to_json(self) -> list[dict[str, Any]]:
        return [dict(row) for row in self.rows]


@dataclass(frozen=True)
class ExpiryResult(View):
    expired_messages: int
    removed_blobs: int
    held_messages: int
    kept_shared: int
    tombstone_seqs: tuple[int, ...]
    dry_run: bool

    def to_json(self) -> dict[str, Any]:
        return {"expired_messages": self.expired_messages, "removed_blobs": self.removed_blobs,
                "held_messages": self.held_messages, "kept_shared": self.kept_shared,
                "tombstone_seqs": list(self.tombstone_seqs)}


def place_legal_hold(ctx: Context, *, actor: str, scope: str, value: str,
                     reason: str) -> HoldPlaced:
    """Hold a case, customer, alias or search against expiry (recorded as ``hold``); refused
    when a customer, alias or search hold covers nothing (gateway.workflows.retention)."""
    hold = place_hold(ctx, scope, value, reason, actor)
    return HoldPlaced(hold.id, hold.scope, hold.value)


def release_legal_hold(ctx: Context, *, actor: str, hold_id: int, note: str) -> HoldReleased:
    """Release a hold with a note saying why; it stays on record (recorded as ``release``)."""
    hold = release_hold(ctx, hold_id, actor, note)
    return HoldReleased(hold.id, hold.released_by)


def legal_holds(ctx: Context, *, actor: str, include_released: bool = False) -> Rows:
    """The active holds (``include_released``: every hold ever placed)."""
    del actor
    with ctx.db.session() as session:
        return Rows(tuple(list_holds(session, active_only=not include_released)))


def expire_retention(ctx: Context, *, actor: str, now: datetime | None = None,
                     dry_run: bool = False) -> ExpiryResult:
    """Remove content past retention that no hold covers (a purge is recorded)."""
    report = expire(ctx, actor, now=now, dry_run=dry_run)
    return ExpiryResult(report.expired_messages, report.removed_blobs, report.held_messages,
                        report.kept_shared, tuple(report.tombstones), dry_run)


def audit_log(ctx: Context, *, actor: str, action: str | None = None) -> Rows:
    """Who searched, viewed, exported, held or purged what, oldest first."""
    del actor
    with ctx.db.session() as session:
        return Rows(tuple(access_log(ctx, session, action=action)))
