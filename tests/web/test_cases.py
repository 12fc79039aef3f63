"""The case list and the case page: who may see what, what a view leaves in the access log,
and the status change recorded as the same case event the command line records."""

from __future__ import annotations

import pytest

from gateway.services.cases import show_case
from gateway.services.compliance import audit_log
from gateway.web.security import PAGE_CSP
from tests.support.mail import make_message
from tests.support.web import account, file_mail, form_token, log_in, signed_in

SALES, SUPPORT = "sales@northpoint.example", "support@northpoint.example"


@pytest.fixture
def refs(app, tmp_path):
    """Two cases: one in the sales queue, one in the support queue."""
    return file_mail(app, tmp_path / "in",
                     make_message(subject="Quote for 20 pump housings", to=SALES),
                     make_message(subject="Broken seal on delivery 778",
                                  sender="Bo <bo@other.example>", to=SUPPORT))


def test_every_page_sends_a_visitor_without_a_session_to_the_login(client, refs):
    for path in ("/cases", f"/cases/{refs[0]}", f"/cases/{refs[0]}/messages/1/html",
                 f"/cases/{refs[0]}/messages/1/attachments/0", "/logout"):
        answer = client.get(path)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/login?next=%2F")
    assert client.post(f"/cases/{refs[0]}/status", data={"status": "open"}).status_code == 303


def test_the_list_shows_only_the_queues_a_person_has_rights_to(app, refs):
    with signed_in(app, "sam", "staff", SUPPORT) as sam:
        page = sam.get("/cases")
        assert page.status_code == 200
        assert refs[1] in page.text and refs[0] not in page.text
        assert sam.get(f"/cases?alias={SALES}").status_code == 403
        assert sam.get(f"/cases/{refs[0]}").status_code == 403
        assert sam.get(f"/cases/{refs[0]}/messages/1/html").status_code == 403
    with signed_in(app, "cora", "compliance") as cora:
        page = cora.get("/cases")
        assert refs[0] in page.text and refs[1] in page.text


def test_a_view_of_a_case_is_in_the_access_log_with_the_person(app, refs):
    with signed_in(app, "anna", "staff", SALES) as anna:
        page = anna.get(f"/cases/{refs[0]}")
    assert page.status_code == 200 and "Quote for 20 pump housings" in page.text
    records = [r for r in audit_log(app, actor="test").rows if r["action"] == "view-raw"]
    assert len(records) == 1
    assert records[0]["actor"] == "anna" and records[0]["detail"]["case"] == refs[0]
    sha = show_case(app, actor="test", ref=refs[0]).messages[0]["sha256"]
    assert records[0]["detail"]["sha256s"] == [sha]


def test_a_status_change_is_the_case_event_with_the_person_as_actor(app, refs):
    with signed_in(app, "anna", "staff", SALES) as anna:
        token = form_token(anna, f"/cases/{refs[0]}")
        answer = anna.post(f"/cases/{refs[0]}/status",
                           data={"status": "waiting", "note": "asked for drawings",
                                 "csrf": token})
        assert answer.status_code == 303 and answer.headers["location"] == f"/cases/{refs[0]}"
    case = show_case(app, actor="test", ref=refs[0])
    assert case.status == "waiting"
    event = [e for e in case.events if e.kind == "status_changed"][-1]
    assert event.actor == "anna"
    assert event.data["to"] == "waiting" and event.data["note"] == "asked for drawings"


def test_a_status_change_without_the_csrf_token_is_refused(app, refs):
    with signed_in(app, "anna", "staff", SALES) as anna:
        answer = anna.post(f"/cases/{refs[0]}/status", data={"status": "closed"})
        assert answer.status_code == 403
        forged = anna.post(f"/cases/{refs[0]}/status", data={"status": "closed",
                                                              "csrf": "guessed"})
        assert forged.status_code == 403
    assert show_case(app, actor="test", ref=refs[0]).status == "new"


