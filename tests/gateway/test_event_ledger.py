"""Case events in the ledger: each transaction's events are one ``events`` entry in the hash
chain, and ``archive verify`` names an event row deleted, altered or added behind it."""

from __future__ import annotations

import json
import os
import pwd
from pathlib import Path

import pytest
from sqlalchemy import create_engine, event, text

from gateway.db.event_ledger import KIND
from gateway.db.events import case_by_ref, record
from gateway.evidence.integrity import verify_installation
from tests.support.mail import make_message, write_messages


def sql(db_url: str, *statements: str, **values: object) -> None:
    """What someone with the database's password can do, outside commgate."""
    engine = create_engine(db_url)
    try:
        with engine.begin() as connection:
            for statement in statements:
                connection.execute(text(statement), values)
    finally:
        engine.dispose()


def drop_append_only_guard(db_url: str) -> None:
    """The first thing a forger does (migration 0001's triggers refuse UPDATE and DELETE)."""
    if db_url.startswith("sqlite"):
        sql(db_url, "DROP TRIGGER case_events_no_update", "DROP TRIGGER case_events_no_delete")
    else:
        sql(db_url, "DROP TRIGGER case_events_append_only ON case_events")


def ledger_entries(home: Path) -> list[dict]:
    lines = (home / "archive" / "ledger" / "ledger.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def blob(home: Path, sha256: str) -> dict:
    return json.loads((home / "archive" / "blobs" / sha256[:2] / sha256).read_bytes())


@pytest.fixture
def worked(cli, home, tmp_path) -> list[str]:
    """Three cases filed from mail, then staff work on them: a status change and a merge."""
    write_messages(tmp_path / "in", [
        make_message(subject=f"Quote request {n}", sender=f"Buyer {n} <b{n}@c{n}.example>")
        for n in range(3)])
    assert cli("ingest", str(tmp_path / "in")).code == 0
    refs = sorted(case["ref"] for case in cli("cases", "list", "--json").json())
    assert len(refs) == 3
    assert cli("cases", "status", refs[0], "open", "--as", "alice").code == 0
    assert cli("cases", "merge", refs[2], "--into", refs[1], "--as", "bob").code == 0
    assert cli("archive", "verify").code == 0
    return refs


def verify_report(cli) -> tuple[dict, str]:
    report, said = cli("archive", "verify", "--json"), cli("archive", "verify")
    assert report.code == said.code == 1
    assert report.json()["ok"] is False
    return report.json(), said.out


def event_ids(db_url: str, kind: str) -> list[int]:
    engine = create_engine(db_url)
    try:
        with engine.connect() as connection:
            return list(connection.execute(
                text("SELECT id FROM case_events WHERE kind = :kind ORDER BY id"),
                {"kind": kind}).scalars())
    finally:
        engine.dispose()


def test_every_event_is_in_a_ledger_entry_with_the_os_user_beside_the_claim(cli, home, worked,
                                                                            db_url):
    entries = [e for e in ledger_entries(home) if e["kind"] == KIND]
    recorded = {event["id"]: (event, body) for e in entries
                for body in [blob(home, e["sha256"])] for event in body["events"]}
    engine = create_engine(db_url)
    with engine.connect() as connection:
        ids = set(connection.execute(text("SELECT id FROM case_events")).scalars())
    engine.dispose()
    assert ids and ids == set(recorded)
    changed, body = next(v for v in recorded.values() if v[0]["kind"] == "status_changed")
    me = pwd.getpwuid(os.geteuid()).pw_name
    assert (changed["case_ref"], changed["actor"], changed["claimed_as"]) == (worked[0], me,
                                                                           "alice")
    assert body["principal"] == {"os_user": me, "claim": "alice"}
    merged = [v for v in recorded.values() if "merge" in v[0]["kind"]]
    assert merged and all(v[1]["principal"] == {"os_user": me, "claim": "bob"} for v in merged)
    # The worker's filing records its batch's events in one entry, not one per message.
    filed = [e for e in entries if "principal" not in blob(home, e["sha256"])]
    assert len(filed) == 1


def test_a_deleted_event_row_is_named(cli, worked, db_url):
    drop_append_only_guard(db_url)
    (gone,) = event_ids(db_url, "status_changed")
    sql(db_url, "DELETE FROM case_events WHERE id = :id", id=gone)
    report, said = verify_report(cli)
    assert [(e["id"], e["case_ref"]) for e in report["events"]["missing"]] == [(gone, worked[0])]
    assert report["events"]["altered"] == report["events"]["added"] == []
    assert report["problem"] is None  # the chain itself is intact
    assert (f"case event {gone} (status_changed) of case {worked[0]} in the ledger but "
            f"deleted from the database") in said
    assert f"ledger seq {report['events']['missing'][0]['seq']}" in said


def test_an_altered_event_row_is_named(cli, worked, db_url):
    drop_append_only_guard(db_url)
    (changed,) = event_ids(db_url, "status_changed")
    sql(db_url, "UPDATE case_events SET actor = 'mallory' WHERE id = :id", id=changed)
    report, said = verify_report(cli)
    (altered,) = report["events"]["altered"]
    assert (altered["id"], altered["case_ref"], altered["fields"]) == (changed, worked[0],
                                                                      ["actor"])
    assert f"case event {changed} (status_changed) of case {worked[0]} altered" in said


def test_an_added_event_row_is_named(cli, worked, db_url):
    (model,) = event_ids(db_url, "status_changed")
    sql(db_url, "INSERT INTO case_events (case_id, at, actor, kind, message_pk, data) "
                "SELECT case_id, at, 'mallory', 'status_changed', message_pk, data "
                "FROM case_events WHERE id = :id", id=model)
    report, said = verify_report(cli)
    (added,) = report["events"]["added"]
    assert added["id"] > model and added["case_ref"] == worked[0] and added["seq"] is None
    assert "in the database but in no ledger entry" in said


def test_a_failed_commit_leaves_a_void_entry_not_a_missing_event(app, home, worked):
    """The entry is written before the commit; a commit that then fails voids it. The failure
    is injected (a listener after the ledger's): a refused COMMIT cannot be produced at will."""

    class Refused(Exception):
        pass

    def refuse(_session: object) -> None:
        raise Refused

    before = len(ledger_entries(home))
    with pytest.raises(Refused), app.db.session() as session:
        record(session, case_by_ref(session, worked[0]), "note_added", {"text": "x"},
               actor="carol")
        event.listen(session, "before_commit", refuse)
    written = ledger_entries(home)[before:]
    assert [e["kind"] for e in written] == [KIND, KIND]
    assert written[1]["envelope"] == {"void": written[0]["seq"]}
    app.processor.catch_up()  # the void entry's row (the voided one's went with its transaction)
    report = verify_installation(app)
    assert report["ok"], report


def test_without_a_claim_the_actor_is_the_os_user_not_the_environment(cli, worked, db_url,
                                                                     home, monkeypatch):
    """$USER and $LOGNAME are the caller's to set; the password database's name is not."""
    monkeypatch.delenv("COMMGATE_USER", raising=False)
    monkeypatch.setenv("USER", "someone-else")
    monkeypatch.setenv("LOGNAME", "someone-else")
    assert cli("cases", "status", worked[1], "waiting").code == 0
    last = [e for e in ledger_entries(home) if e["kind"] == KIND][-1]
    body = blob(home, last["sha256"])
    me = pwd.getpwuid(os.geteuid()).pw_name
    assert body["principal"] == {"os_user": me, "claim": None}
    assert [e["actor"] for e in body["events"]] == [me] * len(body["events"])
    assert last["envelope"]["os_user"] == me


def test_a_web_action_keeps_the_signed_in_user_and_records_no_os_principal(app, home, worked):
    """The web application's actor is the signed-in user; no process principal is set."""
    from gateway.services.lifecycle import set_case_status

    set_case_status(app, actor="cora", ref=worked[0], status="waiting")
    last = [e for e in ledger_entries(home) if e["kind"] == KIND][-1]
    body = blob(home, last["sha256"])
    assert "principal" not in body and "os_user" not in last["envelope"]
    assert {e["actor"] for e in body["events"]} == {"cora"}


def test_an_entry_a_crash_left_before_its_commit_is_voided_by_the_catch_up(app, home, worked):
    """What a kill between the ledger write and the commit leaves: an events entry with no row
    and no events. The next catch-up voids it, so verify does not report its events."""
    from archive import Receipt
    from gateway.db.event_ledger import TRANSPORT, canonical

    ghost = {"events": [{"id": 10_000, "case_id": 1, "case_ref": worked[0], "kind": "note_added",
                         "at": "2026-12-06T00:00:00+00:00", "actor": "x", "message_pk": None,
                         "data": {}}]}
    left = app.archive.store_record(KIND, canonical(ghost).encode(), Receipt(
        transport=TRANSPORT, direction="internal", envelope={"count": 1}))
    assert app.processor.catch_up() == 1
    void = ledger_entries(home)[-1]
    assert void["kind"] == KIND and void["envelope"] == {"void": left.seq}
    assert verify_installation(app)["ok"]
    assert app.processor.catch_up() == 0  # voided once
