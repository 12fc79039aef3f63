"""Operator mistakes and shell habits: each gets one actionable line and a meaningful exit code,
never a traceback (issue 11, item 9, and the broken rules file)."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import pytest
from sqlalchemy import select

from classifiers.rules import DEFAULT_RULES_DIR
from gateway.bootstrap import App
from gateway.cli._common import CASE_CATEGORIES, CASE_STATUSES
from gateway.cli.main import LOG_LEVELS
from gateway.cli.main import main as cli_main
from gateway.config import DATABASE_URL_ENV, Config
from gateway.core.errors import ConfigError
from gateway.db.models import LedgerReceipt
from gateway.db.session import Database
from gateway.workflows.cases import list_quarantine
from gateway.workflows.lifecycle import STATUSES
from tests.support.mail import make_message, write_messages


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


@pytest.fixture(autouse=True)
def _root_log_level() -> Iterator[None]:
    """'commgate run' sets the root logger's level; give the next test the one it had."""
    root = logging.getLogger()
    level = root.level
    yield
    root.setLevel(level)


def break_rules(home: Path) -> Path:
    """A copy of the shipped rules named in commgate.toml, with one file no longer TOML."""
    rules = home / "rules"
    shutil.copytree(DEFAULT_RULES_DIR, rules)
    broken = rules / "de" / "order.toml"
    broken.write_text(broken.read_text("utf-8") + "\n[[rules]\n", "utf-8")
    with open(home / "commgate.toml", "a") as fh:
        fh.write('\n[classifier]\nrules_path = "rules"\n')
    return broken


# -- the shell --------------------------------------------------------------------------------

def test_version_is_the_installed_package_version(capsys):
    with pytest.raises(SystemExit) as exited:
        cli_main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"commgate {version('commgate')}"


def test_a_reader_that_stops_reading_ends_a_listing_quietly(home, cli):
    """`commgate cases list --json | head`: the reader is gone before the listing is written.
    The command ends as cat or grep would under SIGPIPE (141), without a traceback."""
    messages = write_messages(home.parent / "mail", [make_message(subject=f"q {n}")
                                                     for n in range(3)])
    assert cli("ingest", *map(str, messages)).code == 0
    read_end, write_end = os.pipe()
    os.close(read_end)  # what head does after its first lines, here before the first byte
    try:
        done = subprocess.run([sys.executable, "-m", "gateway.cli.main", "--home", str(home),
                               "cases", "list", "--json"], stdout=write_end,
                              stderr=subprocess.PIPE, text=True, timeout=120, check=False)
    finally:
        os.close(write_end)
    assert done.returncode == 141, done.stderr
    assert done.stderr == ""


def test_a_broken_pipe_that_is_not_stdout_is_not_hidden(monkeypatch):
    """Only the reader of our output going away is quiet: a socket of ours that broke (stdout
    here is no pipe) still surfaces. The fault is raised by hand; a relay that hangs up at the
    right moment cannot be arranged reliably."""
    import gateway.cli.main as cli

    def broken_socket(_args):  # type: ignore[no-untyped-def]
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(cli, "cmd_cases_list", broken_socket)
    with pytest.raises(BrokenPipeError):
        cli_main(["cases", "list"])


def test_log_level_on_the_command_line(home):
    """Commands log warnings only; --log-level (any case) shows more, here the DEBUG line
    about the database it opened."""
    def stderr_of(*options: str) -> str:
        done = subprocess.run([sys.executable, "-m", "gateway.cli.main", "--home", str(home),
                               *options, "cases", "list"], capture_output=True, text=True,
                              timeout=120, check=True)
        return done.stderr

    assert stderr_of() == ""
    assert " DEBUG gateway.db.session: opened the database" in stderr_of("--log-level", "debug")


# -- enumerated filters ------------------------------------------------------------------------

@pytest.mark.parametrize(("option", "valid"), [("--status", CASE_STATUSES),
                                               ("--category", CASE_CATEGORIES)])
def test_an_unknown_filter_value_names_the_valid_ones(option, valid, capsys):
    with pytest.raises(SystemExit) as exited:
        cli_main(["--home", "/nonexistent", "cases", "list", option, "bogus"])
    assert exited.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"argument {option}: invalid choice: 'bogus'" in error
    assert all(f"'{value}'" in error for value in valid)


def test_the_cli_lists_match_what_the_gateway_knows():
    from classifiers import CATEGORIES

    assert set(CASE_STATUSES) == set(STATUSES)
    assert set(CASE_CATEGORIES) == set(CATEGORIES)
    assert set(LOG_LEVELS) == set(Config.model_fields["log_level"].annotation.__args__)


# -- keys and database URLs --------------------------------------------------------------------

def test_keygen_into_a_missing_folder_is_one_line(cli, tmp_path):
    result = cli("archive", "keygen", str(tmp_path / "no-such-folder" / "checkpoint.key"))
    assert result.code == 2
    assert one_line(result.err) == (f"commgate: error: folder {tmp_path / 'no-such-folder'} does "
                                    "not exist; create it or choose another path")
    assert not (tmp_path / "no-such-folder").exists()


