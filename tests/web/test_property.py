"""The property register pages and the case page's property actions: the register and an
item's chain of custody limited to the reader's queues, and register, confirm, receive, move
and status changes recorded as the same case events and custody steps ``commgate property``
records, with the signed-in person as actor; the workflow's refusals shown with their reason."""

from __future__ import annotations

import re

import pytest

from gateway.services.cases import show_case
from gateway.services.property import list_items, show_item
from tests.support.mail import make_message
from tests.support.web import (
    SCRIPT,
    active_content,
    file_mail,
    form_token,
    signed_in,
)

SALES, SUPPORT = "sales@northpoint.example", "support@northpoint.example"
NOTICE = dict(subject="Test fixture for order 4500871234",
              body="Hello,\nwe are sending our test fixture serial no. FX-2291 for the pump "
                   "housings by courier. It should arrive on Tuesday. Please handle with care."
                   "\n\nRegards\nAnna")
_ITEM = re.compile(r"#item-(\d+)$")


@pytest.fixture
def cases(app, tmp_path):
    """An enquiry in the sales queue and one in the support queue: (sales ref, support ref)."""
    refs = file_mail(app, tmp_path / "in", make_message(subject="Quote for housings"),
                     make_message(subject="Quote for shafts", to=SUPPORT,
                                  sender="ben@other.example"))
    return tuple(next(r for r in refs if show_case(app, actor="t", ref=r).alias == alias)
                 for alias in (SALES, SUPPORT))


def add(client, ref, **fields):
    """Register an item through the case page's form; the item's id."""
    answer = client.post(f"/cases/{ref}/property", data={
        "kind": "tooling", "description": "Test fixture FX-2291",
        "csrf": form_token(client, f"/cases/{ref}"), **fields})
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"].startswith(f"/cases/{ref}#item-")
    return int(_ITEM.search(answer.headers["location"]).group(1))


def post(client, path, **fields):
    return client.post(path, data={"csrf": form_token(client, "/property"), **fields})


def events(app, ref, kind):
    return [e for e in show_case(app, actor="t", ref=ref).events if e.kind == kind]


def test_the_pages_need_a_session_and_the_actions_the_right_to_work(app, client, cases):
    ref = cases[0]
    assert client.get("/property").status_code == 303
    assert client.get("/property/1").status_code == 303
    assert client.post(f"/cases/{ref}/property", data={"kind": "tooling"}).status_code == 303
    assert client.post("/property/1/receive").status_code == 303
    with signed_in(app, "ada", "admin") as ada:
        item = add(ada, ref)
    with signed_in(app, "cora", "compliance") as cora:
        assert cora.get("/property").status_code == 200
        assert cora.get(f"/property/{item}").status_code == 200
        assert 'action="/property/' not in cora.get(f"/cases/{ref}").text
        refused = post(cora, f"/cases/{ref}/property", kind="tooling", description="x")
        assert refused.status_code == 403
        assert post(cora, f"/property/{item}/receive", condition="ok",
                    location="shelf").status_code == 403
    assert [i.id for i in list_items(app, actor="t").items] == [item]
    assert show_item(app, actor="t", item_id=item).status == "announced"


def test_the_register_and_items_are_limited_to_the_readers_queues(app, cases):
    sales, support = cases
    with signed_in(app, "ada", "admin") as ada:
        mine, theirs = add(ada, sales), add(ada, support, description="Shaft gauge")
    with signed_in(app, "anna", "staff", SALES) as anna:
        page = anna.get("/property").text
        assert f'id="item-{mine}"' in page and f'id="item-{theirs}"' not in page
        assert anna.get(f"/property/{theirs}").status_code == 403
        assert post(anna, f"/property/{theirs}/receive", condition="ok",
                    location="shelf").status_code == 403
        assert post(anna, f"/cases/{support}/property", kind="tooling",
                    description="x").status_code == 403
    assert show_item(app, actor="t", item_id=theirs).status == "announced"
    assert len(list_items(app, actor="t").items) == 2


def test_an_item_is_registered_received_moved_and_returned_as_the_person(app, cases):
    ref = cases[0]
    with signed_in(app, "anna", "staff", SALES) as anna:
        item = add(anna, ref, identifiers="serial=FX-2291\ndrawing=D-4471",
                   handling="keep dry")
        assert f'action="/property/{item}/receive"' in anna.get(f"/cases/{ref}").text
        assert post(anna, f"/property/{item}/receive", condition="no visible damage",
                    location="store B2").status_code == 303
        assert post(anna, f"/property/{item}/move", location="test bench 3",
                    note="for the first article").status_code == 303
        refused = post(anna, f"/property/{item}/status", status="returned",
                       note="sent back with the parts")
        assert refused.status_code == 409 and "destination" in refused.text
        answer = post(anna, f"/property/{item}/status", status="returned",
                      note="sent back with the parts", destination="Flanges GmbH, Linz",
                      shipping_ref="DHL 00340434161094042557")
        assert answer.status_code == 303
        assert answer.headers["location"] == f"/cases/{ref}#item-{item}"
        page = anna.get(f"/property/{item}").text
        for text in ("registered", "store B2", "test bench 3", "sent back with the parts",
                     "serial=FX-2291"):
            assert text in page, text
    detail = show_item(app, actor="t", item_id=item)
    assert (detail.status, detail.condition, detail.location) == (
        "returned", "no visible damage",
        "returned to Flanges GmbH, Linz (shipment DHL 00340434161094042557)")
    assert detail.identifiers == [{"kind": "serial", "value": "FX-2291"},
                                  {"kind": "drawing", "value": "D-4471"}]
    assert [(h["actor"], h["action"], h["to"]) for h in detail.history] == [
        ("anna", "registered", "announced"), ("anna", "status", "received"),
        ("anna", "moved", "received"), ("anna", "status", "returned")]
    for kind in ("property_registered", "property_received", "property_moved",
                 "property_status_changed"):
        assert [e.actor for e in events(app, ref, kind)] == ["anna"], kind


