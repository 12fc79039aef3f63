"""Threading into cases: signed references, late parents, Thread-Index, case tags, subjects.

Each test ingests real messages into a real database (SQLite and PostgreSQL) and asserts on the
cases and the recorded rule. "One batch" = one ingest call (the worker files it as one batch);
"across batches" = separate ingest calls.
"""

from __future__ import annotations

import base64

import pytest
from sqlalchemy import select

from gateway.db.models import Case, CaseLink, Message
from gateway.processing.signing import make_message_id
from gateway.processing.threader import normalise_subject
from gateway.workflows.cases import show_case
from tests.support.mail import make_message
from tests.support.threading import case_of, cases, rules_of, run

# -- our own signed reference ------------------------------------------------------------------

def test_a_reply_to_our_signed_message_id_threads_although_the_subject_was_rewritten(app, tmp_path):
    run(app, tmp_path, [make_message(sender="anna@customer.example",
                                     message_id="<first@customer.example>")])
    ours = make_message_id(app.settings, "NPC-000001", "northpoint.example")
    run(app, tmp_path, [make_message(subject="Completely different words", sender=
                                     "boss@other.example", in_reply_to=ours,
                                     message_id="<reply@other.example>")])
    assert len(cases(app)) == 1
    assert rules_of(app, "NPC-000001") == ["new-case", "signed-reference"]


def test_our_outbound_copy_threads_by_its_own_signed_message_id(app, tmp_path):
    run(app, tmp_path, [make_message(sender="anna@customer.example")])
    ours = make_message_id(app.settings, "NPC-000001", "northpoint.example")
    run(app, tmp_path, [make_message(sender="sales@northpoint.example", subject="Our answer",
                                     to="anna@customer.example", message_id=ours)])
    assert rules_of(app, "NPC-000001") == ["new-case", "signed-reference"]


def test_a_forged_or_altered_token_is_ignored(app, tmp_path):
    run(app, tmp_path, [make_message(sender="anna@customer.example")])
    genuine = make_message_id(app.settings, "NPC-000001", "northpoint.example")
    ref, nonce, rest = genuine.strip("<>").split(".", 2)
    altered = f"<{ref}.{nonce[:-1]}{'0' if nonce[-1] != '0' else '1'}.{rest}>"
    forged = "<NPC-000001.abcdef12.aaaaaaaaaaaaaaaa@northpoint.example>"
    run(app, tmp_path, [
        make_message(subject="Invoice attached", sender="mallory@evil.example",
                     in_reply_to=altered),
        make_message(subject="Another thing entirely", sender="eve@evil.example",
                     references=forged),
    ])
    assert [c["message_count"] for c in cases(app)] == [1, 1, 1]


# -- a reply that arrives before its parent ------------------------------------------------------

def _family():
    parent = make_message(subject="Pump P-100 vibrates", sender="anna@customer.example",
                          message_id="<parent@customer.example>")
    child = make_message(subject="Re: Pump P-100 vibrates", sender="ben@customer.example",
                         message_id="<child@customer.example>",
                         in_reply_to="<parent@customer.example>",
                         references="<parent@customer.example>")
    return parent, child


@pytest.mark.parametrize("batches", [1, 2])
def test_an_orphan_reply_is_rehomed_when_its_parent_arrives(app, tmp_path, batches):
    parent, child = _family()
    if batches == 1:
        run(app, tmp_path, [child, parent])
    else:
        run(app, tmp_path, [child])
        run(app, tmp_path, [parent])
    (only,) = cases(app)
    assert only["message_count"] == 2
    assert rules_of(app, only["ref"]) == ["new-case", "referenced-by"]
    with app.db.session() as session:
        assert session.scalar(select(Message.thread_rule).where(
            Message.message_id == "parent@customer.example")) == "referenced-by"


