"""Retention and legal hold.

* Retention is fixed per message when it is filed: the most specific ``retention.rules`` entry
  for its alias and category (alias+category, then alias, then category, then
  ``default_days``). Later config changes apply to new mail only, and a message's retention can
  only ever be extended, never shortened.
* A legal hold covers a case, a customer (an address or a whole domain), an alias, or a search
  (every message the query matches *at expiry time*, so mail that arrives later is held too).
  Holds are released, never deleted, and a release needs a note saying why. A hold on a
  customer, alias or search that covers nothing when it is placed is refused: a typo in the
  address would otherwise hold nothing and say nothing (an alias of this installation may be
  held before its first mail).
* ``expire`` removes the content of messages past retention that no hold covers: it writes a
  tombstone ledger entry naming the blob (so the chain, and every proof over it, still
  verifies), then deletes the blob, blanks the snippet and drops the message from the search
  index. The message row (who, when, subject, case) stays as the record that something was
  received and disposed of. Bytes shared by two filings (same mail to two aliases) are removed
  only when every filing has expired unheld. Every purge, hold and release is in the access log.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import CursorResult, or_, select, update
from sqlalchemy.orm import Session

import gateway.db.events as events
from archive import Receipt
from gateway.core.clock import utcnow
from gateway.core.errors import HoldError as HoldError  # re-exported
from gateway.db.models import HOLD_SCOPES, Case, LedgerReceipt, LegalHold, Message
from gateway.processing.pipeline import queue_entries
from gateway.workflows.access_log import record_access
from gateway.workflows.search import (
    Filters,
    matching_messages,
    parse_query,
    unindex_messages,
)

if TYPE_CHECKING:
    from gateway.config import Settings
    from gateway.core.context import Context
    from gateway.processing.hooks import FiledMessage

_CHUNK = 500


def retention_days(settings: Settings, alias: str, category: str) -> int:
    rules = settings.config.retention.rules
    for want_alias, want_category in ((alias, category), (alias, ""), ("", category)):
        for rule in rules:
            if rule.alias == want_alias and rule.category == want_category:
                return rule.days
    return settings.config.retention.default_days


def on_filed(session: Session, settings: Settings, filed: Sequence[FiledMessage]) -> None:
    """Fix each new message's retention from the rules in force now."""
    now = utcnow()
    rows = [{"id": item.message_pk, "retain_until": now + timedelta(
        days=retention_days(settings, item.alias, item.classification.category))}
        for item in filed]
    if rows:
        session.execute(update(Message), rows)


def extend_retention(session: Session, case: Case, until: datetime, actor: str,
                     note: str) -> int:
    """Keep every message of a case at least until ``until`` (never shortens)."""
    # An UPDATE gives a CursorResult, though Session.execute is typed to give a Result.
    changed = cast(CursorResult[Any], session.execute(
        update(Message).where(Message.case_id == case.id, Message.purged_at.is_(None),
                              or_(Message.retain_until.is_(None),
                                  Message.retain_until < until))
        .values(retain_until=until))).rowcount
    events.record(session, case, "retention_extended",
                  {"until": until.isoformat(), "messages": changed, "note": note}, actor=actor)
    return changed


# -- holds -------------------------------------------------------------------------------------

def place_hold(app: Context, scope: str, value: str, reason: str, actor: str) -> LegalHold:
    if scope not in HOLD_SCOPES:
        raise HoldError(f"a hold covers one of {', '.join(HOLD_SCOPES)}, not {scope!r}")
    if not reason.strip():
        raise HoldError("a legal hold needs a reason (--reason)")
    value = value.strip() if scope == "search" else value.strip().lower()
    with app.db.session() as session:
        case = None
        if scope == "case":
            case = events.case_by_ref(session, value)
            value = case.ref
        else:
            _refuse_empty(app, session, scope, value)
        hold = LegalHold(scope=scope, value=value, reason=reason, created_by=actor,
                         created_at=utcnow())
        session.add(hold)
        session.flush()
        if case is not None:
            events.record(session, case, "legal_hold_placed",
                          {"hold": hold.id, "reason": reason}, actor=actor)
    record_access(app, actor, "hold", {"hold": hold.id, "scope": scope, "value": value,
                                        "reason": reason})
    return hold


