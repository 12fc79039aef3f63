"""The feedback log page and the case page's feedback actions: the log limited to the reader's
queues, its CSV download recorded in the access log as ``commgate feedback export`` records
it, and type, severity and corrective action recorded as the same case events the command
line records, with the signed-in person as actor."""

from __future__ import annotations

import csv
import io

import pytest

from gateway.services.cases import show_case
from gateway.services.compliance import audit_log
from tests.support.mail import make_message
from tests.support.web import (
    SCRIPT,
    active_content,
    file_mail,
    form_token,
    signed_in,
)

SALES, SUPPORT = "sales@northpoint.example", "support@northpoint.example"
COMPLAINT = ("Hello,\nthis is a formal complaint: the bearings arrived damaged, unacceptable."
             "\nAnna")


@pytest.fixture
def complaints(app, tmp_path):
    """A complaint in the sales queue and one in the support queue: (sales ref, support ref)."""
    refs = file_mail(app, tmp_path / "in", make_message(subject="Damaged bearings",
                                                        body=COMPLAINT),
                     make_message(subject="Late delivery", body=COMPLAINT, to=SUPPORT,
                                  sender="ben@other.example"))
    sales, support = (next(r for r in refs if show_case(app, actor="t", ref=r).alias == alias)
                      for alias in (SALES, SUPPORT))
    assert show_case(app, actor="t", ref=sales).lifecycle["feedback"] is not None
    return sales, support


def events(app, ref, kind):
    return [e for e in show_case(app, actor="t", ref=ref).events if e.kind == kind]


def test_the_pages_need_a_session_and_the_actions_the_right_to_work(app, client, complaints):
    ref = complaints[0]
    assert client.get("/feedback").status_code == 303
    assert client.post("/feedback/export").status_code == 303
    assert client.post(f"/cases/{ref}/feedback", data={"feedback_type": "complaint"}
                       ).status_code == 303
    with signed_in(app, "cora", "compliance") as cora:
        assert cora.get("/feedback").status_code == 200
        token = form_token(cora, "/feedback")
        assert cora.post(f"/cases/{ref}/feedback", data={
            "feedback_type": "complaint", "csrf": token}).status_code == 403
        assert cora.post(f"/cases/{ref}/feedback/action", data={
            "corrective_action": "CAPA-1", "resolution_note": "x", "csrf": token}
        ).status_code == 403
    assert events(app, ref, "feedback_classified") == []


def test_the_log_shows_only_the_readers_queues(app, complaints):
    sales, support = complaints
    with signed_in(app, "anna", "staff", SALES) as anna:
        page = anna.get("/feedback")
        assert f'id="feedback-{sales}"' in page.text and f'id="feedback-{support}"' not in page.text
        answer = anna.post(f"/cases/{support}/feedback", data={
            "feedback_type": "praise", "csrf": form_token(anna, "/feedback")})
        assert answer.status_code == 403
    with signed_in(app, "ada", "admin") as ada:
        page = ada.get("/feedback")
        assert f'id="feedback-{sales}"' in page.text and f'id="feedback-{support}"' in page.text
    assert events(app, support, "feedback_classified") == []


def test_the_log_filters_by_the_period_received(app, complaints):
    sales = complaints[0]
    with signed_in(app, "anna", "staff", SALES) as anna:
        assert sales in anna.get("/feedback?since=2000-01-01&until=2999-01-01").text
        assert sales not in anna.get("/feedback?since=2999-01-01").text
        assert sales not in anna.get("/feedback?until=2000-01-01T00:00Z").text
        refused = anna.get("/feedback?since=last+week")
        assert refused.status_code == 400 and "not an ISO date" in refused.text


def test_type_severity_and_corrective_action_are_recorded_with_the_person(app, complaints):
    ref = complaints[0]
    with signed_in(app, "anna", "staff", SALES) as anna:
        case_page = anna.get(f"/cases/{ref}").text
        assert 'action="/cases/' + ref + '/feedback"' in case_page
        token = form_token(anna, f"/cases/{ref}")
        answer = anna.post(f"/cases/{ref}/feedback", data={
            "feedback_type": "complaint", "severity": "high", "csrf": token})
        assert answer.status_code == 303
        assert answer.headers["location"] == f"/cases/{ref}#feedback"
        answer = anna.post(f"/cases/{ref}/feedback/action", data={
            "corrective_action": "CAPA-2026-017", "resolution_note": "bearings replaced",
            "root_cause": "packaging", "csrf": token})
        assert answer.status_code == 303
        assert "CAPA-2026-017" in anna.get(f"/cases/{ref}").text
        assert "CAPA-2026-017" in anna.get("/feedback").text
    (classified,) = events(app, ref, "feedback_classified")
    assert classified.actor == "anna"
    assert classified.data["type"]["to"] == "complaint"
    assert classified.data["severity"]["to"] == "high"
    (action,) = events(app, ref, "corrective_action_recorded")
    assert action.actor == "anna" and action.data["corrective_action_ref"] == "CAPA-2026-017"
    assert action.data["root_cause"] == "packaging"
    record = show_case(app, actor="t", ref=ref).lifecycle["feedback"]
    assert (record["type"], record["severity"], record["resolution"]) == (
        "complaint", "high", "bearings replaced")


