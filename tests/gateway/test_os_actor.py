"""The actor of a command-line action is the operating-system user; ``--as NAME`` is a claim
recorded beside it (``claimed_as``). An OS user linked to a staff user acts as that user and
cannot claim another; ``[cli] require_linked_os_user`` refuses OS users linked to nobody; four
eyes refuse one linked OS user on both sides (docs/ledger-events.md, "Who acted")."""

from __future__ import annotations

import io
import json
import os
import pwd
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from gateway.config import CONFIG_NAME
from gateway.db.event_ledger import KIND
from tests.support.mail import make_message, write_messages
from tests.support.web import signed_in

ME = pwd.getpwuid(os.geteuid()).pw_name
PASSWORD = "correct horse battery staple"


@pytest.fixture
def ref(cli, home, tmp_path, monkeypatch) -> str:
    """One case filed from mail; no $COMMGATE_USER, so only --as is a claim."""
    monkeypatch.delenv("COMMGATE_USER", raising=False)
    write_messages(tmp_path / "in", [make_message(subject="Quote request 7")])
    assert cli("ingest", str(tmp_path / "in")).code == 0
    (case,) = cli("cases", "list", "--json").json()
    return str(case["ref"])


def add_user(cli, monkeypatch, name: str, role: str, *options: str) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    done = cli("users", "add", name, "--role", role, *options)
    assert done.code == 0, done.err


def rows(db_url: str, query: str) -> list[tuple]:
    engine = create_engine(db_url)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(query))]
    finally:
        engine.dispose()


def last_events_entry(home: Path) -> dict:
    lines = (home / "archive" / "ledger" / "ledger.jsonl").read_text().splitlines()
    entry = [e for e in map(json.loads, lines) if e["kind"] == KIND][-1]
    sha = entry["sha256"]
    return json.loads((home / "archive" / "blobs" / sha[:2] / sha).read_bytes())


def create_template(cli, tmp_path, text: str) -> None:
    """Template "thanks", version 1, written by this OS user claiming alice."""
    body = tmp_path / "body.txt"
    body.write_text(text)
    created = cli("templates", "create", "thanks", "--subject", "Re: ${subject}",
                  "--body-file", str(body), "--as", "alice")
    assert created.code == 0, created.err


def test_the_os_user_is_the_actor_and_the_claim_stands_beside_it(cli, home, ref, db_url):
    assert cli("cases", "status", ref, "open", "--as", "alice").code == 0
    (row,) = rows(
        db_url, "SELECT id, actor, claimed_as FROM case_events WHERE kind = 'status_changed'"
    )
    assert row[1:] == (ME, "alice")
    shown = cli("cases", "show", ref, "--json").json()
    (changed,) = [e for e in shown["events"] if e["kind"] == "status_changed"]
    assert (changed["actor"], changed["claimed_as"]) == (ME, "alice")
    assert f"{ME} (as alice)" in cli("cases", "show", ref).out
    # The ledger entry's principal is the row's actor and claim, and so is its record.
    body = last_events_entry(home)
    assert body["principal"] == {"os_user": row[1], "claim": row[2]}
    (recorded,) = body["events"]
    assert (recorded["id"], recorded["actor"], recorded["claimed_as"]) == row
    # The filing's own events keep the system actor and no claim.
    assert set(
        rows(db_url, "SELECT actor, claimed_as FROM case_events WHERE kind <> 'status_changed'")
    ) == {("system", None)}
    assert cli("archive", "verify").code == 0


def test_without_a_claim_nothing_is_claimed(cli, ref, db_url):
    assert cli("cases", "status", ref, "open").code == 0
    assert rows(
        db_url, "SELECT actor, claimed_as FROM case_events WHERE kind = 'status_changed'"
    ) == [(ME, None)]


def test_other_event_tables_record_the_os_user_and_the_claim(
    cli, home, ref, db_url, monkeypatch, tmp_path
):
    add_user(cli, monkeypatch, "bob", "reviewer", "--as", "admin1")
    assert rows(db_url, "SELECT actor, claimed_as, kind FROM user_events") == [
        (ME, "admin1", "user_added")
    ]
    assert rows(db_url, "SELECT created_by FROM users") == [("admin1",)]  # the staff identity
    create_template(cli, tmp_path, "Thank you for ${subject}.\n")
    assert rows(db_url, "SELECT actor, claimed_as, action FROM template_events") == [
        (ME, "alice", "created")
    ]
    shown = cli("templates", "show", "thanks", "--json").json()
    assert [(e["actor"], e["claimed_as"]) for e in shown["history"]] == [(ME, "alice")]
    assert rows(db_url, "SELECT author FROM templates") == [("alice",)]


