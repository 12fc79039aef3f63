"""A legal hold of any scope shows on the cases it covers (issue 15: holds by customer, alias or
search left no trace on the case or in its evidence package): in ``cases show``, on the web
case page and in the evidence package, by the rule retention expiry itself applies."""

from __future__ import annotations

import json
import zipfile
from datetime import timedelta

import pytest

from gateway.core.clock import utcnow
from gateway.services.cases import list_cases
from gateway.workflows.retention import expire, place_hold, release_hold
from tests.support.mail import make_message
from tests.support.web import file_mail, signed_in


@pytest.fixture
def held(app, tmp_path):
    """Three cases: firm-a's held by a customer hold, firm-b's by a search hold, firm-c's by
    none (a released hold on firm-c no longer counts)."""
    file_mail(app, tmp_path / "in",
              make_message(subject="Flange question", sender="buyer@firm-a.example",
                           body="About the flange adapter, please."),
              make_message(subject="Ring question", sender="buyer@firm-b.example",
                           body="Do you stock the gasket ring?"),
              make_message(subject="Bolt question", sender="buyer@firm-c.example",
                           body="Do you stock M8 bolts?"))
    by_subject = {c.subject: c.ref for c in list_cases(app, actor="test").items}
    refs = {"a": by_subject["Flange question"], "b": by_subject["Ring question"],
            "c": by_subject["Bolt question"]}
    customer = place_hold(app, "customer", "firm-a.example", "dispute 2026-17", "legal")
    search = place_hold(app, "search", "gasket", "recall R-9", "legal")
    released = place_hold(app, "customer", "buyer@firm-c.example", "old matter", "legal")
    release_hold(app, released.id, "legal", "settled")
    return refs, customer, search


def test_cases_show_lists_the_holds_of_any_scope_covering_the_case(app, held, cli):
    refs, customer, search = held
    shown = {name: cli("cases", "show", ref, "--json").json() for name, ref in refs.items()}
    assert [(h["id"], h["scope"], h["value"], h["reason"], h["created_by"])
            for h in shown["a"]["holds"]] == [
        (customer.id, "customer", "firm-a.example", "dispute 2026-17", "legal")]
    assert [(h["id"], h["scope"], h["value"]) for h in shown["b"]["holds"]] == [
        (search.id, "search", "gasket")]
    assert shown["c"]["holds"] == []
    assert all(h["created_at"] and h["released_at"] is None
               for name in "ab" for h in shown[name]["holds"])

    text = cli("cases", "show", refs["b"]).out
    assert f"hold:     {search.id} search 'gasket' placed by legal" in text
    assert "recall R-9" in text
    assert "hold:" not in cli("cases", "show", refs["c"]).out


def test_the_holds_shown_are_those_expiry_respects(app, held, cli):
    """The case view and the purge agree: what shows a hold keeps its content."""
    refs, _, _ = held
    report = expire(app, now=utcnow() + timedelta(days=40_000), dry_run=True)
    assert report.held_messages == 2 and report.expired_messages == 1
    assert [bool(cli("cases", "show", ref, "--json").json()["holds"])
            for ref in refs.values()] == [True, True, False]


def test_the_case_page_shows_the_holds_covering_the_case(app, held):
    refs, customer, search = held
    with signed_in(app, "anna", "staff", "sales@northpoint.example") as anna:
        page_a = anna.get(f"/cases/{refs['a']}").text
        page_b = anna.get(f"/cases/{refs['b']}").text
        page_c = anna.get(f"/cases/{refs['c']}").text
    assert f'id="case-hold-{customer.id}"' in page_a and "dispute 2026-17" in page_a
    assert f'id="case-hold-{search.id}"' not in page_a
    assert f'id="case-hold-{search.id}"' in page_b and "recall R-9" in page_b
    assert "Legal holds" not in page_c and "case-hold-" not in page_c


def test_the_evidence_package_lists_the_holds_covering_each_case(app, held, cli, tmp_path):
    refs, customer, search = held
    package = tmp_path / "evidence.zip"
    made = cli("audit", "export", "--case", refs["a"], "--case", refs["b"], "--case",
               refs["c"], "-o", str(package), "--as", "compliance.carl")
    assert made.code == 0, made.err
    with zipfile.ZipFile(package) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        index = archive.read("index.html").decode()
    holds = {c["ref"]: [(h["id"], h["scope"], h["value"], h["reason"]) for h in c["holds"]]
             for c in manifest["cases"]}
    assert holds == {
        refs["a"]: [(customer.id, "customer", "firm-a.example", "dispute 2026-17")],
        refs["b"]: [(search.id, "search", "gasket", "recall R-9")],
        refs["c"]: []}
    assert index.count("<h3>Legal holds</h3>") == 2
    section_c = index[index.index(f"{refs['c']}: Bolt question"):]
    assert "Legal holds" not in section_c.split("</section>")[0]
    assert "recall R-9" in index and "dispute 2026-17" in index