def test_compliance_reads_cases_but_does_not_work_them(app, refs):
    with signed_in(app, "cora", "compliance") as cora:
        page = cora.get(f"/cases/{refs[0]}")
        assert page.status_code == 200 and "Change status" not in page.text
        answer = cora.post(f"/cases/{refs[0]}/status",
                           data={"status": "open", "csrf": form_token(cora, "/cases")})
        assert answer.status_code == 403


def test_staff_cannot_change_a_case_of_another_queue(app, refs):
    with signed_in(app, "sam", "staff", SUPPORT) as sam:
        answer = sam.post(f"/cases/{refs[0]}/status",
                          data={"status": "open", "csrf": form_token(sam, "/cases")})
        assert answer.status_code == 403
    assert show_case(app, actor="test", ref=refs[0]).status == "new"


def test_a_refused_transition_is_shown_not_recorded(app, refs):
    with signed_in(app, "anna", "staff", SALES) as anna:
        token = form_token(anna, f"/cases/{refs[0]}")
        answer = anna.post(f"/cases/{refs[0]}/status", data={"status": "closed",
                                                              "csrf": token})
    assert answer.status_code == 409
    assert "a new case can only become open or waiting or resolved" in answer.text
    case = show_case(app, actor="test", ref=refs[0])
    assert case.status == "new" and not [e for e in case.events if e.kind == "status_changed"]


def test_security_headers_are_on_every_response(app, client, refs):
    account(app, "anna", "admin")
    log_in(client, "anna")
    for path in ("/login", "/cases", f"/cases/{refs[0]}", "/static/app.css", "/cases/NPC-9999"):
        answer = client.get(path)
        assert answer.headers["x-content-type-options"] == "nosniff", path
        assert answer.headers["referrer-policy"] == "no-referrer", path
        assert answer.headers["content-security-policy"] == PAGE_CSP, path
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    assert client.get("/cases/NPC-9999").status_code == 404


def test_the_list_pages_through_every_case_once(app, tmp_path, monkeypatch):
    monkeypatch.setattr("gateway.web.pages.PAGE_SIZE", 2)
    refs = file_mail(app, tmp_path / "in", *(make_message(
        subject=f"Enquiry {n}", sender=f"C{n} <c{n}@firm{n}.example>") for n in range(5)))
    seen: list[str] = []
    with signed_in(app, "cora", "compliance") as cora:
        path: str | None = "/cases"
        while path:
            page = cora.get(path)
            seen += [ref for ref in refs if f">{ref}</a>" in page.text]
            link = page.text.split('rel="next" href="', 1)
            path = link[1].split('"', 1)[0].replace("&amp;", "&") if len(link) > 1 else None
    assert sorted(seen) == sorted(refs) and len(seen) == len(refs)


def test_the_list_filters_by_customer_status_and_text(app, refs):
    with signed_in(app, "cora", "compliance") as cora:
        by_customer = cora.get("/cases?customer=other.example").text
        assert refs[1] in by_customer and refs[0] not in by_customer
        assert refs[0] not in cora.get("/cases?status=closed").text
        by_text = cora.get("/cases?q=pump").text
        assert refs[0] in by_text and refs[1] not in by_text
        assert cora.get("/cases?status=bogus").status_code == 400
    searches = [r for r in audit_log(app, actor="test").rows if r["action"] == "search"]
    assert [(r["actor"], r["detail"]["query"]) for r in searches] == [("cora", "pump")]


def test_a_fault_is_a_500_with_the_security_headers(app, refs, caplog):
    """A message whose archived bytes are gone (a broken archive, not a missing case)."""
    sha = show_case(app, actor="test", ref=refs[0]).messages[0]["sha256"]
    (app.settings.archive_path / "blobs" / sha[:2] / sha).unlink()
    with signed_in(app, "anna", "admin") as anna:
        answer = anna.get(f"/cases/{refs[0]}")
    assert answer.status_code == 500 and "Traceback" not in answer.text
    assert answer.headers["content-security-policy"] == PAGE_CSP
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert f"GET /cases/{refs[0]} failed" in caplog.text
