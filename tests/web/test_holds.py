"""Legal holds and retention expiry from the compliance desk: the services of ``commgate hold``
and ``commgate retention expire`` with the signed-in person as actor, each action in the access
log (and a case hold as a case event), compliance and admins only, CSRF on every form."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from gateway.db.models import Message
from gateway.services.cases import show_case
from gateway.services.compliance import audit_log, legal_holds
from tests.support.mail import make_message
from tests.support.web import file_mail, form_token, signed_in


@pytest.fixture
def expired(app, tmp_path):
    """Three cases whose messages are past retention (their retain_until moved back a day)."""
    refs = file_mail(app, tmp_path / "in", *(
        make_message(subject=f"Order {n}", sender=f"buyer{n}@firm{n}.example",
                     body=f"Please ship order {n}.") for n in range(3)))
    with app.db.session() as session:
        session.execute(update(Message).values(
            retain_until=datetime.now(UTC) - timedelta(days=1)))
    return refs


def access(app, action):
    return [(r["actor"], r["detail"]) for r in audit_log(app, actor="test", action=action).rows]


def figure(html, name):
    found = re.search(rf'<dd id="{name}">(\d+)', html)
    assert found, name
    return int(found.group(1))


def test_the_pages_need_a_session_and_the_compliance_role(app, client):
    for path in ("/audit/holds", "/audit/retention"):
        assert client.get(path).status_code == 303
    assert client.post("/audit/holds", data={"scope": "alias"}).status_code == 303
    assert client.post("/audit/retention/expire", data={"confirm": "yes"}).status_code == 303
    with signed_in(app, "anna", "staff", "sales@northpoint.example") as anna:
        token = form_token(anna, "/cases")
        for path in ("/audit/holds", "/audit/retention"):
            assert anna.get(path).status_code == 403
        assert anna.post("/audit/holds", data={
            "scope": "alias", "value": "sales@northpoint.example", "reason": "x",
            "csrf": token}).status_code == 403
        assert anna.post("/audit/retention/expire", data={
            "confirm": "yes", "csrf": token}).status_code == 403
    assert legal_holds(app, actor="test").rows == () and access(app, "purge") == []
    with signed_in(app, "cora", "compliance") as cora:
        assert 'href="/audit/holds"' in cora.get("/audit").text


def test_a_hold_is_placed_and_released_by_the_signed_in_person(app, expired):
    ref = expired[0]
    with signed_in(app, "cora", "compliance") as cora:
        assert cora.post("/audit/holds", data={
            "scope": "case", "value": ref, "reason": "litigation"}).status_code == 403
        answer = cora.post("/audit/holds", data={
            "scope": "case", "value": ref, "reason": "litigation 2026-17",
            "csrf": form_token(cora, "/audit/holds")})
        assert answer.status_code == 303
        page = cora.get(answer.headers["location"]).text
        (hold,) = legal_holds(app, actor="test").rows
        assert f"legal hold {hold['id']} placed on case {ref}" in page
        assert f'id="hold-{hold["id"]}"' in page and "litigation 2026-17" in page
    assert hold["created_by"] == "cora"
    assert access(app, "hold") == [("cora", {"hold": hold["id"], "scope": "case",
                                             "value": ref, "reason": "litigation 2026-17"})]
    placed = [e for e in show_case(app, actor="test", ref=ref).events
              if e.kind == "legal_hold_placed"]
    assert [e.actor for e in placed] == ["cora"]
    with signed_in(app, "ada", "admin") as ada:
        path = f"/audit/holds/{hold['id']}/release"
        assert ada.post(path, data={"note": "settled"}).status_code == 403
        answer = ada.post(path, data={"note": "settled",
                                      "csrf": form_token(ada, "/audit/holds")})
        assert answer.status_code == 303
        assert f'id="hold-{hold["id"]}"' not in ada.get("/audit/holds").text
        assert f'id="hold-{hold["id"]}"' in ada.get("/audit/holds?all=1").text
        # Released once: a second release is refused.
        assert ada.post(path, data={"csrf": form_token(ada, "/audit/holds")}
                        ).status_code == 409
    assert legal_holds(app, actor="test").rows == ()
    assert access(app, "release") == [("ada", {"hold": hold["id"], "note": "settled"})]


def test_the_dry_run_shows_what_expiry_would_remove_and_the_run_removes_it(app, expired):
    held_ref = expired[0]
    with signed_in(app, "cora", "compliance") as cora:
        token = form_token(cora, "/audit/holds")
        assert cora.post("/audit/holds", data={"scope": "case", "value": held_ref,
                                               "reason": "audit", "csrf": token}
                         ).status_code == 303
        page = cora.get("/audit/retention").text
        assert figure(page, "expire-messages") == len(expired) - 1
        assert figure(page, "expire-blobs") == len(expired) - 1
        assert figure(page, "expire-held") == 1
        assert access(app, "purge") == []  # the dry run removes and records nothing
        token = form_token(cora, "/audit/retention")
        assert cora.post("/audit/retention/expire", data={"csrf": token}).status_code == 400
        assert cora.post("/audit/retention/expire", data={"confirm": "yes"}).status_code == 403
        answer = cora.post("/audit/retention/expire", data={"confirm": "yes", "csrf": token})
        assert answer.status_code == 303
        assert f"removed {len(expired) - 1} blob(s)" in cora.get(
            answer.headers["location"]).text
        assert figure(cora.get("/audit/retention").text, "expire-messages") == 0
    ((actor, detail),) = access(app, "purge")
    assert actor == "cora" and detail["expired_messages"] == len(expired) - 1
    with app.db.session() as session:
        purged = {case_ref for case_ref, when in session.execute(
            select(Message.case_id, Message.purged_at)) if when is not None}
    assert len(purged) == len(expired) - 1
    held = show_case(app, actor="test", ref=held_ref)
    assert not [e for e in held.events if e.kind == "message_purged"]
    for ref in expired[1:]:
        assert [e.actor for e in show_case(app, actor="test", ref=ref).events
                if e.kind == "message_purged"] == ["cora"]
