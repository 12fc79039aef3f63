"""The audit page: compliance and admins only; archive status (ledger, last checkpoint, last
verify), holds, retention, the access log, and the evidence package of ``audit export``
downloaded and verified offline."""

from __future__ import annotations

import pytest

from gateway.bootstrap import App
from gateway.services.archive import sign_checkpoint, verify_archive
from gateway.services.compliance import audit_log, place_legal_hold
from gateway.services.package_check import check_package
from tests.support.checkpoints import configure_checkpoint_key, rewrite_entry
from tests.support.mail import make_message
from tests.support.web import csrf_of, file_mail, signed_in

SALES = "sales@northpoint.example"


@pytest.fixture
def refs(app, tmp_path):
    return file_mail(app, tmp_path / "in", make_message(subject="Pump housings", to=SALES),
                     make_message(subject="Seal", sender="Bo <bo@other.example>"))


def test_audit_needs_a_session_and_the_compliance_role(app, client, refs):
    assert client.get("/audit").status_code == 303
    assert client.post("/audit/export", data={}).status_code == 303
    for role in ("staff", "reviewer"):
        with signed_in(app, f"x{role}", role, SALES) as person:
            assert person.get("/audit").status_code == 403
            token = csrf_of(person.get("/cases").text)
            assert person.post("/audit/export", data={"csrf": token}).status_code == 403
    assert not [r for r in audit_log(app, actor="test").rows if r["action"] == "export"]


def test_the_status_shows_ledger_checkpoint_and_verify(app, refs):
    with signed_in(app, "cora", "compliance") as cora:
        before = cora.get("/audit").text
        assert "never: run" in before
        report = verify_archive(app, actor="test")
        assert report.ok
        after = cora.get("/audit").text
    entries = app.archive.ledger.head().seq
    assert f"{entries} entries" in after and "intact" in after and "never: run" not in after


def test_a_failed_verify_is_shown_with_its_first_problem(app, refs):
    rewrite_entry(app.archive, 1)
    report = verify_archive(app, actor="test")
    assert not report.ok
    with signed_in(app, "cora", "compliance") as cora:
        page = cora.get("/audit").text
    assert "FAILED" in page and f"at seq {report.report['problem']['seq']}" in page


def test_the_status_names_the_last_signed_checkpoint(home, tmp_path):
    configure_checkpoint_key(home, tmp_path / "keys")
    signed = App.open(home)
    try:
        file_mail(signed, tmp_path / "in", make_message())
        checkpoint = sign_checkpoint(signed, actor="test").checkpoint
        with signed_in(signed, "cora", "compliance") as cora:
            page = cora.get("/audit").text
    finally:
        signed.close()
    assert f"{checkpoint.tree_size} entries, signed {checkpoint.time}" in page


def test_holds_and_the_access_log_are_listed(app, refs):
    place_legal_hold(app, actor="lea", scope="case", value=refs[0], reason="dispute 2026-11")
    with signed_in(app, "cora", "compliance") as cora:
        page = cora.get("/audit").text
        filtered = cora.get("/audit?action=search").text
    assert "dispute 2026-11" in page and refs[0] in page
    assert ">lea<" in page and ">hold<" in page
    assert ">hold<" not in filtered


def test_an_evidence_package_downloads_and_verifies(app, refs, tmp_path):
    with signed_in(app, "cora", "compliance") as cora:
        token = csrf_of(cora.get("/audit").text)
        assert cora.post("/audit/export", data={"cases": refs[0]}).status_code == 403
        answer = cora.post("/audit/export", data={"cases": refs[0], "csrf": token})
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/zip"
    assert answer.headers["content-disposition"].startswith("attachment;")
    package = tmp_path / "evidence.zip"
    package.write_bytes(answer.content)
    checked = check_package(package=package, public_key=None)
    assert checked.status in ("verified", "unsigned") and not checked.problems
    assert checked.messages == 1
    (export,) = [r for r in audit_log(app, actor="test").rows if r["action"] == "export"]
    assert export["actor"] == "cora" and str(export["seq"]) == answer.headers[
        "x-commgate-export-seq"]


def test_a_bad_date_is_a_form_error(app, refs):
    with signed_in(app, "cora", "compliance") as cora:
        token = csrf_of(cora.get("/audit").text)
        answer = cora.post("/audit/export", data={"date_from": "last week", "csrf": token})
    assert answer.status_code == 400 and "not a date" in answer.text
