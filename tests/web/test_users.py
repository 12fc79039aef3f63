"""``commgate users``: accounts made from the command line (password on standard input), each
change recorded with its actor; what the web application then lets in."""

from __future__ import annotations

import io
import logging

import pytest
from argon2 import PasswordHasher, profiles
from sqlalchemy import select, text, update

from gateway.config import Config
from gateway.core import passwords
from gateway.db.users import User, UserEvent
from gateway.services.users import sign_in
from tests.support.cli import OS_USER
from tests.support.web import TEST_HASHING, log_in, web_client, with_web

SALES = "sales@northpoint.example"


@pytest.fixture
def users(cli, monkeypatch):
    """``users(*args, stdin=...)``: run ``commgate users ...`` with that standard input."""

    def run(*args, stdin=""):
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        return cli("users", *args)

    return run


def test_add_reads_the_password_from_stdin_and_list_shows_the_account(app, users):
    added = users("add", "anna", "--role", "staff", "--alias", SALES, "--alias",
                  "Support@Northpoint.example", "--as", "root-admin", "--json",
                  stdin="a long secret\n")
    assert added.code == 0, added.err
    listed = users("list", "--json")
    assert listed.code == 0
    (row,) = listed.json()
    assert row["name"] == "anna" and row["role"] == "staff" and not row["disabled"]
    assert row["aliases"] == [SALES, "support@northpoint.example"]
    assert row["created_by"] == "root-admin" and "password" not in str(row)
    assert sign_in(app, name="anna", password="a long secret") is not None
    with app.db.session() as session:
        events = session.execute(select(UserEvent.kind, UserEvent.actor, UserEvent.claimed_as,
                                        UserEvent.data)).all()
    assert [(kind, actor, claim) for kind, actor, claim, _ in events] == [
        ("user_added", OS_USER, "root-admin")]
    assert "a long secret" not in str(events)


def test_the_password_is_stored_as_an_argon2id_hash(app, users):
    users("add", "anna", "--role", "admin", stdin="a long secret\n")
    with app.db.session() as session:
        stored = session.scalar(select(User.password_hash))
    assert stored.startswith("$argon2id$") and "a long secret" not in stored


@pytest.mark.parametrize("args, stdin, message", [
    (("--role", "staff", "--alias", "nobody@northpoint.example"), "a long secret\n",
     "not an alias of this installation"),
    (("--role", "staff"), "short\n", "too short"),
    (("--role", "staff"), "", "no password on standard input"),
])
def test_add_refuses_with_one_line(users, args, stdin, message):
    result = users("add", "anna", *args, stdin=stdin)
    assert result.code == 1 and message in result.err and "Traceback" not in result.err


def test_a_name_is_added_once(users):
    assert users("add", "anna", "--role", "staff", stdin="a long secret\n").code == 0
    again = users("add", "anna", "--role", "admin", stdin="another secret\n")
    assert again.code == 1 and "exists already" in again.err


def test_passwd_replaces_the_password(app, users):
    users("add", "anna", "--role", "staff", stdin="a long secret\n")
    assert users("passwd", "anna", "--as", "helpdesk", stdin="a new secret\n").code == 0
    assert sign_in(app, name="anna", password="a long secret") is None
    assert sign_in(app, name="anna", password="a new secret") is not None


def test_a_disabled_account_cannot_sign_in(app, users):
    users("add", "anna", "--role", "staff", "--alias", SALES, "--as", "root-admin",
          stdin="a long secret\n")
    with web_client(app) as client:
        assert log_in(client, "anna", "a long secret").status_code == 303
    assert users("disable", "anna", "--as", "boss").code == 0
    assert users("list", "--json").json()[0]["disabled"] is True
    with web_client(app) as client:
        assert log_in(client, "anna", "a long secret").status_code == 401
    with app.db.session() as session:
        kinds = session.execute(select(UserEvent.kind, UserEvent.actor, UserEvent.claimed_as)
                                .order_by(UserEvent.id)).all()
    assert [tuple(k) for k in kinds] == [("user_added", OS_USER, "root-admin"),
                                         ("user_disabled", OS_USER, "boss")]


@pytest.mark.parametrize("configured", [passwords.DEFAULT, TEST_HASHING])
def test_a_hash_made_with_other_parameters_is_replaced_at_sign_in(app, users, configured):
    """The configured profile decides new hashes; a stored hash of other parameters still
    signs in and is replaced by one of the configured profile."""
    users("add", "anna", "--role", "staff", stdin="a long secret\n")
    app = with_web(app, password_hashing=configured)
    old = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("a long secret")
    with app.db.session() as session:
        session.execute(update(User).values(password_hash=old))
    assert sign_in(app, name="anna", password="a long secret") is not None
    with app.db.session() as session:
        stored = session.scalar(select(User.password_hash))
        kinds = session.scalars(select(UserEvent.kind).order_by(UserEvent.id)).all()
    assert stored != old and not passwords.hasher(configured).check_needs_rehash(stored)
    assert kinds[-1] == "password_rehashed"
    assert sign_in(app, name="anna", password="a long secret") is not None
    with app.db.session() as session:
        assert session.scalar(select(User.password_hash)) == stored  # no second rehash


def test_the_default_profile_is_the_libraries_default():
    assert passwords.PROFILES[Config().web.password_hashing] == profiles.get_default_parameters()


def test_the_test_only_profile_is_warned_about_at_start(app, caplog):
    with caplog.at_level(logging.WARNING, logger="gateway.web.app"):
        web_client(app)
    assert [r.getMessage() for r in caplog.records] == [
        "[web] password_hashing = 'cheapest' is for tests only: its hashes are guessed in "
        "microseconds; use 'rfc9106-low-memory'"]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="gateway.web.app"):
        web_client(with_web(app, password_hashing=passwords.DEFAULT))
    assert caplog.records == []


def test_the_account_history_cannot_be_changed(app, users):
    users("add", "anna", "--role", "staff", stdin="a long secret\n")
    with pytest.raises(Exception, match="append-only"), app.db.session() as session:
        session.execute(text("UPDATE user_events SET actor = 'someone else'"))
    with pytest.raises(Exception, match="append-only"), app.db.session() as session:
        session.execute(text("DELETE FROM user_events"))
