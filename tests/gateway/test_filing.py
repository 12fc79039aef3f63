"""From archived bytes to cases: threading rules, duplicates, quarantine, recorded decisions."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import DBAPIError

from gateway.db.models import CaseEvent, LedgerReceipt, Message
from gateway.processing.ingest import ingest
from gateway.workflows.cases import list_cases, list_quarantine, show_case
from tests.support.mail import make_message, write_messages


def run(app, tmp_path, messages, folder="in", alias=None):
    paths = write_messages(tmp_path / folder, messages)
    return ingest(app, paths, alias=alias)


def cases(app):
    with app.db.session() as session:
        return list_cases(session)


def case(app, ref):
    with app.db.session() as session:
        return show_case(session, ref)


def test_reply_by_in_reply_to_joins_the_parents_case(app, tmp_path):
    run(app, tmp_path, [
        make_message(message_id="<q1@customer.example>"),
        make_message(subject="Re: Question", message_id="<q2@customer.example>",
                     in_reply_to="<q1@customer.example>"),
    ])
    (only,) = cases(app)
    assert only["message_count"] == 2
    threaded = [e["data"] for e in case(app, only["ref"])["events"]
                if e["kind"] == "message_threaded"]
    assert [t["rule"] for t in threaded] == ["new-case", "in-reply-to"]
    assert threaded[1]["key"] == "q1@customer.example"


def test_references_bridge_a_missing_parent(app, tmp_path):
    """The direct parent (our own outbound reply) is not here; an older id in References is."""
    run(app, tmp_path, [
        make_message(message_id="<root@customer.example>"),
        make_message(subject="Re: x", in_reply_to="<our-reply@northpoint.example>",
                     references="<root@customer.example> <our-reply@northpoint.example>"),
    ])
    (only,) = cases(app)
    assert only["message_count"] == 2


def test_unrelated_messages_get_separate_cases(app, tmp_path):
    summary = run(app, tmp_path, [make_message(), make_message(subject="Other topic")])
    assert summary.new_cases == 2
    assert [c["ref"] for c in cases(app)] == ["NPC-000001", "NPC-000002"]


def test_case_tag_from_a_participant_joins(app, tmp_path):
    run(app, tmp_path, [make_message(sender="anna@customer.example")], folder="a")
    run(app, tmp_path, [make_message(subject="RE: [NPC-000001] Question",
                                     sender="anna@customer.example")], folder="b")
    (only,) = cases(app)
    assert only["message_count"] == 2


def test_case_tag_from_a_colleague_of_the_customer_joins(app, tmp_path):
    run(app, tmp_path, [make_message(sender="anna@customer.example")], folder="a")
    run(app, tmp_path, [make_message(subject="Re: [NPC-1] Question",
                                     sender="ben@customer.example")], folder="b")
    assert len(cases(app)) == 1


def test_case_tag_from_a_stranger_opens_a_new_case_marked_possible_follow_up(app, tmp_path):
    run(app, tmp_path, [make_message(sender="anna@customer.example")], folder="a")
    run(app, tmp_path, [make_message(subject="Re: [NPC-000001] Question",
                                     sender="mallory@elsewhere.example")], folder="b")
    assert [c["message_count"] for c in cases(app)] == [1, 1]
    opened = [e for e in case(app, "NPC-000002")["events"] if e["kind"] == "case_opened"]
    assert opened[0]["data"]["possible_follow_up_of"] == "NPC-000001"


def test_free_mail_domain_is_not_the_customers_domain(app, tmp_path):
    run(app, tmp_path, [make_message(sender="anna@gmail.com")], folder="a")
    run(app, tmp_path, [make_message(subject="Re: [NPC-000001] x",
                                     sender="someone@gmail.com")], folder="b")
    assert len(cases(app)) == 2


def test_same_bytes_twice_is_one_message_and_no_new_receipt(app, tmp_path):
    raw = make_message()
    first = run(app, tmp_path, [raw], folder="a")
    second = run(app, tmp_path, [raw], folder="b")
    assert (first.archived, second.archived, second.duplicates) == (1, 0, 1)
    # One receipt (the ledger's other entry is the filing's case events).
    assert [e.kind for e in app.archive.entries()].count("receipt") == 1
    assert cases(app)[0]["message_count"] == 1


def test_a_retried_delivery_with_other_bytes_joins_by_message_id(app, tmp_path):
    run(app, tmp_path, [
        make_message(message_id="<m1@customer.example>"),
        make_message(message_id="<m1@customer.example>",
                     extra_headers="Received: from relay2 by mx; Mon, 23 Nov 2026 09:16:00 +0100"),
    ])
    (only,) = cases(app)
    threaded = [e["data"]["rule"] for e in case(app, only["ref"])["events"]
                if e["kind"] == "message_threaded"]
    assert threaded == ["new-case", "same-message-id"]


def test_same_bytes_for_two_aliases_are_two_messages_sharing_one_blob(app, tmp_path):
    raw = make_message(to="sales@northpoint.example, support@northpoint.example")
    run(app, tmp_path, [raw], folder="a", alias="sales@northpoint.example")
    run(app, tmp_path, [raw], folder="b", alias="support@northpoint.example")
    with app.db.session() as session:
        rows = session.execute(select(Message.alias, Message.sha256)).all()
    assert sorted(alias for alias, _ in rows) == ["sales@northpoint.example",
                                                  "support@northpoint.example"]
    assert len({sha for _, sha in rows}) == 1


def test_alias_is_read_from_the_headers(app, tmp_path):
    run(app, tmp_path, [make_message(to="Returns <returns@northpoint.example>")])
    assert cases(app)[0]["alias"] == "returns@northpoint.example"


def test_non_mail_is_archived_and_quarantined_with_a_reason(app, tmp_path):
    summary = run(app, tmp_path, [b"\x00\x01binary garbage \xff" * 50])
    assert (summary.archived, len(summary.quarantined)) == (1, 1)
    with app.db.session() as session:
        (entry,) = list_quarantine(session)
    assert entry["stage"] == "parse"
    assert "not an e-mail message" in entry["reason"]
    assert app.archive.verify().ok


def test_every_decision_is_an_event_naming_the_rules_version(app, tmp_path):
    run(app, tmp_path, [make_message(subject="Change of quantity on PO 4500012345",
                                     body="Please reduce the quantity on our PO 4500012345 "
                                          "from 40 to 25 pieces.")])
    shown = case(app, "NPC-000001")
    kinds = [e["kind"] for e in shown["events"]]
    assert kinds[:3] == ["case_opened", "message_threaded", "message_classified"]
    classified = shown["events"][2]["data"]
    assert classified["rules_version"] == shown["messages"][0]["rules_version"] != ""
    assert classified["rules"], "the rule ids that fired are recorded"


def test_case_events_are_append_only_in_the_database(app, tmp_path):
    run(app, tmp_path, [make_message()])
    with pytest.raises(DBAPIError, match="append-only"), app.db.session() as session:
        session.execute(update(CaseEvent).values(actor="someone-else"))
    with pytest.raises(DBAPIError, match="append-only"), app.db.session() as session:
        session.execute(text("DELETE FROM case_events"))


def test_processing_is_rerunnable_from_the_archive(app, tmp_path):
    """A crash between the archive write and the database: catch_up re-queues from the ledger."""
    raw = make_message()
    from archive import Receipt

    app.archive.store(raw, Receipt("file", {"alias": "sales@northpoint.example"}))
    assert app.processor.catch_up() == 1
    outcomes = app.processor.process_pending()
    assert [o.status for o in outcomes] == ["filed"]
    assert app.processor.catch_up() == 0


def test_a_poison_message_is_quarantined_and_the_batch_continues(app, tmp_path, monkeypatch):
    import gateway.processing.pipeline as pipeline

    real = pipeline.classify_parsed

    def explode_on_poison(parsed, rules):
        if "POISON" in parsed.subject:
            raise RuntimeError("classifier bug")
        return real(parsed, rules)

    # A classifier bug cannot be produced for real on demand: inject it at the stage boundary.
    monkeypatch.setattr(pipeline, "classify_parsed", explode_on_poison)
    summary = run(app, tmp_path, [make_message(), make_message(subject="POISON"),
                                  make_message(subject="after")])
    assert summary.filed == 2
    assert [q["reason"] for q in summary.quarantined] == [
        "classifier failed: RuntimeError: classifier bug"]
    monkeypatch.setattr(pipeline, "classify_parsed", real)
    outcomes = app.processor.retry_quarantined()
    assert [o.status for o in outcomes] == ["filed"]
    with app.db.session() as session:
        assert list_quarantine(session) == []
        statuses = session.execute(select(LedgerReceipt.status, func.count())
                                   .where(LedgerReceipt.kind == "receipt")
                                   .group_by(LedgerReceipt.status)).all()
    assert dict(statuses) == {"filed": 3}


def test_a_batch_that_fails_while_filing_is_refiled_one_by_one(app, tmp_path, monkeypatch):
    """A bug in the filing stage for one message must not hold back the others of its batch."""
    import gateway.processing.pipeline as pipeline

    real = pipeline._message_row

    def fail_on_poison(receipt, parsed, classification, decision):
        if "POISON" in parsed.subject:
            raise ValueError("cannot build the row")
        return real(receipt, parsed, classification, decision)

    monkeypatch.setattr(pipeline, "_message_row", fail_on_poison)
    summary = run(app, tmp_path, [make_message(subject="first", message_id="<f1@c.example>"),
                                  make_message(subject="POISON"),
                                  make_message(subject="Re: first", in_reply_to="<f1@c.example>")])
    assert (summary.filed, summary.new_cases) == (2, 1)
    assert [q["reason"] for q in summary.quarantined] == ["ValueError: cannot build the row"]
    (only,) = cases(app)
    assert only["message_count"] == 2


def deliver(app, raw, copies=1):
    """``copies`` deliveries of the same bytes to one alias, each with its own receipt (what a
    client's retry or a second intake does), queued for the worker."""
    from archive import Receipt

    receipt = Receipt("smtp", {"alias": "sales@northpoint.example"})
    entries = [app.archive.store(raw, receipt) for _ in range(copies)]
    app.processor.record(entries)
    return [entry.seq for entry in entries]


def delivery_records(app):
    """(seq, status, message_pk) of every receipt of mail, and the case events."""
    with app.db.session() as session:
        receipts = session.execute(select(LedgerReceipt.seq, LedgerReceipt.status,
                                          LedgerReceipt.message_pk)
                                   .where(LedgerReceipt.kind == "receipt")
                                   .order_by(LedgerReceipt.seq)).all()
        events = session.execute(select(CaseEvent.kind, CaseEvent.message_pk, CaseEvent.data)
                                 .order_by(CaseEvent.id)).all()
    return [tuple(r) for r in receipts], [tuple(e) for e in events]


def test_a_redelivery_of_filed_bytes_is_a_duplicate_before_it_is_parsed(app, monkeypatch):
    """Dedupe is the first stage: a retried delivery costs no parse (and so no classifier)."""
    import gateway.processing.pipeline as pipeline

    raw = make_message()
    deliver(app, raw)
    (first,) = app.processor.process_pending()

    def must_not_parse(raw):
        raise AssertionError("a duplicate delivery was parsed")

    # A parse that fails is the only way to see that it did not happen: inject it.
    monkeypatch.setattr(pipeline, "parse_message", must_not_parse)
    two, three = deliver(app, raw, copies=2)  # seq 2 is the first filing's events
    outcomes = app.processor.process_pending()
    assert [(o.seq, o.status, o.case_ref) for o in outcomes] == [
        (two, "duplicate", first.case_ref), (three, "duplicate", first.case_ref)]
    receipts, events = delivery_records(app)
    message_pk = receipts[0][2]
    assert receipts == [(1, "filed", message_pk), (two, "duplicate", message_pk),
                        (three, "duplicate", message_pk)]
    assert [(kind, pk, data["seq"]) for kind, pk, data in events
            if kind == "duplicate_delivery"] == [("duplicate_delivery", message_pk, two),
                                                 ("duplicate_delivery", message_pk, three)]


def test_a_second_copy_in_the_same_batch_is_a_duplicate_noted_after_the_filing(app):
    raw = make_message()
    deliver(app, raw, copies=2)
    first, second = app.processor.process_pending()
    assert (first.status, first.new_case) == ("filed", True)
    assert (second.status, second.case_ref, second.new_case) == (
        "duplicate", first.case_ref, False)
    receipts, events = delivery_records(app)
    message_pk = receipts[0][2]
    assert receipts == [(1, "filed", message_pk), (2, "duplicate", message_pk)]
    # The case's history reads in order: the message is filed, then its second delivery noted.
    filing = {"case_opened", "message_threaded", "message_classified", "duplicate_delivery"}
    assert [(kind, pk) for kind, pk, _ in events if kind in filing] == [
        ("case_opened", None), ("message_threaded", message_pk),
        ("message_classified", message_pk), ("duplicate_delivery", message_pk)]


def test_a_copy_of_bytes_that_could_not_be_prepared_is_no_duplicate(app):
    """A rejected first copy files nothing, so the next copy is prepared (and judged) itself:
    it is quarantined with its own reason, never recorded as a duplicate of nothing."""
    deliver(app, b"\x00\x01binary garbage \xff" * 50, copies=2)
    outcomes = app.processor.process_pending()
    assert [(o.status, o.reason[:21]) for o in outcomes] == [
        ("quarantined", "not an e-mail message")] * 2
    with app.db.session() as session:
        assert [q["seq"] for q in list_quarantine(session)] == [1, 2]


def test_nul_characters_in_the_text_are_filed_on_every_backend(app, tmp_path):
    raw = make_message(subject="Drawing", body="see part\x00 number 7 \x00 attached")
    summary = run(app, tmp_path, [raw])
    assert summary.filed == 1, summary.quarantined
    shown = case(app, "NPC-000001")
    assert "\x00" not in shown["messages"][0]["snippet"]
    assert app.archive.read(shown["messages"][0]["sha256"]) == raw  # the bytes stay exact


def test_a_bounce_joins_the_case_of_the_message_it_returns(app, tmp_path):
    original = make_message(sender="Sales <sales@northpoint.example>",
                            to="buyer@gone.example", subject="Your quotation Q-2026-0311",
                            message_id="<q-0311@northpoint.example>")
    bounce = (
        b"From: Mail Delivery System <MAILER-DAEMON@mx.northpoint.example>\r\n"
        b"To: sales@northpoint.example\r\n"
        b"Subject: Undelivered Mail Returned to Sender\r\n"
        b"Date: Tue, 24 Nov 2026 10:00:00 +0000\r\n"
        b"Message-ID: <dsn-77@mx.northpoint.example>\r\n"
        b"Auto-Submitted: auto-replied\r\n"
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nThe mail system could not deliver your "
        b"message.\r\n"
        b"--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; "
        b"mx.northpoint.example\r\n\r\nFinal-Recipient: rfc822; buyer@gone.example\r\n"
        b"Action: failed\r\nStatus: 5.1.1\r\n"
        b"--b\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: sales@northpoint.example\r\n"
        b"To: buyer@gone.example\r\nSubject: Your quotation Q-2026-0311\r\n"
        b"Message-ID: <q-0311@northpoint.example>\r\n"
        b"--b--\r\n")
    run(app, tmp_path, [original, bounce])
    (only,) = cases(app)
    shown = case(app, only["ref"])
    assert [m["category"] for m in shown["messages"]][1] == "other"
    rules = [e["data"]["rule"] for e in shown["events"] if e["kind"] == "message_threaded"]
    assert rules == ["new-case", "bounce-of"]


def test_queueing_the_same_entries_twice_inserts_nothing_the_second_time(app):
    from archive import Receipt

    entries = app.archive.store_many([(make_message(), Receipt("file", {"alias": "x@y.example"}))])
    app.processor.record(entries)
    app.processor.record(entries)  # a concurrent catch_up saw the same entries
    assert app.processor.backlog() == 1