def _refuse_empty(app: Context, session: Session, scope: str, value: str) -> None:
    """Refuse a customer, alias or search hold that covers no message now."""
    if scope == "search":
        parse_query(value)  # refuse a query that could never match anything
        if matching_messages(session, value, limit=1):
            return
        raise HoldError(f"not placed: the search {value!r} matches no archived message; check "
                        f"it with 'commgate search'")
    if scope == "alias":
        if value in app.settings.alias_addresses or session.scalar(
                select(Message.id).where(Message.alias == value).limit(1)) is not None:
            return
        raise HoldError(f"not placed: {value} is no alias of this installation and no message "
                        f"was filed for it (aliases: "
                        f"{', '.join(app.settings.alias_addresses) or 'none'})")
    if session.scalar(select(Case.id).where(
            or_(Case.customer == value, Case.customer_domain == value)).limit(1)) is None:
        raise HoldError(f"not placed: no case has the customer {value} (an address or a whole "
                        f"domain, as 'commgate cases list' shows it)")


def release_hold(app: Context, hold_id: int, actor: str, note: str = "") -> LegalHold:
    """Release an active hold; ``note`` (why) is required and kept in the access log."""
    if not note.strip():
        raise HoldError("a legal hold is released only with a note saying why (--note)")
    note = note.strip()
    with app.db.session() as session:
        hold = session.get(LegalHold, hold_id)
        if hold is None or hold.released_at is not None:
            raise HoldError(f"no active legal hold {hold_id}: see 'commgate hold list'")
        hold.released_by, hold.released_at = actor, utcnow()
        if hold.scope == "case":
            events.record(session, events.case_by_ref(session, hold.value),
                          "legal_hold_released", {"hold": hold.id, "note": note}, actor=actor)
    record_access(app, actor, "release", {"hold": hold_id, "note": note})
    return hold


def list_holds(session: Session, active_only: bool = True) -> list[dict[str, Any]]:
    query = select(LegalHold).order_by(LegalHold.id)
    if active_only:
        query = query.where(LegalHold.released_at.is_(None))
    return [_hold_json(h) for h in session.scalars(query)]


def _hold_json(h: LegalHold) -> dict[str, Any]:
    return {"id": h.id, "scope": h.scope, "value": h.value, "reason": h.reason,
            "created_by": h.created_by, "created_at": h.created_at.isoformat(),
            "released_by": h.released_by,
            "released_at": h.released_at.isoformat() if h.released_at else None}


def holds_covering(session: Session, cases: Sequence[Case]) -> dict[int, list[dict[str, Any]]]:
    """The active holds covering each case (by case id), by the very rule ``expire`` uses to
    spare a message: a hold covers a case when it covers any of its messages, and a case or
    customer hold covers its case even before it has mail. So a case page and an evidence
    package say what keeps the case's content, whatever the hold's scope."""
    covering: dict[int, list[dict[str, Any]]] = {case.id: [] for case in cases}
    holds = _active_holds(session)
    if not holds or not cases:
        return covering
    by_id = {case.id: case for case in cases}
    pairs = [(m, by_id[m.case_id]) for chunk in _in_chunks(list(by_id))
             for m in session.scalars(select(Message).where(Message.case_id.in_(chunk)))]
    # With one case, a search is narrowed to its messages instead of run over the archive.
    only = cases[0].ref if len(cases) == 1 else None
    for hold in holds:
        covered = {by_id[case_id] for case_id in _covering(session, hold, pairs, only)}
        if hold.scope in ("case", "customer"):
            covered |= {case for case in cases if hold.value in _hold_keys(hold.scope, None, case)}
        for case in covered:
            covering[case.id].append(_hold_json(hold))
    return covering


def _active_holds(session: Session) -> Sequence[LegalHold]:
    return session.scalars(select(LegalHold).where(LegalHold.released_at.is_(None))
                           .order_by(LegalHold.id)).all()


def _in_chunks(ids: list[int]) -> list[list[int]]:
    return [ids[start:start + _CHUNK] for start in range(0, len(ids), _CHUNK)]


def _held(session: Session, candidates: Sequence[tuple[Message, Case]]) -> set[int]:
    """Which of these messages an active hold covers."""
    held: set[int] = set()
    for hold in _active_holds(session):
        held |= _covered_messages(session, hold, candidates)
    return held


def _covering(session: Session, hold: LegalHold, candidates: Sequence[tuple[Message, Case]],
              case_ref: str | None = None) -> set[int]:
    """The ids of the cases of the candidate messages this hold covers."""
    covered = _covered_messages(session, hold, candidates, case_ref)
    return {case.id for message, case in candidates if message.id in covered}


def _covered_messages(session: Session, hold: LegalHold,
                      candidates: Sequence[tuple[Message, Case]],
                      case_ref: str | None = None) -> set[int]:
    """The one rule of what a hold covers: a search hold the messages its query matches, any
    other the messages whose case, customer or alias it names."""
    ids = {m.id for m, _ in candidates}
    if hold.scope == "search":
        return ids & matching_messages(session, hold.value, limit=10_000_000,
                                       filters=Filters(case_ref=case_ref) if case_ref else None)
    return {m.id for m, c in candidates if hold.value in _hold_keys(hold.scope, m, c)}


