"""The customer property register (gateway/workflows/property.py) on real databases: proposals
from property notices, the chain of custody, attachments registered by sha256, incidents."""

from __future__ import annotations

import hashlib
from email.message import EmailMessage

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from gateway.core.errors import WorkflowError
from gateway.db.events import case_by_ref
from gateway.db.models import Case, CaseEvent
from gateway.db.property import PROPERTY_STATUSES, PropertyHistory, PropertyItem
from gateway.processing.ingest import ingest
from gateway.workflows.property import (
    add_item,
    confirm_item,
    details_for_case,
    move_item,
    next_statuses,
    normalise_status,
    property_register,
    receive_item,
    set_status,
)
from gateway.workflows.reviews import pending_review
from tests.support.mail import make_message, write_messages

NOTICE = dict(subject="Test fixture for order 4500871234", message_id="<fx@customer.example>",
              body="Hello,\nwe are sending our test fixture serial no. FX-2291 for the pump "
                   "housings by courier. It should arrive on Tuesday. Please handle with care."
                   "\n\nRegards\nAnna")
DRAWING = b"%PDF-1.4\n% drawing D-4471 rev C\n" + bytes(range(256)) * 4


def drawing_message(sender="anna@customer.example") -> bytes:
    mail = EmailMessage()
    mail["From"], mail["To"] = sender, "sales@northpoint.example"
    mail["Subject"], mail["Message-ID"] = "Drawing D-4471 rev C", "<dwg@customer.example>"
    mail["Date"] = "Mon, 23 Nov 2026 10:00:00 +0100"
    mail.set_content("Hello,\nattached is drawing D-4471 rev C for the housings.\n\nAnna")
    mail.add_attachment(DRAWING, maintype="application", subtype="pdf",
                        filename="D-4471-C.pdf")
    return bytes(mail)


def file(app, tmp_path, *raws, folder="in"):
    ingest(app, write_messages(tmp_path / folder, list(raws)))


def events(session, kind):
    return session.scalars(select(CaseEvent).where(CaseEvent.kind == kind)
                           .order_by(CaseEvent.id)).all()


def test_a_property_notice_proposes_an_announced_item_with_its_identifiers(app, tmp_path):
    file(app, tmp_path, make_message(**NOTICE))
    with app.db.session() as session:
        (item,) = session.scalars(select(PropertyItem)).all()
        assert (item.status, item.proposed, item.owner) == (
            "announced", True, "anna@customer.example")
        assert {"kind": "serial", "value": "FX-2291"} in item.identifiers
        (proposed,) = events(session, "property_proposed")
        assert proposed.message_pk == item.source_message_pk
        assert proposed.actor == "system"


def test_an_enquiry_proposes_nothing(app, tmp_path):
    file(app, tmp_path, make_message())
    with app.db.session() as session:
        assert session.scalars(select(PropertyItem)).all() == []


