"""The customer property register (ISO 9001 8.5.3): items registered, confirmed, received,
moved and handed back, each change in the item's chain of custody with the actor
(gateway/workflows/property.py has the rules)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from gateway.core.errors import WorkflowError
from gateway.db.events import case_by_ref
from gateway.db.property import PROPERTY_KINDS, PROPERTY_STATUSES
from gateway.services.rows import Listing, RowView
from gateway.workflows import property as register

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from gateway.core.context import Context
    from gateway.db.property import PropertyItem

Row = Mapping[str, Any]
KINDS = PROPERTY_KINDS
STATUSES = PROPERTY_STATUSES
NEEDS_NOTE = register.NEEDS_NOTE  # statuses that need a note saying what happened


@dataclasses.dataclass(frozen=True)
class Item(RowView):
    """One line of the register."""

    id: int
    case: str | None
    kind: str
    description: str
    owner: str
    identifiers: Sequence[Row] | None
    status: str
    proposed: bool
    received_at: str | None
    condition: str
    location: str
    handling: str
    sha256: str | None
    filename: str | None
    source_message_pk: int | None
    created_at: str | None
    created_by: str
    updated_at: str | None


@dataclasses.dataclass(frozen=True)
class ItemDetail(Item):
    """An item with its chain of custody, oldest step first."""

    history: tuple[Row, ...]


def parse_identifiers(texts: Sequence[str]) -> list[dict[str, str]]:
    """Identifiers given as ``KIND=VALUE`` (serial=..., drawing=...), kinds in lower case."""
    result = []
    for text in texts:
        kind, sep, value = text.partition("=")
        if not sep or not kind.strip() or not value.strip():
            raise WorkflowError(f"not allowed because {text!r} is not an identifier: write "
                                f"KIND=VALUE")
        result.append({"kind": kind.strip().lower(), "value": value.strip()})
    return result


def _detail(session: Session, item: PropertyItem) -> ItemDetail:
    row = register.item_view(session, item, with_history=True)
    return ItemDetail.from_row(row, history=tuple(row["history"]))


def add_item(ctx: Context, *, actor: str, ref: str, kind: str, description: str, owner: str = "",
             identifiers: Sequence[str] = (), handling: str = "", attachment: str | None = None,
             condition: str = "", location: str = "") -> ItemDetail:
    """Register an item of the case's customer (``identifiers`` as ``KIND=VALUE``)."""
    parsed = parse_identifiers(identifiers)
    with ctx.db.session() as session:
        case = case_by_ref(session, ref, for_update=True)
        item = register.add_item(session, case, kind=kind, description=description,
                                 actor=actor, owner=owner, identifiers=parsed,
                                 handling=handling, attachment=attachment,
                                 condition=condition, location=location)
        return _detail(session, item)


def _change(ctx: Context, item_id: int, change: Callable[[Session, PropertyItem], Any]
            ) -> ItemDetail:
    with ctx.db.session() as session:
        item = register.item_by_id(session, item_id, for_update=True)
        change(session, item)
        return _detail(session, item)


def confirm_item(ctx: Context, *, actor: str, item_id: int, kind: str | None = None,
                 description: str | None = None, handling: str | None = None,
                 note: str = "") -> ItemDetail:
    """Confirm an item proposed from a property notice, optionally correcting it."""
    return _change(ctx, item_id, lambda session, item: register.confirm_item(
        session, item, actor, kind=kind, description=description, handling=handling,
        note=note))


def receive_item(ctx: Context, *, actor: str, item_id: int, condition: str, location: str,
                 handling: str | None = None, note: str = "") -> ItemDetail:
    return _change(ctx, item_id, lambda session, item: register.receive_item(
        session, item, condition=condition, location=location, actor=actor, note=note,
        handling=handling))


def set_status(ctx: Context, *, actor: str, item_id: int, status: str, note: str = "",
               location: str | None = None, destination: str = "",
               shipping_ref: str = "") -> ItemDetail:
    """Move an item along its chain of custody (loss or damage opens an incident review; a
    return needs its destination and shipping reference)."""
    return _change(ctx, item_id, lambda session, item: register.set_status(
        session, item, status, actor=actor, note=note, location=location,
        destination=destination, shipping_ref=shipping_ref))


def move_item(ctx: Context, *, actor: str, item_id: int, location: str, note: str = ""
              ) -> ItemDetail:
    return _change(ctx, item_id, lambda session, item: register.move_item(
        session, item, location=location, actor=actor, note=note))


def list_items(ctx: Context, *, actor: str, customer: str | None = None,
               include_dismissed: bool = False, status: str | None = None,
               queues: frozenset[str] | None = None) -> Listing[Item]:
    """The register, optionally of one owner (an address or a domain), of one status, and of
    the cases of ``queues`` (the aliases the reader may see; None: every one)."""
    del actor  # reading is not recorded
    with ctx.db.session() as session:
        return Listing(tuple(Item.from_row(row) for row in register.property_register(
            session, customer, include_dismissed=include_dismissed, status=status,
            aliases=queues)))


def next_statuses(status: str, proposed: bool) -> tuple[str, ...]:
    """The statuses ``set_status`` accepts for an item in ``status`` (proposed or confirmed);
    a receipt is ``receive_item``'s."""
    return register.next_statuses(status, proposed)


def show_item(ctx: Context, *, actor: str, item_id: int) -> ItemDetail:
    del actor
    with ctx.db.session() as session:
        return _detail(session, register.item_by_id(session, item_id))
