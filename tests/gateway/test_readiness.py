"""Audit readiness below the command line: the registries (what the procedure measures, what a
mock audit expects), their extension by one function and one line, the first-response measure,
and the audit pack's guard on the files added to an evidence package."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from gateway.bootstrap import App
from gateway.core.clock import utcnow
from gateway.core.errors import EvidenceError
from gateway.db.events import case_by_ref
from gateway.db.feedback import FeedbackRecord
from gateway.evidence.package import export_package
from gateway.evidence.select import Selection
from gateway.services.compliance import audit_log
from gateway.workflows import conformance as cf
from gateway.workflows import mock_audit
from tests.support.mail import make_message
from tests.support.web import file_mail

TARGETS = """
[[lifecycle.targets]]
alias = "sales@northpoint.example"
owner_role = "sales"
first_response_hours = 4
"""


def test_the_registries_name_known_elements_and_kinds_once():
    kinds = [k.kind for k in mock_audit.KINDS]
    assert [c.name for c in cf.CHECKS] == [
        "replies-from-published-templates", "documents-sent-as-published",
        "orders-with-complete-review", "orders-with-changes-confirmed",
        "scope-changes-confirmed", "complaints-with-corrective-action",
        "feedback-reviewed-on-cadence", "property-with-custody-records",
        "non-happy-path-replies-approved", "calls-and-meetings-recorded",
        "first-response-within-target", "resolution-within-target"]
    assert kinds == ["order", "scope-change", "complaint", "property"]
    # 13 of the records themselves, a complaint's feedback review, and on the case of every
    # kind: replies approved, calls and meetings, documents sent (4 x 3).
    assert len(mock_audit.TRACE_CHECKS) == 26
    assert {c.element for c in cf.CHECKS} | {c.element for c in mock_audit.TRACE_CHECKS} <= set(
        cf.ELEMENTS)
    assert {c.kind for c in mock_audit.TRACE_CHECKS} == set(kinds)
    assert len({(c.kind, c.name) for c in mock_audit.TRACE_CHECKS}) == 26


def test_a_new_rule_and_a_new_piece_of_evidence_are_one_function_each(app, tmp_path):
    (ref,) = file_mail(app, tmp_path / "in", make_message(subject="Complaint",
                                                          to="support@northpoint.example"))

    def phone_notes(session, settings, since):
        return cf.Measured(0, 1, (cf.Finding(ref, "no phone note on the record"),))

    def noted(session, settings, sampled):
        return mock_audit.MISSING, "no phone note"

    every_case = mock_audit.SampleKind("case", "cases", lambda session, since: [
        mock_audit.Sampled("case", c.id, c, c, c.subject)
        for c in [case_by_ref(session, ref)]])
    with app.db.session() as session:
        (measured,) = cf.measure_all(session, app.settings, utcnow() - timedelta(days=1), [
            cf.ConformanceCheck("calls-on-record", "response", "calls noted", phone_notes)])
        sample = mock_audit.take_sample(
            session, app.settings, since=utcnow() - timedelta(days=1), per_kind=3, seed=1,
            kinds=[every_case],
            checks=[mock_audit.TraceCheck("case", "phone note", "response", noted)])
    assert measured.to_json()["failing"] == [{"ref": ref, "reason": "no phone note on the "
                                              "record"}]
    assert [(t.ref, [(e.name, e.status) for e in t.evidence]) for t in sample.traces] == [
        (ref, [("phone note", "missing")])]
    assert sample.elements["response"].to_json() == {"present": 0, "missing": 1, "score": 0.0}


def test_a_first_response_is_judged_only_once_due(home, tmp_path):
    config = home / "commgate.toml"
    config.write_text(config.read_text() + "\n[lifecycle]\n" + TARGETS)
    app = App.open(home)
    try:
        (ref,) = file_mail(app, tmp_path / "in", make_message(subject="Quote for 20 pieces"))
        with app.db.session() as session:
            case = case_by_ref(session, ref)
            due = case.first_response_due
            assert due is not None
            assert cf.first_response_gap(case, due - timedelta(minutes=1)) == ""
            late = cf.first_response_gap(case, due + timedelta(minutes=1))
            measured = cf.first_responses_within_target(session, app.settings,
                                                        utcnow() - timedelta(days=1))
    finally:
        app.close()
    assert late == f"no first response; due {due.isoformat().replace('+00:00', 'Z')}"
    assert (measured.numerator, measured.denominator) == (0, 0)  # not yet due: not judged


@pytest.mark.parametrize("name", ["procedure.md", "messages/1-x.eml", "audit/../x",
                                  "audit//x", "audit\\x"])
def test_extra_files_cannot_take_a_name_of_the_package(app, tmp_path, name):
    file_mail(app, tmp_path / "in", make_message())
    with pytest.raises(EvidenceError, match="cannot be added"):
        export_package(app, Selection(cases=("NPC-000001",)), tmp_path / "p.zip", "qa",
                       extra_files={name: b"x"}, purpose="test")
    assert not (tmp_path / "p.zip").exists()
    assert not [r for r in audit_log(app, actor="test").rows if r["action"] == "export"]


def test_a_complaint_no_review_took_up_within_the_cadence_is_missing_and_never_reviewed(
        app, tmp_path):
    (ref,) = file_mail(app, tmp_path / "in", make_message(
        subject="Complaint: burrs on pump housings", to="support@northpoint.example",
        body="This is a formal complaint: the housings arrived with burrs in the bore."))
    recorded = utcnow() - timedelta(days=100)  # the cadence (90 days) has passed since
    with app.db.session() as session:
        case = case_by_ref(session, ref)
        row = session.scalars(select(FeedbackRecord).where(
            FeedbackRecord.case_id == case.id)).one()
        row.type, row.created_at = "complaint", recorded
    with app.db.session() as session:
        case = case_by_ref(session, ref)
        row = session.scalars(select(FeedbackRecord).where(
            FeedbackRecord.case_id == case.id)).one()
        sampled = mock_audit.Sampled("complaint", row.id, (row, []), case, case.subject)
        outcome = mock_audit.complaint_reviewed(session, app.settings, sampled)
        measured = cf.feedback_reviewed_on_cadence(session, app.settings,
                                                   utcnow() - timedelta(days=120))
    when = recorded.isoformat().replace("+00:00", "Z")
    assert outcome == (mock_audit.MISSING,
                       f"not taken up by a feedback review within 90 days of {when}")
    assert [f for f in measured.failing if f.ref == ref] == [cf.Finding(
        ref, f"complaint recorded {when} was never taken up by a feedback review")]