def _hold_keys(scope: str, message: Message | None, case: Case) -> tuple[str, ...]:
    """The values a hold of this scope would have to name to cover the message (``None``: the
    case itself, for the scopes that do not depend on a message)."""
    if scope == "case":
        return (case.ref,)
    if scope == "alias":
        return (message.alias,) if message is not None else ()
    return (case.customer, case.customer_domain)


# -- expiry ------------------------------------------------------------------------------------

@dataclass
class ExpiryReport:
    expired_messages: int = 0
    removed_blobs: int = 0
    held_messages: int = 0
    kept_shared: int = 0
    tombstones: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"expired_messages": self.expired_messages, "removed_blobs": self.removed_blobs,
                "held_messages": self.held_messages, "kept_shared": self.kept_shared,
                "tombstone_seqs": self.tombstones}


def expire(app: Context, actor: str = events.SYSTEM, now: datetime | None = None,
           dry_run: bool = False) -> ExpiryReport:
    """Remove the content of every message past retention that no hold covers."""
    now = now or utcnow()
    report = ExpiryReport()
    last = 0
    while True:
        with app.db.session() as session:
            due = session.execute(
                select(Message, Case).join(Case, Case.id == Message.case_id)
                .where(Message.id > last, Message.purged_at.is_(None),
                       Message.retain_until < now)
                .order_by(Message.id).limit(_CHUNK)).all()
            if not due:
                break
            last = due[-1][0].id
            held = _held(session, [(m, c) for m, c in due])
            report.held_messages += len(held)
            by_blob: dict[str, list[tuple[Message, Case]]] = defaultdict(list)
            for message, case in due:
                if message.id not in held:
                    by_blob[message.sha256].append((message, case))
            for sha256, filings in by_blob.items():
                if _still_needed(session, sha256, {m.id for m, _ in filings}, now, held):
                    report.kept_shared += len(filings)
                    continue
                report.expired_messages += len(filings)
                report.removed_blobs += 1
                if not dry_run:
                    report.tombstones.append(_purge(app, session, sha256, filings, actor, now))
    if not dry_run and report.removed_blobs:
        record_access(app, actor, "purge", report.to_dict())
    return report


def tombstone_of(session: Session, sha256: str) -> dict[str, Any] | None:
    """The tombstone that disposed of these bytes (None: they were never purged): its ledger
    seq, when, by whom, why and the retention that ran out. What a view of purged content
    shows instead of "missing"."""
    entry = session.scalars(select(LedgerReceipt).where(
        LedgerReceipt.kind == "tombstone", LedgerReceipt.sha256 == sha256)
        .order_by(LedgerReceipt.seq)).first()
    if entry is None:
        return None
    envelope = entry.envelope if isinstance(entry.envelope, dict) else {}
    return {"seq": entry.seq, "at": entry.received_at.isoformat(),
            "actor": envelope.get("actor", ""), "reason": envelope.get("reason", ""),
            "retain_until": envelope.get("retain_until"),
            "messages": envelope.get("messages", [])}


def _still_needed(session: Session, sha256: str, expiring: set[int], now: datetime,
                  held: set[int]) -> bool:
    """Another filing of the same bytes that is not expiring now (or is held) keeps them."""
    others = session.scalars(select(Message.id).where(
        Message.sha256 == sha256, Message.purged_at.is_(None),
        Message.id.not_in(expiring))).all()
    return bool(others) or bool(expiring & held)


def _purge(app: Context, session: Session, sha256: str, filings: list[tuple[Message, Case]],
           actor: str, now: datetime) -> int:
    envelope = {"reason": "retention", "actor": actor,
                "messages": [m.id for m, _ in filings],
                "retain_until": max(m.retain_until for m, _ in filings
                                    if m.retain_until).isoformat()}
    entry = app.archive.tombstone(sha256, Receipt(transport="retention", direction="internal",
                                                  envelope=envelope))
    queue_entries(session, [entry])
    for message, case in filings:
        message.purged_at, message.snippet = now, ""
        events.record(session, case, "message_purged",
                      {"sha256": sha256, "tombstone_seq": entry.seq,
                       "retain_until": message.retain_until.isoformat()
                       if message.retain_until else None},
                      actor=actor, message_pk=message.id)
    unindex_messages(session, [m.id for m, _ in filings])
    return entry.seq
