"""Retention, legal hold and the access log, on both backends, against the real archive."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from archive import (
    generate_key,
    inclusion_proof,
    public_key_path,
    verify_inclusion,
    write_checkpoint,
)
from gateway.bootstrap import App
from gateway.core.clock import utcnow
from gateway.db.models import CaseEvent, LedgerReceipt, Message
from gateway.evidence.integrity import verify_installation
from gateway.processing.ingest import ingest
from gateway.services.search import search_archive
from gateway.workflows.retention import expire, place_hold, release_hold
from tests.support.mail import make_message, write_messages

RETENTION = """
[retention]
default_days = 365

[[retention.rules]]
alias = "sales@northpoint.example"
days = 30

[[retention.rules]]
alias = "sales@northpoint.example"
category = "order"
days = 3650
"""


@pytest.fixture
def rapp(home):
    with open(home / "commgate.toml", "a") as config:
        config.write(RETENTION)
    application = App.open(home)
    yield application
    application.close()


def file_mail(app, tmp_path, messages, folder="in"):
    return ingest(app, write_messages(tmp_path / folder, messages))


def message_rows(app):
    with app.db.session() as session:
        return {m.subject: m for m in session.scalars(select(Message))}


def later(days):
    return utcnow() + timedelta(days=days)


def test_retention_is_fixed_at_filing_by_the_most_specific_rule(rapp, tmp_path):
    file_mail(rapp, tmp_path, [
        make_message(subject="Question about part 1234"),
        make_message(subject="Purchase order PO-4711",
                     body="Please accept our purchase order PO-4711 for 20 pieces."),
        make_message(subject="Broken", to="support@northpoint.example"),
    ])
    rows = message_rows(rapp)
    days = {s: (m.retain_until - m.filed_at).days for s, m in rows.items()}
    assert days["Question about part 1234"] == 30
    assert days["Broken"] == 365
    assert days["Purchase order PO-4711"] == (3650 if rows["Purchase order PO-4711"].category
                                              == "order" else 30)


def test_expiry_removes_content_and_leaves_a_verifying_chain(rapp, tmp_path):
    file_mail(rapp, tmp_path, [make_message(subject="Old enquiry", body="flange adapter"),
                               make_message(subject="Support", to="support@northpoint.example",
                                            body="flange question")])
    key = tmp_path / "checkpoint.key"
    generate_key(key)
    before = write_checkpoint(rapp.archive, key)
    old = message_rows(rapp)["Old enquiry"]

    report = expire(rapp, "records-officer", now=later(31))

    assert (report.removed_blobs, report.expired_messages) == (1, 1)
    assert not rapp.archive.blobs.exists(old.sha256)
    assert rapp.archive.blobs.exists(message_rows(rapp)["Support"].sha256)
    assert verify_installation(rapp)["ok"] is True
    after = write_checkpoint(rapp.archive, key)
    # The purged message's own ledger entry is still provable against the new checkpoint.
    proof = inclusion_proof(rapp.archive, old.first_seq, after)
    entry = next(e for e in rapp.archive.entries() if e.seq == old.first_seq)
    assert verify_inclusion(entry.entry_hash, proof, after, public_key_path(key))
    assert after.tree_size > before.tree_size
    found = search_archive(rapp, actor="records-officer", query="flange")
    assert [hit.subject for hit in found.hits] == ["Support"]
    with rapp.db.session() as session:
        purged = session.scalars(select(CaseEvent).where(CaseEvent.kind == "message_purged")
                                 ).one()
        assert purged.actor == "records-officer" and purged.data["sha256"] == old.sha256
        tombstone = session.get(LedgerReceipt, purged.data["tombstone_seq"])
        assert (tombstone.kind, tombstone.status, tombstone.sha256) == (
            "tombstone", "recorded", old.sha256)
    assert message_rows(rapp)["Old enquiry"].purged_at is not None
    assert expire(rapp, now=later(31)).removed_blobs == 0  # idempotent


def test_a_blob_removed_without_a_tombstone_is_still_reported(rapp, tmp_path):
    file_mail(rapp, tmp_path, [make_message()])
    (row,) = message_rows(rapp).values()
    path = rapp.archive.blobs.path_of(row.sha256)
    path.unlink()
    result = verify_installation(rapp)
    assert result["problem"]["kind"] == "missing-blob"


@pytest.mark.parametrize("scope, value", [
    ("case", "NPC-000001"), ("customer", "customer.example"),
    ("customer", "anna@customer.example"), ("alias", "sales@northpoint.example"),
    ("search", "flange"),
])
def test_a_held_message_is_not_expired_until_the_hold_is_released(rapp, tmp_path, scope,
                                                                   value):
    file_mail(rapp, tmp_path, [make_message(body="About the flange adapter, please.")])
    (row,) = message_rows(rapp).values()
    hold = place_hold(rapp, scope, value, "litigation 2026-17", "legal")

    report = expire(rapp, now=later(400))
    assert (report.held_messages, report.removed_blobs) == (1, 0)
    assert rapp.archive.blobs.exists(row.sha256)

    release_hold(rapp, hold.id, "legal", "settled")
    assert expire(rapp, now=later(400)).removed_blobs == 1
    assert not rapp.archive.blobs.exists(row.sha256)
    assert verify_installation(rapp)["ok"] is True


def test_the_same_bytes_for_two_aliases_stay_until_both_filings_expire(rapp, tmp_path):
    paths = write_messages(tmp_path / "in", [make_message()])
    ingest(rapp, paths, alias="sales@northpoint.example")
    ingest(rapp, paths, alias="support@northpoint.example")
    with rapp.db.session() as session:
        filings = session.scalars(select(Message)).all()
    assert len(filings) == 2 and len({f.sha256 for f in filings}) == 1
    assert expire(rapp, now=later(31)).kept_shared == 1  # sales@ expired, support@ has not
    assert rapp.archive.blobs.exists(filings[0].sha256)
    assert expire(rapp, now=later(366)).removed_blobs == 1


def test_a_release_needs_a_note_and_a_hold_must_cover_something(rapp, tmp_path, cli):
    """The auditor's holes: 'hold release' took no note, and a hold on a customer that
    matches nothing was accepted silently (a typo holds nothing)."""
    file_mail(rapp, tmp_path, [make_message(body="About the flange adapter, please.")])
    for scope, value, why in (
            ("--customer", "anna@custmer.example", "no case has the customer"),
            ("--customer", "custmer.example", "no case has the customer"),
            ("--alias", "sale@northpoint.example", "is no alias of this installation"),
            ("--search", "gasket", "matches no archived message")):
        refused = cli("hold", "place", scope, value, "--reason", "dispute", "--as", "legal")
        assert refused.code == 1 and "not placed" in refused.err and why in refused.err
    for scope, value in (("--customer", "Anna@Customer.example"), ("--customer",
                         "customer.example"), ("--alias", "support@northpoint.example"),
                         ("--search", "flange")):
        placed = cli("hold", "place", scope, value, "--reason", "dispute", "--as", "legal")
        assert placed.code == 0, placed.err
    refused = cli("hold", "release", "1", "--as", "legal")
    assert refused.code == 1 and "released only with a note saying why" in refused.err
    assert cli("hold", "release", "1", "--note", " ", "--as", "legal").code == 1
    assert cli("hold", "release", "1", "--note", "settled 2026-12-01", "--as", "legal").code == 0
    log = cli("audit", "log", "--action", "release", "--json").json()
    assert [r["detail"]["note"] for r in log] == ["settled 2026-12-01"]
    assert [h["id"] for h in cli("hold", "list", "--json").json()] == [2, 3, 4]


def test_every_access_is_a_ledger_entry_in_the_access_log(rapp, tmp_path, cli):
    file_mail(rapp, tmp_path, [make_message(body="flange")])
    (row,) = message_rows(rapp).values()
    assert cli("search", "flange", "--as", "auditor-1").code == 0
    shown = cli("archive", "show", row.sha256, "--as", "auditor-1", "--reason", "ISO audit")
    assert shown.code == 0 and "flange" in shown.out
    assert cli("hold", "place", "--case", "NPC-000001", "--reason", "audit", "--as",
               "legal").code == 0
    log = cli("audit", "log", "--json").json()
    assert [(r["action"], r["actor"]) for r in log] == [
        ("search", "auditor-1"), ("view-raw", "auditor-1"), ("hold", "legal")]
    assert log[1]["detail"] == {"sha256": row.sha256, "reason": "ISO audit"}
    ledger = {e.seq: e for e in rapp.archive.entries()}
    for record in log:
        entry = ledger[record["seq"]]
        assert entry.kind == "access" and entry.entry_hash == record["entry_hash"]
        assert json.loads(rapp.archive.read(entry.sha256))["action"] == record["action"]
    assert verify_installation(rapp)["ok"] is True


def test_viewing_a_malformed_digest_is_refused_before_anything_is_logged(cli):
    result = cli("archive", "show", "../../etc/passwd")
    assert result.code == 1 and "not a sha256 digest" in result.err
    assert cli("audit", "log", "--json").json() == []


def test_exporting_the_feedback_log_is_recorded_before_the_file_is_written(cli, tmp_path):
    out = tmp_path / "feedback.csv"
    assert cli("feedback", "export", "-o", str(out), "--as", "qm-lead").code == 0
    (record,) = cli("audit", "log", "--action", "export", "--json").json()
    assert record["actor"] == "qm-lead"
    assert record["detail"]["what"] == "feedback log" and record["detail"]["file"] == str(out)


def test_showing_purged_content_names_its_tombstone(rapp, tmp_path, cli):
    """The auditor's hole: 'archive show' of purged content said "missing"."""
    file_mail(rapp, tmp_path, [make_message(body="About the flange adapter, please.")])
    (row,) = message_rows(rapp).values()
    expire(rapp, "records-officer", now=later(31))
    with rapp.db.session() as session:
        tombstone = session.scalar(select(LedgerReceipt.seq).where(
            LedgerReceipt.kind == "tombstone"))
    shown = cli("archive", "show", row.sha256, "--as", "auditor-1", "--reason", "ISO audit")
    assert shown.code == 1 and "missing" not in shown.err
    assert ("was purged on " in shown.err and "by records-officer (retention, retained until"
            in shown.err and f"its tombstone is ledger entry seq {tombstone}" in shown.err)
