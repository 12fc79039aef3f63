"""Scope-change reviews, the requirement-review checklist and order acceptance
(gateway/workflows/reviews.py)
on real databases, with messages filed by the real pipeline."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from gateway.core.errors import WorkflowError
from gateway.db.events import case_by_ref
from gateway.db.models import CaseEvent, CaseLink, Message
from gateway.db.reviews import CHECKLIST_ITEMS, Review
from gateway.processing.classification import classify_parsed, rules_for
from gateway.processing.hooks import FiledMessage
from gateway.processing.parsing import parse_message
from gateway.workflows.reviews import (
    Check,
    checklist_gaps,
    decide_order,
    decide_review,
    details_for_case,
    find_review,
    list_reviews,
    on_filed,
    pending_review,
    resolve_message,
    set_checks,
)
from tests.support.cases import CHANGE, ORDER, file
from tests.support.mail import make_message

ALL_OK = [Check(item, "ok") for item in CHECKLIST_ITEMS]


def kinds(session, case):
    return [e.kind for e in session.scalars(
        select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id))]


def message_pk(session, message_id):
    return session.scalars(select(Message.id).where(Message.message_id == message_id)).one()


def test_a_flagged_change_opens_a_pending_review_with_its_evidence(app, tmp_path):
    file(app, tmp_path, ORDER, CHANGE)
    with app.db.session() as session:
        case = case_by_ref(session, "NPC-000001")
        review = pending_review(session, case)
        assert review is not None and review.kind == "scope-change"
        assert review.trigger_message_pk == message_pk(session, "chg@customer.example")
        assert case.review_required is True
        assert "quantity" in review.summary
        assert {"field", "rule_id", "text"} <= set(review.evidence[0])
        assert any(".scope." in e["rule_id"] and e["text"].startswith("quantity:")
                   for e in review.evidence)
        assert "review_opened" in kinds(session, case)


def test_an_unflagged_order_opens_no_review(app, tmp_path):
    file(app, tmp_path, ORDER)
    with app.db.session() as session:
        case = case_by_ref(session, "NPC-000001")
        assert pending_review(session, case) is None
        assert case.review_required is False


def test_an_outbound_message_never_opens_a_review(app, tmp_path):
    file(app, tmp_path, ORDER)
    parsed = parse_message(make_message(**CHANGE))
    with app.db.session() as session:
        case = case_by_ref(session, "NPC-000001")
        pk = message_pk(session, "po@customer.example")
        on_filed(session, app.settings, [FiledMessage(
            message_pk=pk, case_id=case.id, case_ref=case.ref, new_case=False, seq=1,
            sha256=parsed.sha256, alias="sales@northpoint.example", direction="outbound",
            parsed=parsed, classification=classify_parsed(parsed, rules_for(app.settings)))])
        assert session.scalars(select(Review)).all() == []


def test_a_reply_is_not_flagged_by_its_inherited_subject(app, tmp_path):
    reply = dict(subject="Re: Change to PO 4500871234", message_id="<thanks@customer.example>",
                 in_reply_to="<chg@customer.example>", body="Thank you, agreed.\n\nAnna")
    file(app, tmp_path, ORDER, CHANGE, reply)
    with app.db.session() as session:
        assert stored_scope(session, "thanks@customer.example") is False
        assert len(session.scalars(select(Review)).all()) == 1


def test_a_message_flagged_only_by_its_quoted_subject_does_not_reopen(app, tmp_path):
    # A forward keeps the subject's weight (it is the sender's own choice to pass it on), so
    # the classifier flags it; the review workflow sees only subject evidence and does not
    # open a second review on the case.
    forward = dict(subject="FW: Change to PO 4500871234", message_id="<fw@customer.example>",
                   in_reply_to="<chg@customer.example>", body="Thank you, agreed.\n\nAnna")
    file(app, tmp_path, ORDER, CHANGE, forward)
    with app.db.session() as session:
        case = case_by_ref(session, "NPC-000001")
        assert len(session.scalars(select(Review)).all()) == 1
        assert "scope_change_not_reopened" in kinds(session, case)


def stored_scope(session, message_id):
    return session.scalars(select(Message.scope_change)
                           .where(Message.message_id == message_id)).one()


def test_refiling_does_not_open_a_second_review_for_the_same_message(app, tmp_path):
    file(app, tmp_path, ORDER, CHANGE)
    with app.db.session() as session:
        case = case_by_ref(session, "NPC-000001")
        parsed = parse_message(make_message(**CHANGE))
        filed = FiledMessage(
            message_pk=message_pk(session, "chg@customer.example"), case_id=case.id,
            case_ref=case.ref, new_case=False, seq=2, sha256=parsed.sha256,
            alias="sales@northpoint.example", direction="inbound", parsed=parsed,
            classification=classify_parsed(parsed, rules_for(app.settings)))
        on_filed(session, app.settings, [filed])
        assert len(session.scalars(select(Review)).all()) == 1


@pytest.mark.parametrize("given", ["scope", "scope=fine", "colour=ok", "=ok"])
def test_a_checklist_item_that_is_not_understood_says_how_to_write_it(given):
    with pytest.raises(WorkflowError, match="ITEM=STATE"):
        Check.parse(given)


def test_a_checklist_item_keeps_its_note_after_the_first_colon():
    assert Check.parse("delivery_date=N/A:per call: 3 Dec") == Check(
        "delivery-date", "n/a", "per call: 3 Dec")


def test_checklist_changes_are_recorded_from_and_to(app, tmp_path):
    file(app, tmp_path, ORDER)
    with app.db.session() as session:
        case = case_by_ref(session, "NPC-000001")
        set_checks(session, case, [Check("scope", "not-ok", "qty unclear")], "qa")
        items = set_checks(session, case, [Check("scope", "ok", "clarified")], "qa2")
        assert items["scope"]["state"] == "ok" and items["scope"]["by"] == "qa2"
        events = session.scalars(select(CaseEvent).where(
            CaseEvent.kind == "checklist_updated").order_by(CaseEvent.id)).all()
        assert [e.data["changes"][0]["from"] for e in events] == [None, "not-ok"]
        assert [e.actor for e in events] == ["qa", "qa2"]
        assert checklist_gaps(session, case) == [
            "not checked: requirements, delivery-date, special-handling, customer-property"]


def test_accepting_is_refused_while_a_review_is_pending_and_the_checklist_is_incomplete(
        app, tmp_path):
    file(app, tmp_path, ORDER, CHANGE)
    with app.db.session() as session:
        case = case_by_ref(session, "NPC-000001")
        set_checks(session, case, [Check("scope", "ok"), Check("requirements", "not-ok")], "qa")
        order = resolve_message(session, case, "po@customer.example")
        with pytest.raises(WorkflowError) as refused:
            decide_order(session, case, order, accept=True, actor="sales")
    message = str(refused.value)
    assert message.startswith("not allowed to accept NPC-000001 because review ")
    assert "(scope-change) is pending" in message
    assert "not checked: delivery-date, special-handling, customer-property" in message
    assert "not ok: requirements" in message


def test_acceptance_records_who_when_which_message_and_the_checklist(app, tmp_path):
    file(app, tmp_path, ORDER)
    with app.db.session() as session:
        case = case_by_ref(session, "NPC-000001")
        set_checks(session, case, ALL_OK, "qa")
        order = resolve_message(session, case, str(message_pk(session, "po@customer.example")))
        decision = decide_order(session, case, order, accept=True, actor="sales.mgr",
                                note="as quoted")
        event = session.scalars(select(CaseEvent).where(
            CaseEvent.kind == "order_accepted")).one()
        assert (event.actor, event.message_pk) == ("sales.mgr", order.id)
        assert event.data["message"]["message_id"] == "po@customer.example"
        assert decision.checklist["scope"]["state"] == "ok"
        record = details_for_case(session, case)
        assert record["decisions"][0]["decision"] == "accepted"
        assert record["decisions"][0]["message"]["pk"] == order.id
        with pytest.raises(WorkflowError, match=r"already accepted by sales\.mgr"):
            decide_order(session, case, order, accept=True, actor="sales.mgr")


def test_a_change_approved_after_acceptance_allows_accepting_the_changed_order(app, tmp_path):
    file(app, tmp_path, ORDER, folder="a")
    with app.db.session() as session:
        case = case_by_ref(session, "NPC-000001")
        set_checks(session, case, ALL_OK, "qa")
        decide_order(session, case, resolve_message(session, case, "po@customer.example"),
                     accept=True, actor="sales")
    file(app, tmp_path, CHANGE, folder="b")
    with app.db.session() as session:
        case = case_by_ref(session, "NPC-000001")
        change = resolve_message(session, case, "<chg@customer.example>")
        with pytest.raises(WorkflowError, match="is pending"):
            decide_order(session, case, change, accept=True, actor="sales")
        decide_review(session, app.settings, case, pending_review(session, case), approve=True,
                      note="capacity checked", actor="qa", confirm=False)
        assert case.review_required is False
        assert decide_order(session, case, change, accept=True, actor="sales").id == 2


def test_declining_needs_a_note_but_no_checklist(app, tmp_path):
    file(app, tmp_path, ORDER)
    with app.db.session() as session:
        case = case_by_ref(session, "NPC-000001")
        order = resolve_message(session, case, "po@customer.example")
        with pytest.raises(WorkflowError, match="needs a note"):
            decide_order(session, case, order, accept=False, actor="sales")
        assert decide_order(session, case, order, accept=False, actor="sales",
                            note="cannot meet the date").decision == "declined"


def test_an_order_is_accepted_only_on_a_message_of_its_own_or_its_linked_enquiry(app, tmp_path):
    enquiry = dict(subject="Quotation for pump housings", message_id="<rfq@customer.example>",
                   body="Please send us a quotation for 200 pump housings PH-40.\n\nAnna")
    file(app, tmp_path, enquiry, ORDER)
    with app.db.session() as session:
        rfq_case, po_case = case_by_ref(session, "NPC-000001"), case_by_ref(session, "NPC-000002")
        with pytest.raises(WorkflowError, match="not part of case NPC-000002"):
            resolve_message(session, po_case, str(message_pk(session, "rfq@customer.example")))
        with pytest.raises(WorkflowError, match="no message"):
            resolve_message(session, po_case, "<nobody@nowhere.example>")
        session.add(CaseLink(case_id=rfq_case.id, other_case_id=po_case.id,
                             kind="enquiry-order", actor="sales"))
        session.flush()
        assert resolve_message(session, po_case, "rfq@customer.example").case_id == rfq_case.id
        assert details_for_case(session, po_case)["linked"][0]["ref"] == "NPC-000001"


def test_a_review_is_decided_once_and_needs_a_note(app, tmp_path):
    file(app, tmp_path, ORDER, CHANGE)
    with app.db.session() as session:
        case = case_by_ref(session, "NPC-000001")
        review = pending_review(session, case)
        with pytest.raises(WorkflowError, match="needs a note"):
            decide_review(session, app.settings, case, review, approve=False, note=" ",
                          actor="qa", confirm=False)
        decide_review(session, app.settings, case, review, approve=False,
                      note="price would change", actor="qa", confirm=False)
        with pytest.raises(WorkflowError, match="already rejected by qa"):
            decide_review(session, app.settings, case, review, approve=True, note="x",
                          actor="qa", confirm=False)
        rejected = session.scalars(select(CaseEvent).where(
            CaseEvent.kind == "review_rejected")).one()
        assert rejected.data["note"] == "price would change"
        assert rejected.data["confirmation"].startswith("not sent")
        assert list_reviews(session, pending_only=True) == []
        assert list_reviews(session)[0]["decided_by"] == "qa"


def test_a_review_on_a_case_merged_away_still_binds_the_surviving_case(app, tmp_path):
    from gateway.workflows.merging import merge_cases

    other = dict(message_id="<question@customer.example>")
    file(app, tmp_path, other, ORDER, CHANGE)
    with app.db.session() as session:
        merge_cases(session, "NPC-000002", "NPC-000001", "staff")
        survivor, merged = case_by_ref(session, "NPC-000001"), case_by_ref(session, "NPC-000002")
        review = pending_review(session, survivor)
        assert review is not None and review.case_id == merged.id
        with pytest.raises(WorkflowError, match="is pending"):
            decide_order(session, survivor, resolve_message(session, survivor,
                                                            "po@customer.example"),
                         accept=True, actor="sales")
        decide_review(session, app.settings, survivor, find_review(session, survivor, review.id),
                      approve=True, note="ok", actor="qa", confirm=False)
        assert (survivor.review_required, merged.review_required) == (False, False)
        assert [r["id"] for r in list_reviews(session, case=survivor)] == [review.id]


def test_the_review_tables_refuse_unknown_kinds_and_states(app, tmp_path):
    file(app, tmp_path, ORDER)
    with app.db.session() as session, pytest.raises(DBAPIError, match=r"(?i)check"):
        case = case_by_ref(session, "NPC-000001")
        session.execute(text(
            "INSERT INTO requirement_checks (case_id, item, state, note, actor, at) "
            "VALUES (:c, 'scope', 'maybe', '', 'x', CURRENT_TIMESTAMP)"), {"c": case.id})


# -- confirmation to the customer (needs gateway.workflows.outbound.queue.queue_mail and
# gateway.workflows.templates) ---

def publish_template(session, name, body):
    from gateway.workflows import templates

    templates.create(session, name, "Your change request on ${case_ref}", body, "writer")
    templates.approve(session, name, 1, "approver")
    templates.publish(session, name, 1, "approver")


def test_a_decision_is_confirmed_from_the_published_template_and_the_reply_is_linked(
        app, tmp_path):
    file(app, tmp_path, ORDER, CHANGE, folder="a")
    with app.db.session() as session:
        publish_template(session, "scope-change-approved",
                         "We accept your change (${note}).\n")
        case = case_by_ref(session, "NPC-000001")
        review = decide_review(session, app.settings, case, pending_review(session, case),
                               approve=True, note="capacity checked", actor="qa")
        sent_id = review.confirmation_message_id
    assert sent_id and sent_id.startswith("NPC-000001.")
    file(app, tmp_path, dict(subject="Re: Your change request on NPC-000001",
                             message_id="<ok@customer.example>", in_reply_to=f"<{sent_id}>",
                             body="Confirmed, thank you.\n\nAnna"), folder="b")
    with app.db.session() as session:
        review = session.get(Review, review.id)
        reply = message_pk(session, "ok@customer.example")
        assert review.confirmed_by_message_pk == reply
        confirmed = session.scalars(select(CaseEvent).where(
            CaseEvent.kind == "review_confirmed")).one()
        assert (confirmed.message_pk, confirmed.data["review_id"]) == (reply, review.id)
        queued = session.scalars(select(CaseEvent).where(
            CaseEvent.kind == "review_confirmation_queued")).one()
        assert (queued.data["template"], queued.data["template_version"]) == (
            "scope-change-approved", 1)


def test_a_decision_without_a_published_template_is_refused(app, tmp_path):
    file(app, tmp_path, ORDER, CHANGE)
    with pytest.raises(WorkflowError, match="published"), app.db.session() as session:
        case = case_by_ref(session, "NPC-000001")
        decide_review(session, app.settings, case, pending_review(session, case),
                      approve=True, note="ok", actor="qa")
    with app.db.session() as session:  # rolled back: still pending
        assert pending_review(session, case_by_ref(session, "NPC-000001")) is not None


def test_an_installation_names_its_own_confirmation_templates(home, tmp_path):
    from gateway.bootstrap import App
    from gateway.config import CONFIG_NAME

    with (home / CONFIG_NAME).open("a") as config:
        config.write('\n[reviews.templates]\n"scope-change/approved" = "aenderung-angenommen"\n')
    app = App.open(home)
    try:
        file(app, tmp_path, ORDER, CHANGE)
        with app.db.session() as session:
            publish_template(session, "aenderung-angenommen",
                             "Wir nehmen Ihre Aenderung an (${note}).\n")
            case = case_by_ref(session, "NPC-000001")
            decide_review(session, app.settings, case, pending_review(session, case),
                          approve=True, note="Kapazitaet geprueft", actor="qa")
            queued = session.scalars(select(CaseEvent).where(
                CaseEvent.kind == "review_confirmation_queued")).one()
            assert queued.data["template"] == "aenderung-angenommen"
    finally:
        app.close()


def test_an_unknown_decision_in_the_template_names_is_refused_at_start_up(home):
    from gateway.config import CONFIG_NAME, load_settings
    from gateway.core.errors import ConfigError

    with (home / CONFIG_NAME).open("a") as config:
        config.write('\n[reviews.templates]\n"scope-change/maybe" = "x"\n')
    with pytest.raises(ConfigError, match=r"unknown decision 'scope-change/maybe'"):
        load_settings(home)


SEPARATE_CHANGE = dict(subject="Quantity change", message_id="<chg2@customer.example>",
                       body="Hello,\nplease increase the quantity on PO 4500871234 to 400 "
                            "pieces and move the delivery date to 1 February 2027.\n\n"
                            "Regards\nAnna")


@pytest.mark.parametrize("how", ["linked", "same order number"])
def test_a_pending_change_on_another_case_of_the_order_blocks_acceptance(app, tmp_path, cli,
                                                                         how):
    """The auditor's hole: the change to the PO filed as its own case (no reply header) did
    not block `order accept` on the order case; linked or naming the same PO, it must."""
    file(app, tmp_path, ORDER)
    changed = {**SEPARATE_CHANGE}
    if how == "linked":  # a linked case blocks whatever it names
        changed["body"] = changed["body"].replace("on PO 4500871234 ", "")
    file(app, tmp_path, changed, folder="change")
    order, change = "NPC-000001", "NPC-000002"
    with app.db.session() as session:
        assert pending_review(session, case_by_ref(session, order)) is None
        assert pending_review(session, case_by_ref(session, change)) is not None
    if how == "linked":
        assert cli("cases", "link", order, change, "--kind", "related", "--as", "anna").code == 0
    items = [arg for item in CHECKLIST_ITEMS for arg in ("--item", f"{item}=ok")]
    assert cli("review", "checklist", order, *items, "--as", "qa").code == 0
    refused = cli("order", "accept", order, "--message", "1", "--as", "qa")
    why = "a linked case" if how == "linked" else "it names order 4500871234"
    assert refused.code == 1 and f"on {change} is pending ({why})" in refused.err
    assert cli("review", "approve", change, "--note", "fine", "--no-confirmation",
               "--as", "qa").code == 0
    accepted = cli("order", "accept", order, "--message", "1", "--as", "qa")
    assert accepted.code == 0, accepted.err


@pytest.mark.parametrize(("change_body", "expected"), [
    ("please increase the quantity on PO 4500871234 to 260 pieces, same delivery date.",
     "quantity 200 → 260"),
    ("please increase the quantity on PO 4500871234 to 400 pieces and move the delivery date "
     "to 1 February 2027.", "quantity 200 → 400; delivery date 15 January 2027 → "
                            "1 February 2027"),
])
def test_the_confirmation_says_what_changed(app, tmp_path, change_body, expected):
    """The auditor's hole: ${change} gave the rule names ("quantity, reference (Change to
    PO ...)"), not what changed."""
    from gateway.db.outbound import OutboundMail

    file(app, tmp_path, ORDER, {**CHANGE, "body": f"Hello,\n{change_body}\n\nRegards\nAnna"})
    with app.db.session() as session:
        publish_template(session, "scope-change-approved", "We accept: ${change}.\n")
        case = case_by_ref(session, "NPC-000001")
        review = decide_review(session, app.settings, case, pending_review(session, case),
                               approve=True, note="capacity checked", actor="qa")
        mail = session.get(OutboundMail, review.confirmation_mail_id)
        assert mail.body == f"We accept: {expected}.\n"