def test_a_misspelt_database_scheme_in_the_environment_names_it(cli, monkeypatch):
    monkeypatch.setenv(DATABASE_URL_ENV, "postgress://commgate:s3cret@127.0.0.1/commgate")
    result = cli("cases", "list")
    assert result.code == 2
    line = one_line(result.err)
    assert line.startswith(f"commgate: error: {DATABASE_URL_ENV}: unknown scheme 'postgress://'")
    assert "postgresql://" in line and "sqlite:///" in line
    assert "s3cret" not in line


def test_a_misspelt_database_scheme_in_the_configuration_names_the_key(cli, home, monkeypatch):
    monkeypatch.delenv(DATABASE_URL_ENV)
    config = home / "commgate.toml"
    config.write_text(config.read_text().replace(
        "[database]\n", '[database]\nurl = "postgress://commgate@127.0.0.1/commgate"\n'))
    result = cli("cases", "list")
    assert result.code == 2
    line = one_line(result.err)
    assert "commgate.toml: database.url: unknown scheme 'postgress://'" in line
    assert "postgresql://" in line


def test_database_open_refuses_an_unknown_scheme_in_one_line():
    with pytest.raises(ConfigError, match=r"unknown scheme 'mysql://'.*postgresql://"):
        Database.open("mysql://root@127.0.0.1/commgate")


def test_a_missing_checkpoint_key_stops_the_daemon_at_start(cli, home, tmp_path):
    key = tmp_path / "keys" / "checkpoint.key"
    config = home / "commgate.toml"
    config.write_text(config.read_text().replace(
        'path = "archive"', f'path = "archive"\ncheckpoint_key = "{key}"'))
    for command in (["run"], ["archive", "checkpoint"]):
        result = cli(*command)
        assert result.code == 2, command
        assert one_line(result.err) == (
            f"commgate: error: archive.checkpoint_key: {key} does not exist; create it with "
            f"'commgate archive keygen {key}' or remove the setting")
    # Naming the key before creating it is how the README's steps may be followed.
    key.parent.mkdir()
    assert cli("archive", "keygen", str(key)).code == 0
    assert cli("archive", "checkpoint").code == 0
    key.chmod(0o644)
    result = cli("run")
    assert result.code == 2
    assert f"run chmod 600 {key}" in one_line(result.err)


# -- a broken rules file is the operator's, not the messages' ----------------------------------

def test_classify_with_broken_rules_is_one_line_naming_the_file(cli, home, tmp_path):
    broken = break_rules(home)
    message = write_messages(tmp_path / "mail", [make_message()])[0]
    result = cli("classify", str(message))
    assert result.code == 2
    line = one_line(result.err)
    assert line.startswith(f"commgate: error: classifier rules: {broken}: ")
    assert "not valid TOML" in line


def test_ingest_with_broken_rules_reads_nothing_and_quarantines_nothing(cli, home, tmp_path):
    """Checked before any mail is read (issue 13): nothing archived, nothing quarantined."""
    broken = break_rules(home)
    original = (DEFAULT_RULES_DIR / "de" / "order.toml").read_text("utf-8")
    messages = [str(p) for p in write_messages(tmp_path / "mail", [
        make_message(subject=f"Question {n}") for n in range(3)])]
    result = cli("ingest", *messages, "--json")
    assert result.code == 2
    line = one_line(result.err)
    assert line.startswith(f"commgate: error: classifier rules: {broken}: rule '-': "
                           "not valid TOML: ")
    assert result.out == ""
    app = App.open(home)
    try:
        assert app.archive.head() is None and app.processor.backlog() == 0
        with app.db.session() as session:
            assert list_quarantine(session) == []
    finally:
        app.close()
    # Listing cases needs no classifier, so broken rules do not stand in its way.
    assert cli("cases", "list", "--json").json() == []
    result = cli("quarantine", "retry")
    assert result.code == 2 and "classifier rules:" in one_line(result.err)
    result = cli("run")
    assert result.code == 2 and one_line(result.err).startswith(
        f"commgate: error: classifier rules: {broken}: ")

    broken.write_text(original, "utf-8")
    summary = cli("ingest", *messages, "--json").json()
    assert (summary["archived"], summary["filed"], summary["not_filed"]) == (3, 3, "")
    assert len(cli("cases", "list", "--json").json()) == 3


def test_processing_leaves_receipts_pending_when_the_rules_break(home):
    """The worker's path: a rules failure is raised, not turned into quarantine entries."""
    from archive import Receipt
    from gateway.intake.handoff import Delivery, accept

    break_rules(home)
    broken_app = App.open(home)
    try:
        accept(broken_app, [Delivery(make_message(), Receipt(
            transport="file", envelope={"alias": "sales@northpoint.example"}))])
        with pytest.raises(ConfigError, match="classifier rules: "):
            broken_app.processor.process_pending()
        with broken_app.db.session() as session:
            statuses = list(session.scalars(select(LedgerReceipt.status)))
        assert statuses == ["pending"]
    finally:
        broken_app.close()
