"""Workflow records follow a merge: after merging case A into case B, A's checklist, order
decisions, property items and feedback record show on B and bind what is done on B; after the
unmerge they are A's alone again. The rows keep the case they were filed on (the audit trail);
B reads them through its family."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select, update

from gateway.core.errors import WorkflowError
from gateway.db.events import case_by_ref, case_families
from gateway.db.models import Case, CaseEvent
from gateway.db.property import PropertyItem
from gateway.db.reviews import CHECKLIST_ITEMS
from gateway.evidence.package import collect
from gateway.evidence.select import Selection, resolve
from gateway.processing.ingest import ingest
from gateway.workflows.feedback import record_for
from gateway.workflows.lifecycle import can_close
from gateway.workflows.merging import merge_cases
from gateway.workflows.reviews import (
    Check,
    decide_order,
    open_review,
    pending_review,
    resolve_message,
    set_checks,
)
from tests.support.mail import make_message, write_messages

A, B = "NPC-000001", "NPC-000002"
ORDER = dict(subject="Purchase order 4500871234", message_id="<po@customer.example>",
             body="Hello,\nplease find attached our purchase order 4500871234 for 200 pump "
                  "housings PH-40 as quoted.\nDelivery date 15 January 2027.\n\nRegards\nAnna")
NOTICE = dict(subject="Test fixture for order 4500871234", message_id="<fx@customer.example>",
              body="Hello,\nwe are sending our test fixture serial no. FX-2291 for the pump "
                   "housings by courier. It should arrive on Tuesday. Please handle with care."
                   "\n\nRegards\nAnna")
COMPLAINT = dict(subject="Damaged bearings", message_id="<bad@customer.example>",
                 body="Hello,\nthis is a formal complaint: the bearings arrived damaged, "
                      "unacceptable.\nAnna")
OTHER = dict(subject="Catalogue request 2027", sender="Ben <ben@other.example>",
             message_id="<cat@other.example>",
             body="Hello,\ncould you send us your 2027 catalogue?\n\nBen")
ITEMS = [arg for item in CHECKLIST_ITEMS for arg in ("--item", f"{item}=ok")]


def file(app, tmp_path, *messages):
    ingest(app, write_messages(tmp_path / uuid.uuid4().hex,
                               [make_message(**m) for m in messages]))


def ok(result):
    assert result.code == 0, result.err
    return result.json() if result.out.lstrip().startswith(("{", "[")) else result


def show(cli, ref):
    return ok(cli("cases", "show", ref, "--json"))


def event_kinds(app, ref):
    with app.db.session() as session:
        case_id = session.scalar(select(Case.id).where(Case.ref == ref))
        return [e.kind for e in session.scalars(select(CaseEvent).where(
            CaseEvent.case_id == case_id).order_by(CaseEvent.id))]


# -- requirement-review checklist and order decisions -------------------------------------------

def test_accepting_on_the_survivor_sees_the_checklist_filed_on_the_merged_case(app, tmp_path,
                                                                              cli):
    file(app, tmp_path, ORDER, OTHER)
    ok(cli("review", "checklist", A, *ITEMS, "--as", "qa"))
    ok(cli("cases", "merge", A, "--into", B, "--as", "staff"))

    order = show(cli, B)["order"]
    assert order["checklist_gaps"] == []
    assert {v["case"] for v in order["checklist"].values()} == {A}
    accepted = ok(cli("order", "accept", B, "--message", "po@customer.example", "--as", "sales",
                      "--json"))
    assert accepted["decision"] == "accepted"
    assert "order_accepted" in event_kinds(app, B)  # a new record stays on the case acted on

    ok(cli("cases", "unmerge", A, "--as", "staff"))
    assert set(show(cli, B)["order"]["checklist"].values()) == {None}
    assert show(cli, A)["order"]["checklist_gaps"] == []
    assert [d["decision"] for d in show(cli, B)["order"]["decisions"]] == ["accepted"]
    assert show(cli, A)["order"]["decisions"] == []


def test_an_order_accepted_on_the_merged_case_is_not_accepted_twice_on_the_survivor(
        app, tmp_path, cli):
    file(app, tmp_path, ORDER, OTHER)
    ok(cli("review", "checklist", A, *ITEMS, "--as", "qa"))
    ok(cli("order", "accept", A, "--message", "po@customer.example", "--as", "sales"))
    ok(cli("cases", "merge", A, "--into", B, "--as", "staff"))

    assert [d["case"] for d in show(cli, B)["order"]["decisions"]] == [A]
    refused = cli("order", "accept", B, "--message", "po@customer.example", "--as", "sales")
    assert refused.code == 1 and "already accepted by sales" in refused.err

    ok(cli("cases", "unmerge", A, "--as", "staff"))
    assert show(cli, B)["order"]["decisions"] == []


def test_a_check_made_on_the_survivor_outranks_the_older_one_of_the_merged_case(app, tmp_path):
    file(app, tmp_path, ORDER, OTHER)
    with app.db.session() as session:
        set_checks(session, case_by_ref(session, A), [Check(i, "ok") for i in CHECKLIST_ITEMS],
                   "qa")
        merge_cases(session, A, B, "staff")
        survivor = case_by_ref(session, B)
        items = set_checks(session, survivor, [Check("scope", "not-ok", "qty changed")], "qa2")
        assert (items["scope"]["state"], items["scope"]["case"]) == ("not-ok", B)
        assert items["requirements"]["case"] == A
        (event,) = session.scalars(select(CaseEvent).where(
            CaseEvent.case_id == survivor.id, CaseEvent.kind == "checklist_updated")).all()
        assert event.data["changes"][0]["from"] == "ok"  # what the survivor saw before
        message = resolve_message(session, survivor, "po@customer.example")
        with pytest.raises(WorkflowError, match="not ok: scope"):
            decide_order(session, survivor, message, accept=True, actor="sales")


def test_an_enquiry_linked_to_the_merged_case_counts_as_linked_to_the_survivor(
        app, tmp_path, cli):
    enquiry = dict(subject="Quotation for pump housings", message_id="<rfq@customer.example>",
                   body="Please send us a quotation for 200 pump housings PH-40.\n\nAnna")
    file(app, tmp_path, ORDER, OTHER, enquiry)
    ok(cli("cases", "link", "NPC-000003", A, "--kind", "enquiry-order", "--as", "sales"))
    ok(cli("cases", "merge", A, "--into", B, "--as", "staff"))
    assert [c["ref"] for c in show(cli, B)["order"]["linked"]] == ["NPC-000003"]
    with app.db.session() as session:
        survivor = case_by_ref(session, B)
        assert resolve_message(session, survivor, "rfq@customer.example").case.ref == \
            "NPC-000003"


# -- customer property -------------------------------------------------------------------------

def test_property_of_the_merged_case_is_worked_on_the_survivor(app, tmp_path, cli):
    file(app, tmp_path, NOTICE, OTHER)
    ok(cli("cases", "merge", A, "--into", B, "--as", "staff"))
    (item,) = show(cli, B)["property"]["property"]
    assert (item["case"], item["status"], item["proposed"]) == (A, "announced", True)

    ok(cli("property", "confirm", str(item["id"]), "--as", "sales"))
    ok(cli("property", "receive", str(item["id"]), "--condition", "good", "--location", "B3",
           "--as", "stores"))
    ok(cli("property", "status", str(item["id"]), "damaged", "--note", "dropped",
           "--as", "stores"))
    # Staff work B now: the events land there, and the incident binds B.
    assert {"property_confirmed", "property_received", "property_incident"} <= set(
        event_kinds(app, B))
    with app.db.session() as session:
        survivor = case_by_ref(session, B)
        review = pending_review(session, survivor)
        assert review is not None and review.property_item_id == item["id"]
        ok_to_close, why = can_close(session, survivor)
        assert not ok_to_close and "property-incident review is pending" in why
        assert session.get(PropertyItem, item["id"]).case_id == case_by_ref(session, A).id

    ok(cli("cases", "unmerge", A, "--as", "staff"))
    assert show(cli, B)["property"]["property"] == []
    (back,) = show(cli, A)["property"]["property"]
    assert (back["id"], back["status"]) == (item["id"], "lost-damaged")
    assert [step["action"] for step in back["history"]] == [
        "proposed", "confirmed", "status", "status"]


def test_an_item_added_on_the_survivor_stays_with_it_after_the_unmerge(app, tmp_path, cli):
    file(app, tmp_path, NOTICE, OTHER)
    ok(cli("cases", "merge", A, "--into", B, "--as", "staff"))
    added = ok(cli("property", "add", B, "--kind", "tooling", "--description", "gauge",
                   "--as", "sales", "--json"))
    assert added["case"] == B
    assert len(show(cli, B)["property"]["property"]) == 2
    ok(cli("cases", "unmerge", A, "--as", "staff"))
    assert [i["id"] for i in show(cli, B)["property"]["property"]] == [added["id"]]
    assert len(show(cli, A)["property"]["property"]) == 1


# -- feedback ----------------------------------------------------------------------------------

def test_the_feedback_record_of_the_merged_case_shows_and_binds_on_the_survivor(
        app, tmp_path, cli):
    file(app, tmp_path, COMPLAINT, OTHER)
    ok(cli("cases", "merge", A, "--into", B, "--as", "staff"))
    feedback = show(cli, B)["lifecycle"]["feedback"]
    assert (feedback["case"], feedback["suggested_type"]) == (A, "complaint")

    said = ok(cli("feedback", "set", B, "--type", "complaint", "--severity", "high",
                  "--as", "qa"))
    assert f"(the record of {A}, merged into it)" in said.out
    ok(cli("cases", "status", B, "resolved", "--as", "qa"))
    refused = cli("cases", "status", B, "closed", "--as", "qa")
    assert refused.code == 1 and "a complaint needs a corrective-action reference" in refused.err
    ok(cli("feedback", "action", B, "--corrective-action", "CAPA-7", "--resolution-note",
           "replaced", "--as", "qa"))
    with app.db.session() as session:
        survivor, merged = case_by_ref(session, B), case_by_ref(session, A)
        row = record_for(session, survivor)
        assert (row.case_id, row.type, row.corrective_action_ref) == (
            merged.id, "complaint", "CAPA-7")
        assert record_for(session, merged) is row
        classified = session.scalars(select(CaseEvent).where(
            CaseEvent.case_id == survivor.id, CaseEvent.kind == "feedback_classified")).one()
        assert classified.data["record_case"] == A
    ok(cli("cases", "status", B, "closed", "--as", "qa"))


def test_after_the_unmerge_the_feedback_record_is_the_merged_cases_alone(app, tmp_path, cli):
    file(app, tmp_path, COMPLAINT, OTHER)
    ok(cli("cases", "merge", A, "--into", B, "--as", "staff"))
    ok(cli("cases", "unmerge", A, "--as", "staff"))
    assert show(cli, B)["lifecycle"]["feedback"] is None
    assert show(cli, A)["lifecycle"]["feedback"]["case"] == A
    with app.db.session() as session:
        assert record_for(session, case_by_ref(session, B)) is None


def test_feedback_set_on_the_survivor_edits_the_family_record_not_a_new_one(app, tmp_path,
                                                                           cli):
    from gateway.db.feedback import FeedbackRecord

    file(app, tmp_path, COMPLAINT, OTHER)
    ok(cli("cases", "merge", A, "--into", B, "--as", "staff"))
    ok(cli("feedback", "set", B, "--type", "complaint", "--as", "qa"))
    with app.db.session() as session:
        assert len(session.scalars(select(FeedbackRecord)).all()) == 1


def test_when_both_cases_have_a_record_the_survivors_governs_and_the_other_shows(
        app, tmp_path, cli):
    praise = dict(subject="Great job", sender="ben@other.example", message_id="<j@o.example>",
                  body="Thank you, great job on the last delivery, we are very pleased.\nBen")
    file(app, tmp_path, COMPLAINT, praise)
    ok(cli("cases", "merge", A, "--into", B, "--as", "staff"))
    feedback = show(cli, B)["lifecycle"]["feedback"]
    assert (feedback["case"], feedback["suggested_type"]) == (B, "praise")
    assert [(r["case"], r["suggested_type"]) for r in feedback["merged_records"]] == [
        (A, "complaint")]


def test_feedback_filed_into_the_survivor_opens_no_second_record(app, tmp_path):
    from classifiers import Classification, Evidence
    from gateway.db.feedback import FeedbackRecord
    from gateway.db.models import Message
    from gateway.processing.hooks import FiledMessage
    from gateway.processing.parsing import parse_message
    from gateway.workflows.feedback import on_filed

    file(app, tmp_path, COMPLAINT, OTHER)
    raw = make_message(**OTHER)
    with app.db.session() as session:
        merge_cases(session, A, B, "staff")
        survivor = case_by_ref(session, B)
        survivor.category = "feedback"  # as a feedback mail turning an "other" case would
        session.flush()
        pk = session.scalar(select(Message.id).where(Message.message_id == "cat@other.example"))
        on_filed(session, app.settings, [FiledMessage(
            message_pk=pk, case_id=survivor.id, case_ref=B, new_case=False, seq=2,
            sha256=parse_message(raw).sha256, alias="sales@northpoint.example",
            direction="inbound", parsed=parse_message(raw),
            classification=Classification("feedback", False, (), "en", 0.9, (Evidence(
                "en.feedback.complaint", "text", "body"),), "test"))])
        assert [r.case_id for r in session.scalars(select(FeedbackRecord))] == [
            case_by_ref(session, A).id]


# -- the family itself -------------------------------------------------------------------------

def test_a_family_follows_a_chain_of_merges_for_each_case_asked_about(app, tmp_path):
    third = dict(subject="Brochure please", sender="cy@third.example",
                 message_id="<b@third.example>", body="Send a brochure.\nCy")
    file(app, tmp_path, ORDER, OTHER, third)
    with app.db.session() as session:
        merge_cases(session, "NPC-000003", A, "staff")
        merge_cases(session, A, B, "staff")
        ids = {ref: case_by_ref(session, ref).id for ref in (A, B, "NPC-000003")}
        families = case_families(session, [ids[B], ids[A]])
        assert families == {ids[B]: [ids[B], ids[A], ids["NPC-000003"]],
                            ids[A]: [ids[A], ids["NPC-000003"]]}


def test_a_family_read_earlier_in_the_session_follows_a_merge_and_an_unmerge(app, tmp_path):
    # Families are remembered per session between writes (a case page asks for one several
    # times); a merge or unmerge in the same session must be seen at once.
    file(app, tmp_path, ORDER, OTHER)
    with app.db.session() as session:
        a, b = case_by_ref(session, A), case_by_ref(session, B)
        assert case_families(session, [b.id]) == {b.id: [b.id]}
        merge_cases(session, A, B, "staff")
        assert case_families(session, [b.id]) == {b.id: [b.id, a.id]}
        a.merged_into_id = None  # unflushed: the remembered family must not be used
        assert case_families(session, [b.id]) == {b.id: [b.id]}
        session.execute(update(Case).where(Case.id == a.id).values(merged_into_id=b.id))
        assert case_families(session, [b.id]) == {b.id: [b.id, a.id]}


def test_an_evidence_package_of_the_survivor_holds_the_whole_chain_once(app, tmp_path, cli):
    third = dict(subject="Order 4500871234 follow-up", message_id="<fu@customer.example>",
                 body="Hello,\ndo you have everything for our order?\nAnna")
    file(app, tmp_path, ORDER, OTHER, third)
    ok(cli("review", "checklist", A, *ITEMS, "--as", "qa"))
    with app.db.session() as session:
        open_review(session, case_by_ref(session, A), "scope-change", actor="qa",
                    summary="quantity 200 -> 250")
    ok(cli("cases", "merge", "NPC-000003", "--into", A, "--as", "staff"))
    ok(cli("cases", "merge", A, "--into", B, "--as", "staff"))

    with app.db.session() as session:
        data = collect(session, resolve(session, Selection(cases=(B,))))
    reasons = {c["ref"]: c["included_because"] for c in data["cases"]}
    assert reasons == {B: "selected", A: f"merged into {B}", "NPC-000003": f"merged into {B}"}
    # The review filed on A comes once, though A and B both list their family's reviews.
    assert [(r["case"], r["kind"]) for r in data["reviews"]] == [(A, "scope-change")]
    # B's order record is A's checklist, though only A has checklist events.
    assert {v["case"] for v in data["orders"][B]["checklist"].values()} == {A}
    assert data["orders"][B]["checklist_gaps"] == []