@pytest.mark.parametrize("batches", [1, 3])
def test_orphan_case_merges_into_the_case_the_late_parent_threads_to(app, tmp_path, batches):
    root = make_message(subject="RFQ valves DN50", sender="anna@customer.example",
                        message_id="<root@customer.example>")
    parent = make_message(subject="Re: RFQ valves DN50", sender="anna@customer.example",
                          message_id="<parent@customer.example>",
                          in_reply_to="<root@customer.example>",
                          references="<root@customer.example>")
    # The child's client kept only its direct parent, which is late.
    child = make_message(subject="Re: Re: RFQ valves DN50 (changed)",
                         sender="ben@customer.example", message_id="<child@customer.example>",
                         in_reply_to="<parent@customer.example>",
                         references="<parent@customer.example>")
    if batches == 1:
        run(app, tmp_path, [root, child, parent])
    else:
        for raw in (root, child, parent):
            run(app, tmp_path, [raw])
    (survivor,) = cases(app)
    assert survivor["ref"] == "NPC-000001" and survivor["message_count"] == 3
    with app.db.session() as session:
        orphan = session.scalars(select(Case).where(Case.ref == "NPC-000002")).one()
        assert (orphan.status, orphan.merged_into_id) == ("merged", 1)
        link = session.scalars(select(CaseLink).where(CaseLink.case_id == orphan.id)).one()
        assert link.kind == "merged-into"
        child_pk = session.scalar(select(Message.id).where(
            Message.message_id == "child@customer.example"))
        events = show_case(session, "NPC-000002")["events"]
    (merged,) = [e for e in events if e["kind"] == "case_merged"]
    assert merged["actor"] == "system" and merged["data"]["messages"] == [child_pk]
    assert merged["data"]["reason"] == "referenced-by"


def test_a_system_merge_is_undone_like_a_staff_merge(app, tmp_path, cli):
    root = make_message(subject="Seal kit", message_id="<r@customer.example>")
    child = make_message(subject="Re: kit", message_id="<c@customer.example>",
                         in_reply_to="<p@customer.example>")
    parent = make_message(subject="Re: Seal kit", message_id="<p@customer.example>",
                          in_reply_to="<r@customer.example>")
    run(app, tmp_path, [root, child, parent])
    assert cli("cases", "unmerge", "NPC-000002", "--as", "qa").code == 0
    assert case_of(app, "c@customer.example") == "NPC-000002"
    assert case_of(app, "p@customer.example") == "NPC-000001"


def test_replies_sharing_a_missing_parent_join_when_from_the_same_correspondent(app, tmp_path):
    ghost = "<RT-Ticket-33575@tickets.example>"
    run(app, tmp_path, [
        make_message(subject="[support #33575] AutoReply: pump", sender="rt@tickets.example",
                     references=ghost),
        make_message(subject="[support #33575] Resolved: pump", sender="rt@tickets.example",
                     references=ghost),
        make_message(subject="A newsletter reply", sender="someone@else.example",
                     references=ghost),
    ])
    assert sorted(c["message_count"] for c in cases(app)) == [1, 2]
    assert rules_of(app, "NPC-000001") == ["new-case", "shared-reference"]


# -- Outlook Thread-Index ----------------------------------------------------------------------

def _thread_index(conversation: bytes, replies: int) -> str:
    return base64.b64encode(conversation + b"\x01\x02\x03\x04\x05" * replies).decode()


def test_thread_index_conversation_joins_and_is_stored(app, tmp_path):
    conversation = bytes(range(1, 23))
    run(app, tmp_path, [
        make_message(subject="Drawing 4471 rev B", sender="anna@customer.example",
                     extra_headers=f"Cc: ben@other.example\r\n"
                                   f"Thread-Index: {_thread_index(conversation, 0)}"),
        make_message(subject="Answer without references", sender="ben@other.example",
                     extra_headers=f"Thread-Index: {_thread_index(conversation, 2)}"),
        make_message(subject="Unrelated", sender="cleo@third.example",
                     extra_headers=f"Thread-Index: {_thread_index(bytes(22), 0)}"),
    ])
    assert sorted(c["message_count"] for c in cases(app)) == [1, 2]
    assert rules_of(app, "NPC-000001") == ["new-case", "thread-index"]
    with app.db.session() as session:
        stored = set(session.scalars(select(Message.thread_index)))
    assert conversation.hex() in stored