def test_a_proposal_from_a_notice_is_confirmed_as_the_person(app, tmp_path):
    (ref,) = file_mail(app, tmp_path / "notice", make_message(**NOTICE))
    (proposed,) = list_items(app, actor="t").items
    assert proposed.proposed
    with signed_in(app, "anna", "staff", SALES) as anna:
        page = anna.get(f"/cases/{ref}").text
        assert f'action="/property/{proposed.id}/confirm"' in page
        assert f'action="/property/{proposed.id}/receive"' not in page
        assert post(anna, f"/property/{proposed.id}/confirm", kind="drone",
                    description="x").status_code == 400
        assert post(anna, f"/property/{proposed.id}/confirm", kind="tooling",
                    description="Test fixture FX-2291").status_code == 303
        assert f'action="/property/{proposed.id}/receive"' in anna.get(f"/cases/{ref}").text
    detail = show_item(app, actor="t", item_id=proposed.id)
    assert (detail.proposed, detail.kind, detail.description) == (
        False, "tooling", "Test fixture FX-2291")
    assert [e.actor for e in events(app, ref, "property_confirmed")] == ["anna"]


def test_the_workflows_refusals_are_answered_and_change_nothing(app, cases):
    ref = cases[0]
    with signed_in(app, "anna", "staff", SALES) as anna:
        item = add(anna, ref)
        early = post(anna, f"/property/{item}/status", status="returned")
        assert early.status_code == 409
        assert "cannot go from announced to returned" in early.text
        assert post(anna, f"/property/{item}/status", status="gone").status_code == 400
        assert post(anna, f"/property/{item}/receive", condition="ok",
                    location="  ").status_code == 409
        assert post(anna, f"/property/{item}/move", location="shelf").status_code == 409
        assert post(anna, f"/property/{item}/receive", condition="ok",
                    location="shelf").status_code == 303
        unexplained = post(anna, f"/property/{item}/status", status="destroyed")
        assert unexplained.status_code == 409 and "needs a note" in unexplained.text
        assert post(anna, f"/cases/{ref}/property", kind="spaceship",
                    description="x").status_code == 400
        assert post(anna, f"/cases/{ref}/property", kind="tooling",
                    description="x", identifiers="no equals sign").status_code == 409
        assert post(anna, "/property/99999/receive", condition="ok",
                    location="shelf").status_code == 409
    detail = show_item(app, actor="t", item_id=item)
    assert detail.status == "received" and len(detail.history) == 2
    assert len(list_items(app, actor="t").items) == 1


def test_an_action_without_the_csrf_token_is_refused(app, cases):
    ref = cases[0]
    with signed_in(app, "anna", "staff", SALES) as anna:
        anna.get(f"/cases/{ref}")
        assert anna.post(f"/cases/{ref}/property", data={
            "kind": "tooling", "description": "x"}).status_code == 403
        item = add(anna, ref)
        assert anna.post(f"/property/{item}/receive", data={
            "condition": "ok", "location": "shelf", "csrf": "forged"}).status_code == 403
    assert [i.status for i in list_items(app, actor="t").items] == ["announced"]


def test_the_register_filters_by_owner_and_status(app, cases):
    sales = cases[0]
    with signed_in(app, "ada", "admin") as ada:
        first = add(ada, sales)
        second = add(ada, sales, owner="lab@partner.example", description="Sample")
        post(ada, f"/property/{second}/receive", condition="ok", location="lab")
        by_owner = ada.get("/property?customer=partner.example").text
        assert f'id="item-{second}"' in by_owner and f'id="item-{first}"' not in by_owner
        received = ada.get("/property?status=received").text
        assert f'id="item-{second}"' in received and f'id="item-{first}"' not in received
        assert ada.get("/property?status=nonsense").status_code == 400


def test_what_customers_and_staff_wrote_is_shown_as_text(app, tmp_path):
    (ref,) = file_mail(app, tmp_path / "x", make_message(
        subject=f"Fixture {SCRIPT}", sender=f'"{SCRIPT}" <mallory@evil.example>'))
    with signed_in(app, "ada", "admin") as ada:
        item = add(ada, ref, description=f"Jig {SCRIPT}", handling=SCRIPT,
                   identifiers=f"serial={SCRIPT}")
        post(ada, f"/property/{item}/receive", condition=SCRIPT, location=SCRIPT, note=SCRIPT)
        for path in ("/property", f"/property/{item}", f"/cases/{ref}"):
            page = ada.get(path)
            assert page.status_code == 200 and "&lt;script&gt;" in page.text, path
            assert active_content(page.text) == [], path
