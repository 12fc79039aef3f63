"""The case list's owner-role and overdue filters: exactly the cases the lifecycle calls
overdue (gateway/workflows/lifecycle.py overdue_at, the condition escalation uses), with the
other filters and the reader's queues still applied."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import update

from gateway.core.clock import utcnow
from gateway.db.models import Case
from gateway.workflows.lifecycle import escalate_overdue
from tests.support.mail import make_message
from tests.support.web import account, file_mail, log_in, web_client

SALES, SUPPORT = "sales@northpoint.example", "support@northpoint.example"
HOUR = timedelta(hours=1)

# name: (queue, status, owner role, first response due, first response at, resolution due)
# (hours from now; None: not set); the last column says whether the case is overdue.
CASES = {
    "first-response-missed": (SALES, "new", "quality", -2, None, 40, True),
    "first-response-sent": (SALES, "open", "staff", -2, -3, 40, False),
    "resolution-missed": (SALES, "waiting", "staff", -30, -29, -1, True),
    "resolved-late": (SALES, "resolved", "quality", -30, None, -1, False),
    "not-yet-due": (SALES, "open", "quality", 2, None, 40, False),
    "no-targets": (SALES, "new", "staff", None, None, None, False),
    "other-queue-missed": (SUPPORT, "open", "quality", -2, None, None, True),
}


def hours(value):
    return None if value is None else utcnow() + value * HOUR


@pytest.fixture(scope="module")
def listed(module_app, tmp_path_factory):
    """The cases of :data:`CASES` (name -> reference), their lifecycle fields set."""
    app = module_app
    refs = file_mail(app, tmp_path_factory.mktemp("in"), *(
        make_message(subject=f"Case {name}", to=queue) for name, (queue, *_) in CASES.items()))
    named = dict(zip(CASES, refs, strict=True))
    with app.db.session() as session:
        for name, (_, status, role, first_due, first_at, resolution_due, _) in CASES.items():
            session.execute(update(Case).where(Case.ref == named[name]).values(
                status=status, owner_role=role, first_response_due=hours(first_due),
                first_response_at=hours(first_at), resolution_due=hours(resolution_due)))
    account(app, "cora", "compliance")
    account(app, "anna", "staff", (SALES,))
    return named


def listing(app, name, query):
    with web_client(app) as client:
        assert log_in(client, name).status_code == 303
        page = client.get(f"/cases?{query}")
    assert page.status_code == 200, page.text
    return set(re.findall(r'<td><a href="/cases/([A-Z]+-\d+)">', page.text))


def refs_of(listed, *names):
    return {listed[n] for n in names}


def test_overdue_lists_exactly_the_cases_the_lifecycle_escalates(module_app, listed):
    overdue = {name for name, row in CASES.items() if row[-1]}
    assert listing(module_app, "cora", "overdue=yes") == refs_of(listed, *overdue)
    escalated = {e.case_ref for e in escalate_overdue(module_app, utcnow())}
    assert escalated == refs_of(listed, *overdue)


def test_owner_role_lists_exactly_that_roles_cases(module_app, listed):
    quality = {name for name, row in CASES.items() if row[2] == "quality"}
    assert listing(module_app, "cora", "owner=quality") == refs_of(listed, *quality)
    assert listing(module_app, "cora", "owner=staff") == refs_of(listed, *(set(CASES) - quality))
    assert listing(module_app, "cora", "owner=nobody") == set()


def test_the_filters_combine_with_each_other_and_the_readers_queues(module_app, listed):
    assert listing(module_app, "cora", "owner=quality&overdue=yes") == refs_of(
        listed, "first-response-missed", "other-queue-missed")
    assert listing(module_app, "anna", "owner=quality&overdue=yes") == refs_of(
        listed, "first-response-missed")
    assert listing(module_app, "cora", f"overdue=yes&alias={SUPPORT}") == refs_of(
        listed, "other-queue-missed")
    assert listing(module_app, "cora", "overdue=yes&status=waiting") == refs_of(
        listed, "resolution-missed")


def test_the_form_keeps_the_chosen_filters_and_refuses_unknown_values(module_app, listed):
    with web_client(module_app) as client:
        assert log_in(client, "cora").status_code == 303
        page = client.get("/cases?owner=quality&overdue=yes").text
        assert 'name="owner" value="quality"' in page
        assert 'name="overdue" value="yes" checked' in page
        assert '<option value="staff">' in page  # the roles the configuration gives
        assert client.get("/cases?overdue=maybe").status_code == 400