# -- reply headers from strangers ------------------------------------------------------------

def _review_count(app, ref):
    with app.db.session() as session:
        return sum(1 for e in show_case(session, ref)["events"]
                   if e["kind"] in ("scope_change_flagged", "review_opened"))


def _participants(app, ref):
    with app.db.session() as session:
        return set(session.scalars(select(Message.from_addr).join(Case).where(Case.ref == ref)))


@pytest.mark.parametrize("header", ["in_reply_to", "references"])
def test_a_stranger_with_a_customers_message_id_gets_a_new_linked_case(app, tmp_path, header):
    run(app, tmp_path, [make_message(subject="RFQ 200 valves DN50",
                                     sender="anna@customer.example",
                                     message_id="<rfq@customer.example>")])
    run(app, tmp_path, [make_message(
        subject="Re: RFQ 200 valves DN50", sender="mallory@elsewhere.example",
        body="Please change the quantity to 2000 pieces and deliver to our new address.",
        **{header: "<rfq@customer.example>"})])
    assert [c["message_count"] for c in cases(app)] == [1, 1]
    assert case_of(app, "rfq@customer.example") == "NPC-000001"
    assert _participants(app, "NPC-000001") == {"anna@customer.example"}
    # The scope change is flagged in her own case, not in Anna's.
    assert (_review_count(app, "NPC-000001"), _review_count(app, "NPC-000002") > 0) == (0, True)
    with app.db.session() as session:
        link = session.scalars(select(CaseLink)).one()
        assert (link.case_id, link.other_case_id, link.kind) == (2, 1, "possible-follow-up")
        opened = [e["data"] for e in show_case(session, "NPC-000002")["events"]
                  if e["kind"] == "case_opened"]
    assert opened[0]["possible_follow_up_of"] == "NPC-000001"
    # Her case tag still does not work afterwards: she never became a participant.
    run(app, tmp_path, [make_message(subject="Re: [NPC-000001] RFQ 200 valves DN50",
                                     sender="mallory@elsewhere.example")])
    assert [c["message_count"] for c in cases(app)] == [1, 1, 1]


def test_the_customer_a_colleague_and_a_cc_recipient_still_join_by_reply_headers(app, tmp_path):
    run(app, tmp_path, [make_message(subject="RFQ 200 valves DN50",
                                     sender="anna@customer.example",
                                     message_id="<rfq@customer.example>",
                                     extra_headers="Cc: Lee <lee@consultant.example>")])
    run(app, tmp_path, [
        make_message(subject="Re: RFQ 200 valves DN50", sender="Anna <ANNA@customer.example>",
                     in_reply_to="<rfq@customer.example>", message_id="<a2@customer.example>"),
        make_message(subject="Re: RFQ 200 valves DN50", sender="ben@customer.example",
                     references="<rfq@customer.example>"),
        make_message(subject="Re: RFQ 200 valves DN50", sender="lee@consultant.example",
                     in_reply_to="<a2@customer.example>"),
        # Staff answering from their own mailbox (our aliases' domain).
        make_message(subject="Re: RFQ 200 valves DN50", sender="john@northpoint.example",
                     in_reply_to="<a2@customer.example>"),
    ])
    (only,) = cases(app)
    assert only["message_count"] == 5
    assert rules_of(app, only["ref"]) == ["new-case", "in-reply-to", "references",
                                          "in-reply-to", "in-reply-to"]


