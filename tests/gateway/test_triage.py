"""The triage flow end to end through the CLI, on SQLite and PostgreSQL: a customer message that
no rule decides gets its alias's queue prior and waits in 'cases list --triage'; 'cases
classify' confirms or corrects it with a case event and keeps the scope-change review in step."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from gateway.config import parse_config
from gateway.core.errors import ConfigError
from gateway.db.models import Case, CaseEvent, Message
from gateway.db.reviews import Review
from tests.support.cases import CHANGE, ORDER
from tests.support.cli import OS_USER
from tests.support.triage import UNDECIDED, configure, ingest, triage

AUTO_REPLY = dict(subject="Automatic reply: Purchase order 4500871234",
                  message_id="<ooo@customer.example>",
                  extra_headers="Auto-Submitted: auto-replied",
                  body="I am out of the office until Monday. Your purchase order 4500871234 "
                       "will be handled by my colleague.")
PROCUREMENT_PO = dict(
    subject="Purchase Order 4500123456 from Globex Corp",
    sender="Globex Procurement <do_not_reply@procurement.globex.example>",
    message_id="<po-4500123456@procurement.globex.example>",
    extra_headers="Precedence: bulk\r\nAuto-Submitted: auto-generated",
    body="Globex Corp has sent you a new purchase order.\n\nPurchase order number: 4500123456\n"
         "Line 1: 10 x Pump housing PH-200, unit price 120.00 EUR\n"
         "Requested delivery date: 2026-01-15\n\n"
         "Please confirm the order in the supplier portal.\n"
         "This message was sent automatically. Please do not reply to this email.")


def case_show(cli, ref: str) -> dict:
    result = cli("cases", "show", ref, "--json")
    assert result.code == 0, result.err
    return result.json()


def event_kinds(case: dict) -> list[str]:
    return [e["kind"] for e in case["events"]]


def test_a_message_no_rule_decides_gets_the_alias_prior_and_waits_in_triage(home, cli,
                                                                           tmp_path):
    configure(home)
    ingest(cli, tmp_path, UNDECIDED, dict(UNDECIDED, message_id="<r@customer.example>",
                                          to="returns@northpoint.example"),
           dict(UNDECIDED, message_id="<s@customer.example>", to="support@northpoint.example"),
           ORDER)
    queue = {row["alias"]: row for row in triage(cli)}
    assert set(queue) == {"sales@northpoint.example", "returns@northpoint.example",
                          "support@northpoint.example"}  # the confident order is not there
    assert queue["sales@northpoint.example"]["category"] == "enquiry"
    assert queue["returns@northpoint.example"]["category"] == "property"
    assert queue["support@northpoint.example"]["category"] == "other"  # no prior: fallback
    sales = queue["sales@northpoint.example"]
    assert sales["lowest_confidence"] == pytest.approx(0.3)
    assert [m["subject"] for m in sales["waiting"]] == ["Hello"]
    case = case_show(cli, sales["ref"])
    message = case["messages"][0]
    assert any(e["rule_id"] == "gw.queue_prior" for e in message["evidence"])
    classified = next(e for e in case["events"] if e["kind"] == "message_classified")
    assert classified["data"]["decided_by"] == "fallback"
    assert classified["data"]["needs_triage"] is True
    needed = next(e for e in case["events"] if e["kind"] == "triage_needed")
    assert "no rule decided" in needed["data"]["reason"]
    table = cli("cases", "list", "--triage")
    assert table.code == 0 and sales["ref"] in table.out and "3 cases waiting" in table.out


def test_classify_corrects_a_case_records_who_and_takes_it_out_of_triage(home, cli, tmp_path,
                                                                          app):
    configure(home)
    ingest(cli, tmp_path, UNDECIDED)
    ref = triage(cli)[0]["ref"]
    result = cli("cases", "classify", ref, "--category", "order", "--as", "alice", "--json")
    assert result.code == 0, result.err
    data = result.json()
    assert data["from"] == {"category": "enquiry", "scope_change": False}
    assert data["to"] == {"category": "order", "scope_change": False}
    assert data["changed"] is True and data["actor"] == "alice"
    assert [m["category"] for m in data["messages"]] == ["enquiry"]  # what the rules said
    assert triage(cli) == []
    case = case_show(cli, ref)
    assert case["category"] == "order"
    event = next(e for e in case["events"] if e["kind"] == "case_classified")
    assert (event["actor"], event["claimed_as"]) == (OS_USER, "alice")
    assert event["data"]["from"]["category"] == "enquiry"
    assert event["data"]["to"]["category"] == "order"
    with app.db.session() as session:
        assert session.scalars(select(Message.needs_triage)).all() == [False]
        stored = session.scalars(select(CaseEvent).where(
            CaseEvent.kind == "case_classified")).one()
        assert stored.message_pk == session.scalars(select(Message.id)).one()


def test_confirming_without_a_change_is_recorded_as_a_confirmation(home, cli, tmp_path):
    configure(home)
    ingest(cli, tmp_path, UNDECIDED)
    ref = triage(cli)[0]["ref"]
    result = cli("cases", "classify", ref, "--category", "enquiry", "--as", "bob")
    assert result.code == 0, result.err
    assert result.out.startswith(f"{ref}: confirmed (by bob)")
    assert triage(cli) == []
    event = [e for e in case_show(cli, ref)["events"] if e["kind"] == "case_classified"]
    assert len(event) == 1 and event[0]["data"]["changed"] is False


def test_a_scope_flag_set_to_yes_opens_a_review_and_no_withdraws_it(home, cli, tmp_path, app):
    configure(home)
    ingest(cli, tmp_path, UNDECIDED)
    ref = triage(cli)[0]["ref"]
    yes = cli("cases", "classify", ref, "--category", "order", "--scope-change", "yes",
              "--as", "alice", "--json")
    assert yes.code == 0, yes.err
    assert [r["action"] for r in yes.json()["reviews"]] == ["opened"]
    with app.db.session() as session:
        case = session.scalars(select(Case).where(Case.ref == ref)).one()
        review = session.scalars(select(Review)).one()
        assert (review.kind, review.status, review.opened_by) == ("scope-change", "pending",
                                                                  "alice")
        assert review.trigger_message_pk == session.scalars(select(Message.id)).one()
        assert case.review_required is True and case.scope_change is True
    no = cli("cases", "classify", ref, "--category", "order", "--scope-change", "no",
             "--note", "only a question about the date", "--as", "bob", "--json")
    assert no.code == 0, no.err
    assert [r["action"] for r in no.json()["reviews"]] == ["withdrawn"]
    with app.db.session() as session:
        case = session.scalars(select(Case).where(Case.ref == ref)).one()
        review = session.scalars(select(Review)).one()
        assert (review.status, review.decided_by) == ("withdrawn", "bob")
        assert review.decision_note == "only a question about the date"
        assert case.review_required is False and case.scope_change is False
    events = case_show(cli, ref)["events"]
    withdrawn = next(e for e in events if e["kind"] == "review_withdrawn")
    assert (withdrawn["actor"], withdrawn["claimed_as"]) == (OS_USER, "bob")
    assert withdrawn["data"]["reason"] == "only a question about the date"
    assert event_kinds({"events": events}).count("case_classified") == 2


def test_no_withdraws_the_review_the_pipeline_opened_for_a_flagged_message(home, cli, tmp_path,
                                                                          app):
    ingest(cli, tmp_path, ORDER, CHANGE)
    with app.db.session() as session:
        assert session.scalars(select(Review.status)).all() == ["pending"]
    result = cli("cases", "classify", "NPC-000001", "--category", "order", "--scope-change",
                 "no", "--as", "carol")
    assert result.code == 0, result.err
    assert "withdrawn" in result.out
    with app.db.session() as session:
        assert session.scalars(select(Review.status)).all() == ["withdrawn"]
    # Withdrawn is decided: closing is no longer held up by it.
    assert cli("cases", "status", "NPC-000001", "resolved", "--as", "carol").code == 0
    closed = cli("cases", "status", "NPC-000001", "closed", "--as", "carol")
    assert closed.code == 0, closed.err


def test_a_real_auto_reply_stays_other_without_triage(home, cli, tmp_path):
    configure(home)
    ingest(cli, tmp_path, AUTO_REPLY)
    assert triage(cli) == []
    case = case_show(cli, "NPC-000001")
    assert case["category"] == "other"
    classified = next(e for e in case["events"] if e["kind"] == "message_classified")
    assert (classified["data"]["decided_by"], classified["data"]["needs_triage"]) == ("header",
                                                                                     False)


def test_a_procurement_system_po_from_a_no_reply_address_is_an_order(home, cli, tmp_path):
    configure(home)
    ingest(cli, tmp_path, PROCUREMENT_PO)
    case = case_show(cli, "NPC-000001")
    assert case["category"] == "order"
    assert {"hdr.precedence.bulk", "hdr.from.noreply"} <= {
        e["rule_id"] for e in case["messages"][0]["evidence"]}
    assert triage(cli) == []


def test_a_low_confidence_decision_waits_too_and_says_why(home, cli, tmp_path):
    configure(home, triage_below=0.99)
    ingest(cli, tmp_path, ORDER)
    queue = triage(cli)
    assert [row["category"] for row in queue] == ["order"]
    needed = next(e for e in case_show(cli, queue[0]["ref"])["events"]
                  if e["kind"] == "triage_needed")
    assert "below 0.99" in needed["data"]["reason"]


def test_a_confident_reply_replaces_a_guessed_category_but_not_a_persons(home, cli, tmp_path):
    configure(home)
    ingest(cli, tmp_path, UNDECIDED)
    ingest(cli, tmp_path, dict(ORDER, in_reply_to="<hello@customer.example>"), folder="two")
    case = case_show(cli, "NPC-000001")
    assert case["category"] == "order"  # the prior was a guess; a rule decided the reply
    assert "category_changed" in event_kinds(case)
    assert [row["ref"] for row in triage(cli)] == ["NPC-000001"]  # the first still waits
    cli("cases", "classify", "NPC-000001", "--category", "feedback", "--as", "alice")
    ingest(cli, tmp_path, dict(UNDECIDED, message_id="<again@customer.example>",
                               in_reply_to="<hello@customer.example>"),
           dict(ORDER, message_id="<po2@customer.example>",
                in_reply_to="<hello@customer.example>"), folder="three")
    assert case_show(cli, "NPC-000001")["category"] == "feedback"  # a person's word stands


def test_classify_errors_are_one_line(home, cli, tmp_path):
    missing = cli("cases", "classify", "NPC-000099", "--category", "order", "--as", "alice")
    assert missing.code == 1
    assert missing.err.startswith("commgate: error: no case") and "Traceback" not in missing.err
    with pytest.raises(SystemExit) as usage:
        cli("cases", "classify", "NPC-000001", "--category", "spam", "--as", "alice")
    assert usage.value.code == 2


def test_alias_prior_and_triage_threshold_are_validated():
    config = parse_config('[[aliases]]\naddress = "sales@x.example"\nprior = "enquiry"\n'
                          '[classifier]\ntriage_below = 0.5\n')
    assert config.aliases[0].prior == "enquiry" and config.classifier.triage_below == 0.5
    with pytest.raises(ConfigError, match=r"aliases\[0\]\.prior"):
        parse_config('[[aliases]]\naddress = "sales@x.example"\nprior = "spam"\n')
    with pytest.raises(ConfigError, match=r"classifier\.triage_below"):
        parse_config("[classifier]\ntriage_below = 2.0\n")


def test_reclassify_applies_the_prior_again_and_keeps_a_persons_classification(home, cli,
                                                                             tmp_path, app):
    configure(home)
    ingest(cli, tmp_path, UNDECIDED)
    assert cli("reclassify", "--json").json()["changed"] == []  # the prior is no change
    cli("cases", "classify", "NPC-000001", "--category", "order", "--as", "alice")
    with app.db.session() as session:  # pretend older rules had filed it as "other"
        session.execute(update(Message).values(category="other", rules_version="old-rules"))
    changed = cli("reclassify", "--json").json()["changed"]
    assert [c["to"]["category"] for c in changed] == ["enquiry"]
    assert case_show(cli, "NPC-000001")["category"] == "order"  # alice's word stands