def test_a_linked_os_user_acts_as_its_staff_user_and_cannot_claim_another(
    cli, ref, db_url, monkeypatch
):
    add_user(cli, monkeypatch, "alice", "staff", "--os-user", ME)
    listed = cli("users", "list", "--json").json()
    assert [(u["name"], u["os_user"]) for u in listed] == [("alice", ME)]
    refused = cli("cases", "status", ref, "open", "--as", "bob")
    assert refused.code == 1
    assert refused.err == (
        f"commgate: error: you are OS user {ME}, linked to staff alice; --as bob refused\n"
    )
    done = cli("cases", "status", ref, "open")
    assert done.code == 0 and done.out.endswith("(by alice)\n")  # the staff identity
    assert cli("cases", "status", ref, "waiting", "--as", "Alice").code == 0  # its own name
    assert rows(
        db_url,
        "SELECT actor, claimed_as FROM case_events WHERE kind = 'status_changed' ORDER BY id",
    ) == [(ME, None), (ME, "Alice")]
    # The link is a user event; unlinking gives the claim back.
    assert cli("users", "link", "alice", "--unlink", "--as", "alice").code == 0
    assert (
        rows(db_url, "SELECT kind, data FROM user_events ORDER BY id")[-1][0] == "os_user_unlinked"
    )
    assert cli("cases", "status", ref, "open", "--as", "bob").code == 0


def test_a_login_links_to_one_account_at_most(cli, ref, monkeypatch):
    add_user(cli, monkeypatch, "alice", "staff", "--os-user", "jdoe")
    add_user(cli, monkeypatch, "bob", "staff")
    taken = cli("users", "link", "bob", "--os-user", "jdoe")
    assert taken.code == 1 and "OS user jdoe is linked to alice already" in taken.err
    bad = cli("users", "link", "bob", "--os-user", "not a login")
    assert bad.code == 1 and "is not an OS login name" in bad.err
    assert cli("users", "link", "bob", "--os-user", "jsmith").code == 0


def test_require_linked_os_user_refuses_an_unlinked_os_user(cli, home, ref, db_url, monkeypatch):
    add_user(cli, monkeypatch, "ops", "admin")  # linked to nobody yet
    config = home / CONFIG_NAME
    config.write_text(config.read_text() + "\n[cli]\nrequire_linked_os_user = true\n")
    refused = cli("cases", "status", ref, "open", "--as", "ops")
    assert refused.code == 1
    assert refused.err == (
        f"commgate: error: OS user {ME} is linked to no staff user and [cli] "
        f"require_linked_os_user is set: an admin links it with 'commgate users link NAME "
        f"--os-user {ME}'\n"
    )
    assert cli("cases", "list").code == 0  # reading without --as is no staff action
    config.write_text(
        config.read_text().replace(
            "require_linked_os_user = true", "require_linked_os_user = false"
        )
    )
    assert cli("users", "link", "ops", "--os-user", ME).code == 0
    config.write_text(
        config.read_text().replace(
            "require_linked_os_user = false", "require_linked_os_user = true"
        )
    )
    assert cli("cases", "status", ref, "open").code == 0
    assert rows(
        db_url, "SELECT actor, claimed_as FROM case_events WHERE kind = 'status_changed'"
    ) == [(ME, None)]


def test_four_eyes_refuse_one_linked_os_user_on_both_sides(cli, ref, monkeypatch, tmp_path):
    """alice's draft was written by this OS user (unlinked, claiming alice); once the login is
    linked to bob, bob approving from it is the same person at the same keyboard."""
    add_user(cli, monkeypatch, "alice", "staff")
    add_user(cli, monkeypatch, "bob", "admin")
    create_template(cli, tmp_path, "Thank you.\n")
    assert cli("users", "link", "bob", "--os-user", ME).code == 0
    refused = cli("templates", "approve", "thanks", "--version", "1")
    assert refused.code == 1
    assert (
        f"alice wrote thanks v1 and bob approves it through the same OS user {ME} "
        f"(linked to bob): a different person must approve it"
    ) in refused.err
    # Unlinked, the same login may approve under another claim (the mock audit's to report).
    assert cli("users", "link", "bob", "--unlink").code == 0
    approved = cli("templates", "approve", "thanks", "--version", "1", "--as", "bob")
    assert approved.code == 0, approved.err


def test_the_case_page_shows_the_os_user_with_the_claim(cli, app, ref):
    assert cli("cases", "status", ref, "open", "--as", "alice").code == 0
    with signed_in(app, "carl", "compliance") as client:
        page = client.get(f"/cases/{ref}").text
    assert f'<span class="actor">{ME} (as alice)</span>' in page
