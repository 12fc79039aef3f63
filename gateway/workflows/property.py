"""The customer property register (ISO 9001 clause 8.5.3): what of the customer's we hold, whose
it is, when and in what condition it came, where it is kept and how to handle it, and its chain
of custody (announced → received → in use → returned | destroyed | lost/damaged).

Every change is a row in the append-only ``property_history`` and an event on the item's case.
A message classified as a property notice proposes an item (``proposed``) that staff confirm
or dismiss. Loss or damage is an incident: event ``property_incident`` plus a pending review of
kind ``property-incident`` (case ``review_required``), so the case cannot be closed or its order
accepted until someone records how it was handled and the report to the customer goes out
(clause 8.5.3 asks that the customer be told).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from gateway.core.clock import utcnow
from gateway.core.errors import WorkflowError
from gateway.core.text import iso
from gateway.db.events import SYSTEM, case_family, cases_by_id, record, surviving_case
from gateway.db.models import Case, Message
from gateway.db.property import PROPERTY_KINDS, PROPERTY_STATUSES, PropertyHistory, PropertyItem
from gateway.workflows.reviews import open_review

if TYPE_CHECKING:
    from gateway.config import Settings
    from gateway.processing.hooks import FiledMessage

# Where an item may go from each status. "received" from announced goes through
# receive_item (condition and location are required there).
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "announced": ("lost-damaged", "dismissed"),
    "received": ("in-use", "returned", "destroyed", "lost-damaged"),
    "in-use": ("received", "returned", "destroyed", "lost-damaged"),
    "lost-damaged": ("received", "in-use", "returned", "destroyed"),
    "returned": (),
    "destroyed": (),
    "dismissed": (),
}
NEEDS_NOTE = ("destroyed", "lost-damaged", "dismissed")
DIGITAL_KINDS = ("drawing", "data")
_STATUS_ALIASES = {"in use": "in-use", "in_use": "in-use", "lost": "lost-damaged",
                   "damaged": "lost-damaged", "lost/damaged": "lost-damaged",
                   "lost-or-damaged": "lost-damaged"}
_HEX = re.compile(r"^[0-9a-f]{8,64}$")
# Identifiers worth keeping on an item (an order number says which order it belongs to).
_ITEM_IDENTIFIERS = ("serial", "drawing", "rma", "po")
_IN_CHUNK = 5000


def next_statuses(status: str, proposed: bool) -> tuple[str, ...]:
    """Where :func:`set_status` lets an item in ``status`` go: a proposal only to dismissed,
    a confirmed item anywhere its status allows but dismissed (a receipt is
    :func:`receive_item`'s, so "received" from announced is not among them)."""
    if proposed:
        return tuple(s for s in TRANSITIONS[status] if s == "dismissed")
    return tuple(s for s in TRANSITIONS[status] if s != "dismissed")


def normalise_status(text: str) -> str:
    status = _STATUS_ALIASES.get(text.strip().lower(), text.strip().lower())
    if status not in PROPERTY_STATUSES:
        raise WorkflowError(f"not allowed because {text!r} is not a property status: use one of "
                            f"{', '.join(PROPERTY_STATUSES)}")
    return status


def normalise_kind(text: str) -> str:
    kind = text.strip().lower().replace("_", "-").replace(" ", "-")
    kind = {"physical": "physical-item", "item": "physical-item", "samples": "sample",
            "drawings": "drawing"}.get(kind, kind)
    if kind not in PROPERTY_KINDS:
        raise WorkflowError(f"not allowed because {text!r} is not a property kind: use one of "
                            f"{', '.join(PROPERTY_KINDS)}")
    return kind


# -- changing the register --------------------------------------------------------------------

def add_item(session: Session, case: Case, *, kind: str, description: str, actor: str,
             owner: str = "", identifiers: Sequence[dict[str, str]] = (), handling: str = "",
             attachment: str | None = None, condition: str = "", location: str = ""
             ) -> PropertyItem:
    """Register an item staff were told about (status ``announced``), or a drawing/data file the
    customer sent as an attachment of a message in this case (``received`` with its sha256)."""
    kind = normalise_kind(kind)
    if not description.strip():
        raise WorkflowError("not allowed because a property item needs a description "
                            "(--description)")
    now = utcnow()
    item = PropertyItem(case_id=case.id, kind=kind, description=description.strip(),
                        owner=(owner or case.customer).strip(), identifiers=list(identifiers),
                        status="announced", proposed=False, handling=handling.strip(),
                        condition="", location="", filename="", created_at=now,
                        created_by=actor, updated_at=now)
    if attachment:
        if kind not in DIGITAL_KINDS:
            raise WorkflowError(f"not allowed because only {' or '.join(DIGITAL_KINDS)} can be "
                                f"registered from an attachment, not {kind}")
        message, found = _attachment(session, case, attachment)
        item.sha256, item.filename, item.source_message_pk = (
            found["sha256"], found.get("filename", ""), message.id)
        item.status, item.received_at = "received", message.filed_at
        item.condition = condition.strip() or "digital copy as received, sha256 recorded"
        item.location = location.strip() or f"commgate archive, ledger seq {message.first_seq}"
    session.add(item)
    session.flush()
    _history(session, item, actor, "registered", None, item.status, "",
             {"sha256": item.sha256, "filename": item.filename,
              "message_pk": item.source_message_pk} if attachment else {})
    record(session, case, "property_registered", _event_data(item),
           actor=actor, message_pk=item.source_message_pk)
    return item


def confirm_item(session: Session, item: PropertyItem, actor: str, *, kind: str | None = None,
                 description: str | None = None, handling: str | None = None,
                 note: str = "") -> PropertyItem:
    """Staff confirm an item proposed from a property notice (optionally correcting it)."""
    if not item.proposed:
        raise WorkflowError(f"not allowed because property item {item.id} is not a proposal "
                            f"(it is confirmed)")
    if item.status == "dismissed":
        raise WorkflowError(f"not allowed because property item {item.id} was dismissed")
    item.proposed = False
    item.kind = normalise_kind(kind) if kind else item.kind
    item.description = description.strip() if description else item.description
    item.handling = handling.strip() if handling is not None else item.handling
    item.updated_at = utcnow()
    _history(session, item, actor, "confirmed", item.status, item.status, note,
             {"kind": item.kind, "description": item.description})
    record(session, _case_of(session, item), "property_confirmed", _event_data(item, note),
           actor=actor)
    return item


def receive_item(session: Session, item: PropertyItem, *, condition: str, location: str,
                 actor: str, note: str = "", handling: str | None = None,
                 at: datetime | None = None) -> PropertyItem:
    """Record that an announced item arrived: when, in what condition, where it is kept."""
    if item.proposed:
        raise WorkflowError(f"not allowed because property item {item.id} is only proposed: "
                            f"confirm it first ('commgate property confirm {item.id}')")
    if item.status != "announced":
        raise WorkflowError(f"not allowed because property item {item.id} is {item.status}, not "
                            f"announced: it cannot be received again")
    if not condition.strip() or not location.strip():
        raise WorkflowError("not allowed because receiving an item needs its condition on receipt "
                            "(--condition) and where it is kept (--location)")
    item.condition, item.location = condition.strip(), location.strip()
    item.handling = handling.strip() if handling is not None else item.handling
    item.received_at = at or utcnow()
    return _change(session, item, "received", actor, note, "property_received")


def set_status(session: Session, item: PropertyItem, status: str, *, actor: str,
               note: str = "", location: str | None = None, destination: str = "",
               shipping_ref: str = "") -> PropertyItem:
    """Move an item along its chain of custody; loss or damage opens an incident review.
    A return needs where it went and the shipment's reference (the proof it left our care);
    the item's place is then that destination, no longer the store it was taken from."""
    status = normalise_status(status)
    if item.status == "announced" and status == "received":
        raise WorkflowError(f"not allowed because a receipt needs condition and location: use "
                            f"'commgate property receive {item.id} --condition ... --location ...'")
    if status not in TRANSITIONS[item.status]:
        allowed = ", ".join(TRANSITIONS[item.status]) or "none (final)"
        raise WorkflowError(f"not allowed because property item {item.id} cannot go from "
                            f"{item.status} to {status} (allowed: {allowed})")
    if status == "dismissed" and not item.proposed:
        raise WorkflowError(f"not allowed because only a proposed item can be dismissed; item "
                            f"{item.id} is confirmed (use destroyed, returned or lost-damaged)")
    if status in NEEDS_NOTE and not note.strip():
        raise WorkflowError(f"not allowed because setting an item to {status} needs a note "
                            f"saying what happened")
    if item.proposed and status != "dismissed":
        raise WorkflowError(f"not allowed because property item {item.id} is only proposed: "
                            f"confirm it first")
    extra: dict[str, Any] = {}
    if status == "returned":
        destination, shipping_ref = " ".join(destination.split()), " ".join(
            shipping_ref.split())
        if not destination or not shipping_ref:
            raise WorkflowError(f"not allowed because returning property item {item.id} needs "
                                f"where it went (--destination) and the shipment's reference "
                                f"(--shipping-ref)")
        extra = {"from_location": item.location, "destination": destination,
                 "shipping_ref": shipping_ref}
        location = f"returned to {destination} (shipment {shipping_ref})"
    if location is not None and location.strip():
        item.location = location.strip()
    _change(session, item, status, actor, note, "property_status_changed", extra)
    if status == "lost-damaged":
        _open_incident(session, item, actor, note)
    return item


def move_item(session: Session, item: PropertyItem, *, location: str, actor: str,
              note: str = "") -> PropertyItem:
    """Record a new storage place without a status change (custody: where it is kept)."""
    if not location.strip():
        raise WorkflowError("not allowed because a move needs the new location (--location)")
    if item.status in ("announced", "returned", "destroyed", "dismissed"):
        raise WorkflowError(f"not allowed because property item {item.id} is {item.status}: it "
                            f"is not in our care")
    before, item.location, item.updated_at = item.location, location.strip(), utcnow()
    _history(session, item, actor, "moved", item.status, item.status, note,
             {"from_location": before, "to_location": item.location})
    record(session, _case_of(session, item), "property_moved",
           {"item_id": item.id, "from_location": before, "to_location": item.location,
            "note": note}, actor=actor)
    return item


def _change(session: Session, item: PropertyItem, status: str, actor: str, note: str,
            event: str, extra: dict[str, Any] | None = None) -> PropertyItem:
    before, item.status, item.updated_at = item.status, status, utcnow()
    data = {"condition": item.condition, "location": item.location,
            "received_at": iso(item.received_at)} if status == "received" else {
                "location": item.location, **(extra or {})}
    _history(session, item, actor, "status", before, status, note, data)
    record(session, _case_of(session, item), event,
           {"item_id": item.id, "description": item.description, "from": before, "to": status,
            "note": note, **data}, actor=actor)
    return item


def _case_of(session: Session, item: PropertyItem) -> Case:
    """Where an action on the item is recorded: its case, or the case that one was merged
    into (staff work the survivor; the item keeps its case so an unmerge takes it back)."""
    case = session.get(Case, item.case_id)
    assert case is not None  # a foreign key
    return surviving_case(session, case)


def _open_incident(session: Session, item: PropertyItem, actor: str, note: str) -> None:
    case = _case_of(session, item)
    review = open_review(session, case, "property-incident", actor=actor,
                         summary=f"{item.kind} {item.id} ({item.description}) lost or damaged: "
                                 f"{note}", evidence={"item_id": item.id, "note": note},
                         property_item_id=item.id)
    record(session, case, "property_incident",
           {"item_id": item.id, "description": item.description, "note": note,
            "review_id": review.id}, actor=actor)


def _history(session: Session, item: PropertyItem, actor: str, action: str,
             before: str | None, after: str, note: str, data: dict[str, Any]) -> None:
    session.add(_history_row(item, actor, action, before, after, note, data))
    session.flush()


def _history_row(item: PropertyItem, actor: str, action: str, before: str | None, after: str,
                 note: str, data: dict[str, Any]) -> PropertyHistory:
    return PropertyHistory(item_id=item.id, at=utcnow(), actor=actor, action=action,
                           from_status=before, to_status=after, note=note, data=data)


def _attachment(session: Session, case: Case, wanted: str) -> tuple[Message, dict[str, Any]]:
    digest = wanted.strip().lower()
    if not _HEX.match(digest):
        raise WorkflowError(f"not allowed because {wanted!r} is not a sha256 (64 hex digits, or "
                            f"at least 8 of them)")
    found = [(m, a) for m in case.messages for a in m.attachments or []
             if str(a.get("sha256", "")).startswith(digest)]
    if not {a["sha256"] for _, a in found}:
        raise WorkflowError(f"not allowed because there is no attachment {digest} in case "
                            f"{case.ref} "
                            f"('commgate cases show {case.ref}' lists them)")
    if len({a["sha256"] for _, a in found}) > 1:
        raise WorkflowError(f"not allowed because {digest} matches several attachments of "
                            f"{case.ref}: give more digits")
    return found[0]


# -- after filing -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Notice:
    """A customer's message read as a property notice: what an item is proposed from (by the
    pipeline's classification, or by a person who reclassified the case as property)."""

    case: Case
    message_pk: int
    subject: str
    sender: str
    identifiers: tuple[tuple[str, str], ...]  # (kind, value) as the classifier found them
    rules: tuple[str, ...]  # the rule ids that made it property


def on_filed(session: Session, settings: Settings, filed: Sequence[FiledMessage]) -> None:
    """A customer's property notice proposes an item for staff to confirm.

    Per batch: one query for the cases, and :func:`propose_items` (one query for the items
    already proposed, one flush for the new items' ids)."""
    entries = [entry for entry in filed if entry.direction != "outbound"
               and entry.classification.category == "property"]
    if not entries:
        return
    cases = cases_by_id(session, (entry.case_id for entry in entries))
    propose_items(session, [Notice(
        case=cases[entry.case_id], message_pk=entry.message_pk, subject=entry.parsed.subject,
        sender=entry.parsed.from_addr,
        identifiers=tuple((i.kind, i.value) for i in entry.classification.identifiers),
        rules=tuple(sorted({e.rule_id for e in entry.classification.evidence})))
        for entry in entries if entry.case_id in cases], actor=SYSTEM)


def propose_items(session: Session, notices: Sequence[Notice], *, actor: str,
                  again_after_dismissal: bool = False) -> list[PropertyItem]:
    """Propose one item per notice (status ``announced``, ``proposed``) for staff to confirm,
    with its history row and a ``property_proposed`` event naming ``actor``. A message that
    already proposed an item proposes none again (reprocessing), unless that item was
    dismissed and ``again_after_dismissal`` (a person says it is property after all)."""
    if not notices:
        return []
    query = select(PropertyItem.source_message_pk).where(
        PropertyItem.source_message_pk.in_([n.message_pk for n in notices]))
    if again_after_dismissal:
        query = query.where(PropertyItem.status != "dismissed")
    proposed = set(session.scalars(query))
    new = [(notice, _proposed_item(notice, actor)) for notice in notices
           if notice.message_pk not in proposed]
    if not new:
        return []
    session.add_all([item for _, item in new])
    session.flush()
    for notice, item in new:
        session.add(_history_row(item, actor, "proposed", None, "announced", "",
                                 {"message_pk": notice.message_pk}))
        record(session, notice.case, "property_proposed",
               _event_data(item) | {"rules": list(notice.rules)},
               actor=actor, message_pk=notice.message_pk)
    return [item for _, item in new]


def _proposed_item(notice: Notice, actor: str) -> PropertyItem:
    identifiers = [{"kind": kind, "value": value} for kind, value in notice.identifiers
                   if kind in _ITEM_IDENTIFIERS]
    now = utcnow()
    return PropertyItem(case_id=notice.case.id, kind="physical-item",
                        description=(notice.subject or "property notice")[:1000],
                        owner=notice.case.customer or notice.sender,
                        identifiers=identifiers, status="announced", proposed=True,
                        condition="", location="", handling="", filename="",
                        source_message_pk=notice.message_pk, created_at=now,
                        created_by=actor, updated_at=now)


# -- read models ------------------------------------------------------------------------------

def item_by_id(session: Session, item_id: int, *, for_update: bool = False) -> PropertyItem:
    query = select(PropertyItem).where(PropertyItem.id == item_id)
    item = session.scalars(query.with_for_update() if for_update else query).one_or_none()
    if item is None:
        raise WorkflowError(f"not allowed because there is no property item {item_id}: "
                            f"'commgate property list' shows them")
    return item


def history(session: Session, item: PropertyItem) -> list[dict[str, Any]]:
    return [{"at": iso(h.at), "actor": h.actor, "claimed_as": h.claimed_as, "action": h.action,
             "from": h.from_status,
             "to": h.to_status, "note": h.note, "data": h.data}
            for h in session.scalars(select(PropertyHistory).where(
                PropertyHistory.item_id == item.id).order_by(PropertyHistory.id))]


def item_view(session: Session, item: PropertyItem, *, with_history: bool = False
              ) -> dict[str, Any]:
    case = session.get(Case, item.case_id)
    view = {
        "id": item.id, "case": case.ref if case else None, "kind": item.kind,
        "description": item.description, "owner": item.owner, "identifiers": item.identifiers,
        "status": item.status, "proposed": item.proposed, "received_at": iso(item.received_at),
        "condition": item.condition, "location": item.location, "handling": item.handling,
        "sha256": item.sha256, "filename": item.filename,
        "source_message_pk": item.source_message_pk, "created_at": iso(item.created_at),
        "created_by": item.created_by, "updated_at": iso(item.updated_at),
    }
    if with_history:
        view["history"] = history(session, item)
    return view


def property_register(session: Session, customer: str | None = None, *,
                      include_dismissed: bool = False, with_history: bool = False,
                      status: str | None = None, aliases: Collection[str] | None = None
                      ) -> list[dict[str, Any]]:
    """The register: every item (optionally of one customer: an address or a domain; of one
    status; of the cases of some queues, ``aliases``: a web reader's rights)."""
    query = select(PropertyItem).order_by(PropertyItem.id)
    if status is not None:
        query = query.where(PropertyItem.status == normalise_status(status))
    if aliases is not None:
        query = query.join(Case, Case.id == PropertyItem.case_id).where(
            Case.alias.in_(sorted(aliases)))
    if customer:
        wanted = customer.strip().lower()
        owner = func.lower(PropertyItem.owner)
        query = query.where(or_(owner == wanted, owner.like(f"%@{wanted}")))
    if not include_dismissed and status is None:
        query = query.where(PropertyItem.status != "dismissed")
    return [item_view(session, i, with_history=with_history) for i in session.scalars(query)]


def details_for_case(session: Session, case: Case) -> dict[str, Any]:
    """The property items of the case and of the cases merged into it, with their chain of
    custody (for ``cases show``); each item names the case it was registered on."""
    items = session.scalars(select(PropertyItem).where(
        PropertyItem.case_id.in_(case_family(session, case))).order_by(PropertyItem.id))
    return {"property": [item_view(session, i, with_history=True) for i in items]}


def details_for_cases(session: Session, cases: Sequence[Case]) -> dict[int, list[dict[str, Any]]]:
    """The items registered on each case (case id -> items), as ``details_for_case`` shows
    them: one query for the items and one for their histories, however many cases (evidence
    export). Unlike ``details_for_case`` not over merge families: an export holding a case and
    the case merged into it would list the merged case's items twice."""
    wanted = {case.id: case.ref for case in cases}
    found: dict[int, list[dict[str, Any]]] = {case_id: [] for case_id in wanted}
    if not wanted:
        return found
    case_ids = sorted(wanted)
    items: list[PropertyItem] = []
    for start in range(0, len(case_ids), _IN_CHUNK):  # bound the IN list (SQLite limits it)
        items += session.scalars(select(PropertyItem).where(
            PropertyItem.case_id.in_(case_ids[start:start + _IN_CHUNK])))
    items.sort(key=lambda item: item.id)
    steps: dict[int, list[dict[str, Any]]] = {item.id: [] for item in items}
    item_ids = sorted(steps)
    rows: list[PropertyHistory] = []
    for start in range(0, len(item_ids), _IN_CHUNK):
        rows += session.scalars(select(PropertyHistory).where(
            PropertyHistory.item_id.in_(item_ids[start:start + _IN_CHUNK])))
    rows.sort(key=lambda h: h.id)
    for h in rows:
        steps[h.item_id].append({"at": iso(h.at), "actor": h.actor,
                                 "claimed_as": h.claimed_as, "action": h.action,
                                 "from": h.from_status, "to": h.to_status, "note": h.note,
                                 "data": h.data})
    for item in items:
        view = {
            "id": item.id, "case": wanted[item.case_id], "kind": item.kind,
            "description": item.description, "owner": item.owner,
            "identifiers": item.identifiers, "status": item.status, "proposed": item.proposed,
            "received_at": iso(item.received_at), "condition": item.condition,
            "location": item.location, "handling": item.handling, "sha256": item.sha256,
            "filename": item.filename, "source_message_pk": item.source_message_pk,
            "created_at": iso(item.created_at), "created_by": item.created_by,
            "updated_at": iso(item.updated_at), "history": steps[item.id],
        }
        found[item.case_id].append(view)
    return found


def _event_data(item: PropertyItem, note: str = "") -> dict[str, Any]:
    return {"item_id": item.id, "kind": item.kind, "description": item.description,
            "owner": item.owner, "identifiers": item.identifiers, "status": item.status,
            "proposed": item.proposed, "sha256": item.sha256, "filename": item.filename,
            "condition": item.condition, "location": item.location,
            "handling": item.handling, "note": note}