def test_the_chain_of_custody_from_announced_to_returned(app, tmp_path):
    file(app, tmp_path, make_message(**NOTICE))
    with app.db.session() as session:
        item = session.scalars(select(PropertyItem)).one()
        with pytest.raises(WorkflowError, match="only proposed: confirm it first"):
            receive_item(session, item, condition="good", location="B3", actor="stores")
        confirm_item(session, item, "sales", kind="tooling")
        with pytest.raises(WorkflowError, match="property receive 1"):
            set_status(session, item, "received", actor="stores")
        with pytest.raises(WorkflowError, match="condition on receipt"):
            receive_item(session, item, condition=" ", location="B3", actor="stores")
        receive_item(session, item, condition="good, sealed crate", location="Rack B3",
                     actor="stores", handling="keep dry")
        set_status(session, item, "in use", actor="test.bay", location="Test bay 2")
        move_item(session, item, location="Rack B4", actor="stores", note="bay cleared")
        with pytest.raises(WorkflowError, match="needs where it went"):
            set_status(session, item, "returned", actor="shipping", destination="Anna")
        set_status(session, item, "returned", actor="shipping", destination="Anna, dock 2",
                   shipping_ref="DHL 1234")
        with pytest.raises(WorkflowError, match="allowed: none"):
            set_status(session, item, "in-use", actor="x")
        steps = session.scalars(select(PropertyHistory).where(
            PropertyHistory.item_id == item.id).order_by(PropertyHistory.id)).all()
        assert [(s.actor, s.action, s.from_status, s.to_status) for s in steps] == [
            ("system", "proposed", None, "announced"),
            ("sales", "confirmed", "announced", "announced"),
            ("stores", "status", "announced", "received"),
            ("test.bay", "status", "received", "in-use"),
            ("stores", "moved", "in-use", "in-use"),
            ("shipping", "status", "in-use", "returned"),
        ]
        assert steps[2].data["condition"] == "good, sealed crate"
        changes = events(session, "property_status_changed")
        assert [(e.data["from"], e.data["to"]) for e in changes] == [
            ("received", "in-use"), ("in-use", "returned")]
        assert events(session, "property_received")[0].data["location"] == "Rack B3"
        view = details_for_case(session, case_by_ref(session, "NPC-000001"))["property"][0]
        assert (view["status"], view["handling"], view["location"]) == (
            "returned", "keep dry", "returned to Anna, dock 2 (shipment DHL 1234)")
        assert changes[-1].data["from_location"] == "Rack B4"
        assert changes[-1].data["shipping_ref"] == "DHL 1234"
        assert len(view["history"]) == 6


def test_the_history_table_is_append_only(app, tmp_path):
    file(app, tmp_path, make_message(**NOTICE))
    for statement in ("UPDATE property_history SET actor = 'mallory'",
                      "DELETE FROM property_history"):
        with pytest.raises(DBAPIError, match="append-only"), app.db.session() as session:
            session.execute(text(statement))
    with app.db.session() as session:
        assert session.scalars(select(PropertyHistory.actor)).all() == ["system"]


def test_only_a_proposal_can_be_dismissed_and_the_register_leaves_it_out(app, tmp_path):
    file(app, tmp_path, make_message(**NOTICE))
    with app.db.session() as session:
        item = session.scalars(select(PropertyItem)).one()
        with pytest.raises(WorkflowError, match="needs a note"):
            set_status(session, item, "dismissed", actor="sales")
        set_status(session, item, "dismissed", actor="sales", note="only a shipping note")
        assert property_register(session) == []
        assert property_register(session, include_dismissed=True)[0]["status"] == "dismissed"
        case = case_by_ref(session, "NPC-000001")
        confirmed = add_item(session, case, kind="sample", description="3 castings",
                             actor="sales")
        with pytest.raises(WorkflowError, match="only a proposed item"):
            set_status(session, confirmed, "dismissed", actor="sales", note="x")


def test_a_drawing_attachment_is_registered_with_its_sha256(app, tmp_path):
    file(app, tmp_path, drawing_message())
    with app.db.session() as session:
        case = case_by_ref(session, "NPC-000001")
        digest = hashlib.sha256(DRAWING).hexdigest()
        item = add_item(session, case, kind="drawing", description="D-4471 rev C",
                        actor="engineering", attachment=digest[:12],
                        identifiers=[{"kind": "drawing", "value": "D-4471"}])
        assert (item.sha256, item.filename, item.status) == (digest, "D-4471-C.pdf", "received")
        assert item.source_message_pk == case.messages[0].id
        assert item.location.startswith("commgate archive, ledger seq ")
        (registered,) = events(session, "property_registered")
        assert (registered.data["sha256"], registered.message_pk) == (digest,
                                                                       item.source_message_pk)
        with pytest.raises(WorkflowError, match="only drawing or data can be registered"):
            add_item(session, case, kind="tooling", description="x", actor="e",
                     attachment=digest)
        with pytest.raises(WorkflowError, match="no attachment"):
            add_item(session, case, kind="data", description="x", actor="e",
                     attachment="0" * 64)
        with pytest.raises(WorkflowError, match="not a sha256"):
            add_item(session, case, kind="data", description="x", actor="e", attachment="zz")