def test_a_stranger_reusing_a_customers_message_id_or_thread_index_stays_apart(app, tmp_path):
    conversation = bytes(range(1, 23))
    run(app, tmp_path, [make_message(
        subject="Drawing 4471 rev B", sender="anna@customer.example",
        message_id="<d@customer.example>",
        extra_headers=f"Thread-Index: {_thread_index(conversation, 0)}")])
    run(app, tmp_path, [
        make_message(subject="Drawing 4471 rev C", sender="mallory@elsewhere.example",
                     message_id="<d@customer.example>"),
        make_message(subject="Drawing 4471 rev D", sender="mallory@elsewhere.example",
                     extra_headers=f"Thread-Index: {_thread_index(conversation, 1)}"),
    ])
    assert [c["message_count"] for c in cases(app)] == [1, 1, 1]
    with app.db.session() as session:
        assert {(link.other_case_id, link.kind) for link in session.scalars(select(CaseLink))} \
            == {(1, "possible-follow-up")}


def test_a_strangers_late_parent_does_not_gather_the_customers_replies(app, tmp_path):
    run(app, tmp_path, [make_message(subject="Re: Catalogue 2027", sender="anna@customer.example",
                                     in_reply_to="<cat@vendor.example>")])
    run(app, tmp_path, [make_message(subject="Catalogue 2027", sender="mallory@elsewhere.example",
                                     message_id="<cat@vendor.example>")])
    assert [c["message_count"] for c in cases(app)] == [1, 1]
    assert case_of(app, "cat@vendor.example") == "NPC-000002"


def test_a_bounce_of_a_customers_message_is_a_strangers_claim(app, tmp_path):
    """Only mail we sent can bounce back to us: a "bounce" of a customer's message joins
    nothing (a real one of our own mail does: tests/gateway/test_filing.py)."""
    run(app, tmp_path, [make_message(subject="RFQ 200 valves DN50",
                                     sender="anna@customer.example",
                                     message_id="<rfq@customer.example>")])
    run(app, tmp_path, [
        b"From: Mail Delivery System <MAILER-DAEMON@mx.elsewhere.example>\r\n"
        b"To: sales@northpoint.example\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        b"Date: Tue, 24 Nov 2026 10:00:00 +0000\r\nMessage-ID: <dsn-1@mx.elsewhere.example>\r\n"
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nPlease change the quantity to 2000.\r\n"
        b"--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; "
        b"mx.elsewhere.example\r\n\r\nFinal-Recipient: rfc822; x@gone.example\r\n"
        b"Action: failed\r\nStatus: 5.1.1\r\n"
        b"--b\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: anna@customer.example\r\n"
        b"Message-ID: <rfq@customer.example>\r\n--b--\r\n"])
    assert [c["message_count"] for c in cases(app)] == [1, 1]
    with app.db.session() as session:
        link = session.scalars(select(CaseLink)).one()
        assert (link.case_id, link.other_case_id, link.kind) == (2, 1, "possible-follow-up")


# -- case tag ------------------------------------------------------------------------------------

def test_a_stranger_with_a_case_tag_gets_a_new_case_linked_as_possible_follow_up(app, tmp_path):
    run(app, tmp_path, [make_message(sender="anna@customer.example")])
    run(app, tmp_path, [make_message(subject="Re: [NPC-000001] Question about part 1234",
                                     sender="mallory@elsewhere.example")])
    assert [c["message_count"] for c in cases(app)] == [1, 1]
    with app.db.session() as session:
        link = session.scalars(select(CaseLink)).one()
        assert (link.case_id, link.other_case_id, link.kind) == (2, 1, "possible-follow-up")
        events = show_case(session, "NPC-000001")["events"]
    assert {"case": "NPC-000002"} in [e["data"] for e in events
                                      if e["kind"] == "possible_follow_up"]


def test_a_case_tag_of_a_merged_case_threads_to_the_survivor(app, tmp_path, cli):
    run(app, tmp_path, [make_message(subject="Pump A", sender="anna@customer.example"),
                        make_message(subject="Pump B", sender="anna@customer.example")])
    assert cli("cases", "merge", "NPC-000002", "--into", "NPC-000001", "--as", "qa").code == 0
    run(app, tmp_path, [make_message(subject="Re: [NPC-000002] Pump B",
                                     sender="anna@customer.example")])
    (only,) = cases(app)
    assert only["ref"] == "NPC-000001" and only["message_count"] == 3
    assert rules_of(app, "NPC-000001")[-1] == "case-tag"


