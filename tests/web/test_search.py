"""The search page: ``commgate search``'s service, the search in the access log with the
person, hits limited to the reader's queues."""

from __future__ import annotations

import pytest

from gateway.services.compliance import audit_log
from tests.support.mail import make_message
from tests.support.web import file_mail, signed_in

SALES, SUPPORT = "sales@northpoint.example", "support@northpoint.example"


@pytest.fixture
def refs(app, tmp_path):
    return file_mail(app, tmp_path / "in",
                     make_message(subject="Pump housings", body="Twenty pump housings.",
                                  to=SALES),
                     make_message(subject="Pump seal broken", body="The pump seal broke.",
                                  sender="Bo <bo@other.example>", to=SUPPORT))


def test_search_needs_a_session(client, refs):
    answer = client.get("/search?q=pump")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")


def test_search_finds_and_is_in_the_access_log(app, refs):
    with signed_in(app, "cora", "compliance") as cora:
        page = cora.get("/search?q=pump")
    assert page.status_code == 200 and refs[0] in page.text and refs[1] in page.text
    (record,) = [r for r in audit_log(app, actor="test").rows if r["action"] == "search"]
    assert record["actor"] == "cora" and record["detail"]["query"] == "pump"
    assert f"entry {record['seq']}" in page.text


def test_an_empty_form_searches_nothing_and_records_nothing(app, refs):
    with signed_in(app, "cora", "compliance") as cora:
        assert cora.get("/search").status_code == 200
    assert not [r for r in audit_log(app, actor="test").rows if r["action"] == "search"]


def test_staff_see_only_hits_of_their_queues(app, refs):
    with signed_in(app, "sam", "staff", SUPPORT) as sam:
        page = sam.get("/search?q=pump")
        assert refs[1] in page.text and refs[0] not in page.text
        assert sam.get(f"/search?q=pump&alias={SALES}").status_code == 403
        assert sam.get("/search?q=pump&category=bogus").status_code == 400