def test_refusals_are_answered_and_change_nothing(app, complaints):
    ref = complaints[0]
    with signed_in(app, "anna", "staff", SALES) as anna:
        assert anna.post(f"/cases/{ref}/feedback",
                         data={"feedback_type": "complaint"}).status_code == 403
        token = form_token(anna, "/feedback")
        unknown = anna.post(f"/cases/{ref}/feedback", data={
            "feedback_type": "rant", "csrf": token})
        assert unknown.status_code == 400
        nothing = anna.post(f"/cases/{ref}/feedback", data={"csrf": token})
        assert nothing.status_code == 400 and "type and/or a severity" in nothing.text
        empty = anna.post(f"/cases/{ref}/feedback/action", data={
            "corrective_action": "CAPA-1", "resolution_note": "  ", "csrf": token})
        assert empty.status_code == 409 and "resolution note is empty" in empty.text
        missing = anna.post("/cases/NPC-999999/feedback", data={
            "feedback_type": "praise", "csrf": token})
        assert missing.status_code == 404
    assert events(app, ref, "feedback_classified") == []
    assert events(app, ref, "corrective_action_recorded") == []


def test_a_complaint_is_retyped_only_by_a_quality_role_with_a_reason(app, complaints):
    ref = complaints[0]
    with signed_in(app, "anna", "staff", SALES) as anna:
        token = form_token(anna, f"/cases/{ref}")
        assert anna.post(f"/cases/{ref}/feedback", data={
            "feedback_type": "complaint", "csrf": token}).status_code == 303
        refused = anna.post(f"/cases/{ref}/feedback", data={
            "feedback_type": "suggestion", "note": "customer says it is a suggestion",
            "csrf": token})
        assert refused.status_code == 409
    assert show_case(app, actor="t", ref=ref).lifecycle["feedback"]["type"] == "complaint"
    with signed_in(app, "rita", "reviewer", SALES) as rita:
        token = form_token(rita, f"/cases/{ref}")
        no_reason = rita.post(f"/cases/{ref}/feedback", data={
            "feedback_type": "suggestion", "csrf": token})
        assert no_reason.status_code == 409
        done = rita.post(f"/cases/{ref}/feedback", data={
            "feedback_type": "suggestion", "note": "a proposal, no defect", "csrf": token})
        assert done.status_code == 303
    record = show_case(app, actor="t", ref=ref).lifecycle["feedback"]
    assert record["type"] == "suggestion"
    typed, changed = events(app, ref, "feedback_classified")
    assert typed.actor == "anna" and typed.data["type"]["to"] == "complaint"
    assert changed.actor == "rita" and changed.data["type"] == {
        "from": "complaint", "to": "suggestion"}
    assert changed.data["note"] == "a proposal, no defect"


def test_the_csv_download_is_of_the_readers_queues_and_in_the_access_log(app, complaints):
    sales, support = complaints
    with signed_in(app, "anna", "staff", SALES) as anna:
        assert anna.post("/feedback/export", data={}).status_code == 403
        answer = anna.post("/feedback/export", data={
            "since": "2000-01-01", "csrf": form_token(anna, "/feedback")})
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/csv")
        assert "attachment" in answer.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(answer.text)))
    assert [row[0] for row in rows[1:]] == [sales]
    exports = [r for r in audit_log(app, actor="t").rows if r["action"] == "export"]
    assert [(r["actor"], r["detail"]["what"], r["detail"]["queues"]) for r in exports] == [
        ("anna", "feedback log", [SALES])]
    assert exports[0]["detail"]["since"].startswith("2000-01-01")
    assert support not in answer.text


def test_what_customers_and_staff_wrote_is_shown_as_text(app, tmp_path):
    (ref,) = file_mail(app, tmp_path / "x", make_message(
        subject=f"Broken {SCRIPT}", body=COMPLAINT, sender=f'"{SCRIPT}" <m@evil.example>'))
    with signed_in(app, "ada", "admin") as ada:
        token = form_token(ada, "/feedback")
        assert ada.post(f"/cases/{ref}/feedback", data={
            "feedback_type": "complaint", "csrf": token}).status_code == 303
        assert ada.post(f"/cases/{ref}/feedback/action", data={
            "corrective_action": SCRIPT, "resolution_note": SCRIPT, "root_cause": SCRIPT,
            "csrf": token}).status_code == 303
        for path in ("/feedback", f"/cases/{ref}"):
            page = ada.get(path)
            assert page.status_code == 200 and "&lt;script&gt;" in page.text, path
            assert active_content(page.text) == [], path


def test_the_feedback_log_page_records_a_review_and_lists_it(app, complaints):
    sales, _support = complaints
    form = {"attendees": "cora, dan", "items": sales,
            "decisions": f"{sales}=no-action:\n"}
    with signed_in(app, "sam", "staff", SALES) as sam:  # works cases, no quality role
        token = form_token(sam, "/feedback")
        assert 'action="/feedback/reviews"' not in sam.get("/feedback").text
        assert sam.post("/feedback/reviews", data=form | {"csrf": token}).status_code == 403
    with signed_in(app, "cora", "compliance") as cora:
        token = form_token(cora, "/feedback")
        assert cora.post("/feedback/reviews", data=form).status_code == 403  # no token
        refused = cora.post("/feedback/reviews", data=form | {"csrf": token})
        assert refused.status_code in (400, 409) and "reason" in refused.text
        done = cora.post("/feedback/reviews", data=form | {
            "csrf": token, "decisions": f"{sales}=no-action:{SCRIPT} duplicate\n"})
        assert done.status_code == 303, done.text
        page = cora.get("/feedback").text
    (event,) = events(app, sales, "feedback_reviewed")
    assert (event.actor, event.data["decision"], event.data["attendees"]) == (
        "cora", "no-action", ["cora", "dan"])
    assert f'id="review-{event.data["review_id"]}"' in page and active_content(page) == []
    with signed_in(app, "sue", "staff", SUPPORT) as sue:  # another queue: not shown
        assert f'id="review-{event.data["review_id"]}"' not in sue.get("/feedback").text