# -- normalised subject ------------------------------------------------------------------------

def _dated(day: int, **kwargs) -> bytes:
    return make_message(date=f"{day:02d} Nov 2026 09:00:00 +0000", **kwargs)


def test_subject_from_the_same_correspondent_inside_the_window_joins(app, tmp_path):
    run(app, tmp_path, [_dated(2, subject="Pump P-100 vibrates badly",
                               sender="anna@customer.example")])
    run(app, tmp_path, [_dated(9, subject="AW: WG: RE[2]: Pump  P-100 vibrates BADLY",
                               sender="anna@customer.example")])
    (only,) = cases(app)
    assert rules_of(app, only["ref"]) == ["new-case", "subject"]
    with app.db.session() as session:
        assert set(session.scalars(select(Message.norm_subject))) == {"pump p-100 vibrates badly"}


@pytest.mark.parametrize(("second", "why"), [
    (_dated(25, subject="Re: Pump P-100 vibrates badly", sender="anna@customer.example"),
     "outside the 14-day window"),
    (_dated(3, subject="Re: Pump P-100 vibrates badly", sender="ben@customer.example"),
     "another correspondent"),
])
def test_subject_does_not_join_outside_the_window_or_across_correspondents(app, tmp_path,
                                                                           second, why):
    run(app, tmp_path, [_dated(2, subject="Pump P-100 vibrates badly",
                               sender="anna@customer.example")])
    run(app, tmp_path, [second])
    assert len(cases(app)) == 2, why


def test_a_fresh_mail_repeating_a_subject_is_not_a_reply(app, tmp_path):
    """The weekly call-off with the same subject is a new order each time."""
    run(app, tmp_path, [_dated(2, subject="Call-off framework order 4711",
                               sender="anna@customer.example"),
                        _dated(9, subject="Call-off framework order 4711",
                               sender="anna@customer.example")])
    assert len(cases(app)) == 2


@pytest.mark.parametrize("subject", ["Question", "Order", "Hello", "Quote", "Re: P-100"])
def test_generic_or_short_subjects_never_join(app, tmp_path, subject):
    run(app, tmp_path, [_dated(2, subject=subject, sender="anna@customer.example"),
                        _dated(3, subject=f"Re: {subject}", sender="anna@customer.example")])
    assert len(cases(app)) == 2


def test_different_ticket_tags_with_the_same_subject_do_not_join(app, tmp_path):
    run(app, tmp_path, [_dated(2, subject="[Ticket#100] Portal login fails",
                               sender="anna@customer.example"),
                        _dated(3, subject="[Ticket#200] Portal login fails",
                               sender="anna@customer.example")])
    assert len(cases(app)) == 2


@pytest.mark.parametrize(("raw", "expected"), [
    ("Re: Fwd: AW: WG: SV: VS: TR: Antw: Odp: pump", "pump"),
    ("PŘ: Odp: PD: ODP: Wtr: I: pump", "pump"),  # Czech and Polish Outlook, Italian, Dutch
    ("RE[2]: Re^3: AW(2): pump", "pump"),
    ("[foo] Fwd: [bar] Re: fw: b (fWd)  (fwd)", "b"),  # RFC 5256 / imaptest sort-subject
    ("Re: [FWD: c]", "c"),
    ("Re: [NPC-000123] Pump   noise", "pump noise"),
    ("RE: Damaged pump - RE: Order SO-24-05512", "damaged pump - re: order so-24-05512"),
    ("[xyz]", "[xyz]"),
])
def test_normalise_subject(raw, expected):
    assert normalise_subject(raw, "NPC") == expected