def test_loss_or_damage_opens_an_incident_review_on_the_case(app, tmp_path):
    file(app, tmp_path, make_message(**NOTICE))
    with app.db.session() as session:
        item = session.scalars(select(PropertyItem)).one()
        confirm_item(session, item, "sales")
        receive_item(session, item, condition="good", location="B3", actor="stores")
        with pytest.raises(WorkflowError, match="needs a note"):
            set_status(session, item, "damaged", actor="stores")
        set_status(session, item, "damaged", actor="stores", note="dropped by forklift")
        case = case_by_ref(session, "NPC-000001")
        review = pending_review(session, case)
        assert (review.kind, review.property_item_id) == ("property-incident", item.id)
        assert case.review_required is True
        (incident,) = events(session, "property_incident")
        assert (incident.actor, incident.data["review_id"]) == ("stores", review.id)
        assert incident.data["note"] == "dropped by forklift"


def test_the_register_for_one_customer_by_address_or_domain(app, tmp_path):
    file(app, tmp_path, make_message(**NOTICE),
         make_message(**{**NOTICE, "message_id": "<o@other.example>",
                         "sender": "Otto <otto@other.example>", "subject": "Samples PX-2"}))
    with app.db.session() as session:
        assert [r["owner"] for r in property_register(session)] == [
            "anna@customer.example", "otto@other.example"]
        assert [r["owner"] for r in property_register(session, "other.example")] == [
            "otto@other.example"]
        assert len(property_register(session, "Anna@Customer.example")) == 1


@pytest.mark.parametrize(("given", "status"), [("in use", "in-use"), ("LOST", "lost-damaged"),
                                               ("lost/damaged", "lost-damaged")])
def test_status_spellings(given, status):
    assert normalise_status(given) == status


def test_an_unknown_status_names_the_known_ones():
    with pytest.raises(WorkflowError, match="announced, received, in-use"):
        normalise_status("borrowed")


# How a confirmed item gets to each status (after add_item: announced).
_PATHS = {"announced": (), "received": ("receive",), "in-use": ("receive", "in-use"),
          "lost-damaged": ("receive", "lost-damaged"), "returned": ("receive", "returned"),
          "destroyed": ("receive", "destroyed")}


RETURN_TO = {"destination": "Olga, Flanges GmbH", "shipping_ref": "DHL 1234"}  # what a return needs


def test_next_statuses_are_exactly_what_set_status_accepts(app, tmp_path):
    """The web's status choices (next_statuses) never offer a step set_status refuses, nor
    hide one it allows, for a confirmed item in each status and for a proposal."""
    file(app, tmp_path, make_message(**NOTICE))

    def accepted(session, item, target):
        try:
            set_status(session, item, target, actor="t", note="why", **RETURN_TO)
        except WorkflowError:
            return False
        return True

    with app.db.session() as session:
        proposal = session.scalars(select(PropertyItem)).one()
        case = session.get(Case, proposal.case_id)
        offered = {target for target in PROPERTY_STATUSES
                   if accepted(session, session.scalars(select(PropertyItem).where(
                       PropertyItem.id == proposal.id)).one(), target)}
        assert offered == set(next_statuses("announced", True)) == {"dismissed"}
        for status, steps in _PATHS.items():
            for target in PROPERTY_STATUSES:
                item = add_item(session, case, kind="tooling", description="jig", actor="t")
                for step in steps:
                    if step == "receive":
                        receive_item(session, item, condition="ok", location="shelf", actor="t")
                    else:
                        set_status(session, item, step, actor="t", note="why", **RETURN_TO)
                assert item.status == status
                assert accepted(session, item, target) == (
                    target in next_statuses(status, False)), (status, target)
