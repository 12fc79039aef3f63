"""Feedback records: suggested vs confirmed type, the complaint closing rule, the log and CSV."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from classifiers import Classification, Evidence
from gateway.core.errors import WorkflowError
from gateway.db.events import case_by_ref
from gateway.db.models import CaseEvent, LedgerReceipt
from gateway.processing.ingest import ingest
from gateway.workflows.feedback import (
    CSV_COLUMNS,
    classify_feedback,
    feedback_log,
    record_corrective_action,
    record_for,
    suggest_type,
    write_csv,
)
from gateway.workflows.lifecycle import can_close, set_status
from tests.support.cli import claimed
from tests.support.mail import make_message, write_messages

COMPLAINT = ("Hello,\nthis is a formal complaint: the bearings arrived damaged, unacceptable."
             "\nAnna")
PRAISE = "Thank you, great job on the last delivery, we are very pleased.\nAnna"


def file_mail(app, tmp_path, *messages):
    return ingest(app, write_messages(tmp_path / uuid.uuid4().hex, list(messages)))


def with_case(app, ref, action):
    with app.db.session() as session:
        return action(session, case_by_ref(session, ref, for_update=True))


def classification(*rule_ids):
    return Classification("feedback", False, (), "en", 0.9,
                          tuple(Evidence(rule, "text", "body") for rule in rule_ids), "test")


@pytest.mark.parametrize(("rules", "expected"), [
    (["en.feedback.complaint", "en.feedback.thanks_subject"], "complaint"),
    (["de.feedback.escalation_threat"], "complaint"),
    (["en.feedback.praise", "en.feedback.complaint_hint"], "praise"),
    (["en.feedback.complaint_hint"], "complaint"),
    (["en.feedback.survey_reply", "en.feedback.suggestion"], "survey"),
    (["fr.feedback.complaint_or_praise"], ""),
    (["en.order.po_number"], ""),
])
def test_the_suggested_type_follows_the_strongest_rule(rules, expected):
    assert suggest_type(classification(*rules))[0] == expected


def test_a_complaint_mail_opens_a_feedback_record_with_a_suggestion_not_a_type(app, tmp_path):
    file_mail(app, tmp_path, make_message(subject="Damaged bearings", body=COMPLAINT))
    with app.db.session() as session:
        case = case_by_ref(session, "NPC-000001")
        row = record_for(session, case)
        assert (case.category, row.type, row.suggested_type) == ("feedback", "", "complaint")
        (event,) = session.scalars(select(CaseEvent).where(
            CaseEvent.kind == "feedback_recorded")).all()
        assert event.actor == "system" and "en.feedback.complaint" in event.data["rules"]
        assert event.message_pk is not None


def test_feedback_inside_an_order_thread_is_left_to_staff(app, tmp_path):
    file_mail(app, tmp_path, make_message(
        subject="Purchase order 4500012345", message_id="<po@customer.example>",
        body="Please find our purchase order PO 4500012345 for 20 pieces of part 1234, "
             "delivery by 15 December.\nRegards"))
    file_mail(app, tmp_path, make_message(subject="Re: Purchase order 4500012345",
                                          in_reply_to="<po@customer.example>", body=COMPLAINT))
    with app.db.session() as session:
        case = case_by_ref(session, "NPC-000001")
        assert case.category == "order" and record_for(session, case) is None
    row = with_case(app, "NPC-000001", lambda s, c: classify_feedback(
        s, c, actor="alice", feedback_type="complaint", severity="medium"))
    assert (row.type, row.severity, row.created_by) == ("complaint", "medium", "alice")


def test_closing_needs_a_type_and_for_complaints_a_corrective_action(app, tmp_path):
    file_mail(app, tmp_path, make_message(subject="Damaged bearings", body=COMPLAINT),
              make_message(subject="Great job", body=PRAISE, sender="ben@other.example"))
    for ref in ("NPC-000001", "NPC-000002"):
        with_case(app, ref, lambda s, c: set_status(s, c, "resolved", "alice"))
    assert "feedback type is not set (suggested: complaint)" in with_case(
        app, "NPC-000001", can_close)[1]
    with_case(app, "NPC-000002", lambda s, c: classify_feedback(s, c, actor="alice",
                                                                feedback_type="praise"))
    assert with_case(app, "NPC-000002", can_close) == (True, "")
    with_case(app, "NPC-000001", lambda s, c: classify_feedback(
        s, c, actor="alice", feedback_type="complaint", severity="high"))
    with pytest.raises(WorkflowError, match="a complaint needs a corrective-action reference "
                                            "and a resolution note"):
        with_case(app, "NPC-000001", lambda s, c: set_status(s, c, "closed", "alice"))
    with_case(app, "NPC-000001", lambda s, c: record_corrective_action(
        s, c, actor="bob", corrective_action_ref=" CAPA-2026-017 ",
        resolution_note="Replaced 20 bearings.", root_cause="packaging"))
    with_case(app, "NPC-000001", lambda s, c: set_status(s, c, "closed", "carol"))
    with app.db.session() as session:
        kinds = [(e.kind, e.actor) for e in case_by_ref(session, "NPC-000001").events
                 if e.actor != "system"]
    assert kinds == [("status_changed", "alice"), ("feedback_classified", "alice"),
                     ("corrective_action_recorded", "bob"), ("status_changed", "carol")]


@pytest.mark.parametrize(("kwargs", "why"), [
    ({"corrective_action_ref": "  ", "resolution_note": "done"}, "reference is empty"),
    ({"corrective_action_ref": "CA-1", "resolution_note": " \n"}, "resolution note is empty"),
    ({"corrective_action_ref": "x" * 129, "resolution_note": "done"}, "longer than 128"),
])
def test_a_corrective_action_needs_both_parts(app, tmp_path, kwargs, why):
    file_mail(app, tmp_path, make_message(subject="Damaged bearings", body=COMPLAINT))
    with pytest.raises(WorkflowError, match=why):
        with_case(app, "NPC-000001", lambda s, c: record_corrective_action(
            s, c, actor="bob", **kwargs))


def test_a_closed_cases_feedback_is_evidence_and_not_edited(app, tmp_path):
    file_mail(app, tmp_path, make_message(subject="Great job", body=PRAISE))
    with_case(app, "NPC-000001", lambda s, c: classify_feedback(s, c, actor="alice",
                                                                feedback_type="praise"))
    for step in ("resolved", "closed"):
        with_case(app, "NPC-000001", lambda s, c, step=step: set_status(s, c, step, "alice"))
    with pytest.raises(WorkflowError, match="is closed: its feedback record is evidence"):
        with_case(app, "NPC-000001", lambda s, c: classify_feedback(
            s, c, actor="mallory", feedback_type="complaint"))
    with pytest.raises(WorkflowError, match="not a feedback type"):
        with_case(app, "NPC-000001", lambda s, c: classify_feedback(
            s, c, actor="alice", feedback_type="rant"))


def test_the_log_says_when_it_came_in_and_how_long_it_took(app, tmp_path):
    file_mail(app, tmp_path, make_message(subject="Damaged bearings", body=COMPLAINT),
              make_message(subject="Great job", body=PRAISE, sender="ben@other.example"),
              make_message())  # an enquiry: not in the log
    with_case(app, "NPC-000001", lambda s, c: classify_feedback(
        s, c, actor="alice", feedback_type="complaint", severity="high"))
    with_case(app, "NPC-000001", lambda s, c: record_corrective_action(
        s, c, actor="bob", corrective_action_ref="CAPA-17",
        resolution_note="=HYPERLINK(\"http://evil.example\")"))
    for step in ("resolved", "closed"):
        with_case(app, "NPC-000001", lambda s, c, step=step: set_status(s, c, step, "alice"))
    with app.db.session() as session:
        received = session.scalar(select(LedgerReceipt.received_at).where(
            LedgerReceipt.seq == 1))
        rows = feedback_log(session)
        assert feedback_log(session, since=received + timedelta(hours=1)) == []
        assert len(feedback_log(session, until=received + timedelta(hours=1))) == 2
    assert [r["ref"] for r in rows] == ["NPC-000001", "NPC-000002"]
    assert rows[0]["received"] == received.isoformat().replace("+00:00", "Z")
    # Days to close run from the customer's Date header (sent), before it reached us.
    sent = datetime(2026, 11, 23, 8, 15, tzinfo=UTC)
    closed = datetime.fromisoformat(rows[0]["closed_at"].replace("Z", "+00:00"))
    assert (rows[0]["sent"], rows[0]["days_from"], rows[0]["status"]) == (
        "2026-11-23T08:15:00Z", "sent", "closed")
    assert rows[0]["days_to_close"] == round((closed - sent).total_seconds() / 86400, 1)
    assert rows[1]["closed_at"] is None and rows[1]["days_to_close"] is None
    stream = io.StringIO()
    assert write_csv(rows, stream) == 2
    table = list(csv.reader(io.StringIO(stream.getvalue())))
    assert tuple(table[0]) == CSV_COLUMNS
    first = dict(zip(CSV_COLUMNS, table[1], strict=True))
    assert first["corrective action"] == "CAPA-17"
    assert first["resolution"] == "'=HYPERLINK(\"http://evil.example\")"  # not a formula
    assert (first["type"], first["severity"], first["status"]) == ("complaint", "high", "closed")
    assert (first["sent"], first["days measured from"]) == ("2026-11-23T08:15:00Z", "sent")


def test_days_to_close_run_from_arrival_without_a_date_or_with_one_in_the_future(app, tmp_path):
    future = (datetime.now(UTC) + timedelta(days=30)).strftime("%a, %d %b %Y %H:%M:%S +0000")
    file_mail(app, tmp_path, make_message(subject="Damaged bearings", body=COMPLAINT,
                                          date=future))
    for step in (lambda s, c: classify_feedback(s, c, actor="alice", feedback_type="praise"),
                 lambda s, c: set_status(s, c, "resolved", "alice"),
                 lambda s, c: set_status(s, c, "closed", "alice")):
        with_case(app, "NPC-000001", step)
    with app.db.session() as session:
        (row,) = feedback_log(session)
    assert row["sent"] is not None and row["days_from"] == "received"
    assert 0 <= row["days_to_close"] < 1


def test_feedback_set_without_anything_to_set_is_an_error(cli):
    result = cli("feedback", "set", "NPC-000001", "--as", "alice")
    assert result.code == 1 and "give --type and/or --severity" in result.err


def test_a_complaint_is_not_closed_without_action_by_retyping_it_first(app, tmp_path, cli):
    """The auditor's hole: 'feedback set REF --type suggestion', then close. Leaving
    "complaint" needs a note and a quality role; the log keeps the change with who and why."""
    from gateway.services.users import add_user

    file_mail(app, tmp_path, make_message(subject="Damaged bearings", body=COMPLAINT))
    for name, role in (("sam", "staff"), ("quinn", "reviewer")):
        add_user(app, actor="admin", name=name, role=role, aliases=[], password="x" * 12)
    ref = "NPC-000001"
    assert cli("feedback", "set", ref, "--type", "complaint", "--as", "sam").code == 0
    refused = cli("feedback", "set", ref, "--type", "suggestion", "--as", "quinn")
    assert refused.code == 1 and "needs a note saying why" in refused.err
    for actor, why in (("sam", "has the role staff"),
                       ("nobody", "has no enabled account of this installation")):
        refused = cli("feedback", "set", ref, "--type", "suggestion", "--note", "a wish",
                      "--as", actor)
        assert refused.code == 1 and "needs a quality role" in refused.err and why in refused.err
    assert cli("cases", "status", ref, "closed", "--as", "sam").code == 1  # still a complaint
    done = cli("feedback", "set", ref, "--type", "suggestion", "--note",
               "asks for other packaging, nothing was damaged", "--as", "quinn")
    assert done.code == 0, done.err
    listing = cli("feedback", "list", "--as", "sam")
    assert (f"{ref} type changed: " in listing.out
            and f"complaint -> suggestion by {claimed('quinn')} (reviewer): asks for other "
                "packaging" in listing.out)
    (row,) = cli("feedback", "list", "--json", "--as", "sam").json()
    assert [(c["from"], c["to"], c["by"]) for c in row["type_history"]] == [
        ("", "complaint", claimed("sam")), ("complaint", "suggestion", claimed("quinn"))]
    out = tmp_path / "log.csv"
    assert cli("feedback", "export", "-o", str(out), "--as", "sam").code == 0
    (exported,) = csv.DictReader(io.StringIO(out.read_text(encoding="utf-8")))
    assert (f"complaint -> suggestion by {claimed('quinn')} (reviewer): asks"
            in exported["type history"])
