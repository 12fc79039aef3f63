"""A configuration fault is the operator's to fix, never a message's (issue 13): the commands
that file mail check the configuration and the classifier rules before they read any, and stop
with one line and exit 2; a fault that shows only later leaves the mail queued, not
quarantined, and it is filed once the fault is fixed. Real processes via the command line."""

from __future__ import annotations

import ast
import mailbox
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

import gateway
from archive import ArchiveError, Receipt
from classifiers.rules import DEFAULT_RULES_DIR
from gateway.bootstrap import App
from gateway.cli._common import EXIT_FAILED, EXIT_USAGE
from gateway.cli.main import exit_code_for
from gateway.config import load_settings
from gateway.core.errors import ConfigError, GatewayError, RulesConfigError
from gateway.db.models import LedgerReceipt, Message
from gateway.intake.handoff import Delivery, accept
from gateway.processing.ingest import ingest
from gateway.processing.preflight import check_filing_config_own_rules
from gateway.workflows.cases import list_quarantine
from tests.support.daemon import daemon_process
from tests.support.mail import make_message, write_messages
from tests.support.waiting import wait_for

UNSET_KEY_ENV = "COMMGATE_TEST_UNSET_SIGNING_KEY"
# One of our signed Message-IDs in form (the signature need not match): reading it needs the key.
OUR_ID = "<NPC-000001.abc123.abcdefghijklmnop@northpoint.example>"


def commgate(home: Path, *args: str, use_home: bool = True,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``commgate [--home HOME] ARGS...`` as the operator runs it: a process of its own."""
    command = [sys.executable, "-m", "gateway.cli.main",
               *(["--home", str(home)] if use_home else []), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False,
                          env=env)


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    """The command's only stderr line, which is an error; never a traceback."""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert lines[0].startswith("commgate: error: "), lines[0]
    return lines[0]


def break_rules(home: Path) -> tuple[Path, str]:
    """A copy of the shipped rules named in commgate.toml, with one file no longer TOML; the
    broken file and its good text."""
    rules = home / "rules"
    shutil.copytree(DEFAULT_RULES_DIR, rules)
    broken = rules / "de" / "order.toml"
    good = broken.read_text("utf-8")
    broken.write_text(good + "\n[[rules]\n", "utf-8")
    append_config(home, '[classifier]\nrules_path = "rules"\n')
    return broken, good


def append_config(home: Path, text: str) -> None:
    with open(home / "commgate.toml", "a") as fh:
        fh.write("\n" + text)


def receipts_and_quarantine(home: Path) -> tuple[list[str], list[dict[str, object]]]:
    """The status of every receipt of mail in ledger order, and the quarantine."""
    app = App.open(home)
    try:
        with app.db.session() as session:
            statuses = list(session.scalars(select(LedgerReceipt.status)
                                            .where(LedgerReceipt.kind == "receipt")
                                            .order_by(LedgerReceipt.seq)))
            return statuses, list_quarantine(session)
    finally:
        app.close()


def queue_one(home: Path, raw: bytes) -> None:
    """Archive ``raw`` and queue it without filing it (as an intake does)."""
    app = App.open(home)
    try:
        accept(app, [Delivery(raw, Receipt(transport="file",
                                           envelope={"alias": "sales@northpoint.example"}))])
    finally:
        app.close()


# -- at start ----------------------------------------------------------------------------------

def test_ingest_with_broken_rules_stops_before_reading_any_mail(home, tmp_path):
    """Nothing is archived, nothing quarantined; mail queued before stays queued. Once the file
    is fixed, the same command files everything."""
    queue_one(home, make_message(subject="queued before"))
    broken, good = break_rules(home)
    files = write_messages(tmp_path / "mail", [make_message(subject=f"Question {n}")
                                               for n in range(3)])
    before = [path.read_bytes() for path in files]
    done = commgate(home, "ingest", "--json", *map(str, files))
    assert done.returncode == EXIT_USAGE
    assert one_error_line(done).startswith(
        f"commgate: error: classifier rules: {broken}: rule '-': not valid TOML")
    assert done.stdout == ""
    assert receipts_and_quarantine(home) == (["pending"], [])
    assert [path.read_bytes() for path in files] == before

    broken.write_text(good, "utf-8")
    done = commgate(home, "ingest", "--json", *map(str, files))
    assert done.returncode == 0, done.stderr
    assert receipts_and_quarantine(home) == (["filed"] * 4, [])


def test_ingest_reads_to_check_only_rules_of_the_installations_own(home):
    """The shipped rules are the installed code's: ``ingest`` leaves them to the process that
    files (its workers' fork server reads them); rules named in commgate.toml are read and
    checked before any mail is."""
    assert check_filing_config_own_rules(load_settings(home)) is None
    broken, good = break_rules(home)
    with pytest.raises(RulesConfigError):
        check_filing_config_own_rules(load_settings(home))
    broken.write_text(good, "utf-8")
    rules = check_filing_config_own_rules(load_settings(home))
    assert rules is not None  # read from the home's folder, for the command to file with


def test_classify_with_broken_rules_is_one_line_without_a_traceback(home, tmp_path):
    """With --home and with $COMMGATE_HOME alike: the installation's rules are the ones
    classified with, and broken ones are named."""
    broken, _ = break_rules(home)
    message = write_messages(tmp_path / "mail", [make_message()])[0]
    for done in (commgate(home, "classify", str(message)),
                 commgate(home, "classify", str(message), use_home=False,
                          env={**_environ(), "COMMGATE_HOME": str(home)})):
        assert done.returncode == EXIT_USAGE
        line = one_error_line(done)
        assert line.startswith(f"commgate: error: classifier rules: {broken}: ")
        assert done.stdout == ""


def test_run_with_worker_processes_reads_the_rules_in_a_child_and_refuses_broken_ones(home):
    """The daemon's own process never classifies when worker processes file: it has a child
    read the rules, and a broken file is still the one line at start."""
    broken, _ = break_rules(home)
    append_config(home, "[worker]\nprocesses = 2\n")
    done = commgate(home, "run")
    assert done.returncode == EXIT_USAGE
    assert one_error_line(done).startswith(f"commgate: error: classifier rules: {broken}: ")
    assert receipts_and_quarantine(home) == ([], [])


@pytest.mark.parametrize(("processes", "imports_spacy"), [(2, False), (0, True)])
def test_the_daemons_rule_check_imports_spacy_only_when_it_files_itself(
        home, processes, imports_spacy):
    """With worker processes the daemon's process checks the rules without importing spaCy
    (48 MB it would keep for its whole life); filing in a thread of its own, it needs them."""
    append_config(home, f"[worker]\nprocesses = {processes}\n")
    probe = ("import sys; from pathlib import Path; from gateway.config import load_settings; "
             "from gateway.daemon.supervisor import check_daemon_config; "
             f"checked = check_daemon_config(load_settings(Path({str(home)!r}))); "
             "print(len(checked.version) > 8, 'spacy' in sys.modules, 'numpy' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=120, check=False, env=_environ())
    assert done.stdout.split() == ["True", str(imports_spacy), str(imports_spacy)], done.stderr


def test_a_bad_configuration_stops_ingest_run_and_classify_in_one_line(home, tmp_path):
    message = str(write_messages(tmp_path / "mail", [make_message()])[0])
    config = home / "commgate.toml"
    good = config.read_text()
    append_config(home, '[worker]\nbatch_size = "many"\n')
    for command in (["ingest", message], ["run"], ["classify", message]):
        done = commgate(home, *command)
        assert done.returncode == EXIT_USAGE, command
        assert f"{config}: worker.batch_size: " in one_error_line(done), command
    config.write_text(good)
    assert receipts_and_quarantine(home) == ([], [])


def test_a_signing_key_that_cannot_be_read_stops_ingest_and_run_before_any_mail(home, tmp_path):
    """The key is needed by the first reply to one of our messages; without the check at start
    that reply, and each after it, was quarantined as if the message were bad."""
    drop = tmp_path / "drop"
    drop.mkdir()
    waiting = write_messages(drop, [make_message(in_reply_to=OUR_ID)])[0]
    append_config(home, f'[threading]\nsigning_key_env = "{UNSET_KEY_ENV}"\n'
                        f'\n[[dropfolders]]\npath = "{drop}"\n')
    reply = str(write_messages(tmp_path / "mail", [make_message(in_reply_to=OUR_ID)])[0])
    expected = (f"commgate: error: threading.signing_key_env: environment variable "
                f"{UNSET_KEY_ENV} is not set")
    for command in (["ingest", reply], ["run"], ["quarantine", "retry"]):
        done = commgate(home, *command, env={k: v for k, v in _environ().items()
                                             if k != UNSET_KEY_ENV})
        assert done.returncode == EXIT_USAGE, command
        assert one_error_line(done) == expected, command
    assert waiting.exists()
    assert receipts_and_quarantine(home) == ([], [])



def test_a_run_that_fails_after_forking_its_fork_server_leaves_no_process_behind(home):
    """``commgate run`` forks its workers' fork server before it opens the database and binds
    its sockets (branch mem4); when the start fails after that (here: the web address is
    taken), the server is ended with the command, not left preloading the classifier for
    nobody with the command's stdout and stderr open."""
    from tests.support.web import configure_web

    config = home / "commgate.toml"
    text = config.read_text()
    config.write_text(text.replace("[worker]\n", "[worker]\nprocesses = 2\n", 1)
                      if "[worker]\n" in text else text + "\n[worker]\nprocesses = 2\n")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        configure_web(home, listen=f"127.0.0.1:{taken.getsockname()[1]}")
        daemon = subprocess.Popen([sys.executable, "-m", "gateway.cli.main", "--home", str(home),
                                   "run"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  env=_environ())
        assert daemon.stdout is not None
        try:
            code = daemon.wait(timeout=60)
        finally:
            daemon.kill()
    assert code != 0
    output = _read_to_the_end(daemon.stdout.fileno())
    daemon.stdout.close()
    assert b"commgate: error:" in output, output[-2000:]

def test_an_import_that_fails_after_starting_its_fork_server_leaves_no_process_behind(
        home, tmp_path):
    """``commgate ingest`` of enough messages for workers starts their fork server before it
    opens the installation (branch i17-start); a configuration fault found after that (here:
    the signing key's variable is unset) ends the server with the command, so the command's
    output ends with it instead of after the server's preload."""
    from gateway.processing.ingest import WORKERS_AFTER

    append_config(home, f'[worker]\nprocesses = 2\n\n[threading]\n'
                        f'signing_key_env = "{UNSET_KEY_ENV}"\n')
    folder = tmp_path / "import"
    write_messages(folder, [make_message(subject=f"import {n}") for n in range(WORKERS_AFTER)])
    command = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli.main", "--home", str(home), "ingest", str(folder)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        env={k: v for k, v in _environ().items() if k != UNSET_KEY_ENV})
    assert command.stdout is not None
    try:
        code = command.wait(timeout=60)
    finally:
        command.kill()
    assert code == EXIT_USAGE
    output = _read_to_the_end(command.stdout.fileno())
    command.stdout.close()
    assert b"commgate: error: threading.signing_key_env" in output, output[-2000:]
    assert receipts_and_quarantine(home) == ([], [])


def _read_to_the_end(fd: int) -> bytes:
    """All of a finished command's output; fails if a process it started still holds it."""
    os.set_blocking(fd, False)
    output = b""
    while True:  # to the end of the pipe, which only comes once no process holds it
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            pytest.fail("a process the command started still holds its output")
        if not chunk:
            return output
        output += chunk

# -- later -------------------------------------------------------------------------------------

def test_a_configuration_fault_while_the_daemon_runs_leaves_mail_queued_until_fixed(home,
                                                                                    tmp_path):
    """The key file goes bad after the start: the reply that needs it waits in the queue (one
    log line), is never quarantined, and is filed once the file is fixed."""
    key = home / "keys" / "signing.key"
    key.parent.mkdir(exist_ok=True)
    key.write_text("k" * 32)
    drop = mailbox.Maildir(str(tmp_path / "drop"))  # complete files only, by its protocol
    append_config(home, f'[threading]\nsigning_key_file = "{key}"\n'
                        f'\n[[dropfolders]]\npath = "{tmp_path / "drop"}"\n')
    log_path = tmp_path / "daemon.log"
    app = App.open(home)
    try:
        with daemon_process(home, log_path) as daemon:
            drop.add(make_message(subject="before the fault"))
            wait_for(lambda: _filed(app, "before the fault"), what="the first message filed")
            replace_text(key, "short")  # the workers read it per batch: never half-written
            drop.add(make_message(subject="during the fault", in_reply_to=OUR_ID))
            paused = wait_for(lambda: _lines_with(log_path, "processing paused"),
                              what="the paused worker's log line")
            assert "threading.signing_key: the key must be at least 16 characters" in paused[0]
            assert _statuses(app) == ["filed", "pending"]
            replace_text(key, "k" * 32)
            wait_for(lambda: _filed(app, "during the fault"),
                     what="the queued reply filed after the fix")
            assert daemon.poll() is None
        with app.db.session() as session:
            assert list_quarantine(session) == []
        log = log_path.read_text()
        assert len(_lines_with(log_path, "processing paused")) == 1, log
        assert "Traceback" not in log and "quarantined at" not in log, log
    finally:
        app.close()


def test_rules_broken_before_the_first_message_leave_it_queued_until_fixed(home):
    """The processor loads the rules on first use (a library caller that did not check them
    at start): broken then, they stop processing; the message waits and is filed after."""
    broken, good = break_rules(home)
    app = App.open(home)
    try:
        accept(app, [Delivery(make_message(subject="waits for the rules"), Receipt(
            transport="file", envelope={"alias": "sales@northpoint.example"}))])
        with pytest.raises(RulesConfigError, match="classifier rules: "):
            app.processor.process_pending()
        assert _statuses(app) == ["pending"]
        broken.write_text(good, "utf-8")
        assert [o.status for o in app.processor.process_pending()] == ["filed"]
        with app.db.session() as session:
            assert list_quarantine(session) == []
    finally:
        app.close()


def test_ingest_as_a_library_keeps_mail_queued_when_the_configuration_fails(home, tmp_path):
    """ingest() called without the command's checks: everything is archived and waits, the
    fault is reported in the summary, nothing is quarantined."""
    key = home / "keys" / "signing.key"
    key.parent.mkdir(exist_ok=True)
    key.write_text("short")
    append_config(home, f'[threading]\nsigning_key_file = "{key}"\n')
    files = write_messages(tmp_path / "mail", [make_message(subject="plain"),
                                               make_message(in_reply_to=OUR_ID)])
    app = App.open(home)
    try:
        summary = ingest(app, files)
        assert (summary.archived, summary.filed, summary.quarantined) == (2, 0, [])
        assert "threading.signing_key: the key must be at least 16" in summary.not_filed
        assert _statuses(app) == ["pending", "pending"]
    finally:
        app.close()


# -- exit codes --------------------------------------------------------------------------------

def test_exit_codes_follow_the_class_of_the_error_not_its_name():
    class ConfigError(Exception):
        """Not the gateway's, whatever its name says."""

    class OddRule(RulesConfigError):
        pass

    assert exit_code_for(OddRule("x")) == EXIT_USAGE  # the nearest class in the table wins
    assert exit_code_for(RulesConfigError("x")) == EXIT_USAGE
    assert exit_code_for(GatewayError("x")) == EXIT_FAILED
    assert exit_code_for(ArchiveError("x")) == EXIT_FAILED
    assert exit_code_for(ConfigError("x")) is None  # not ours: a bug, shown with its traceback
    assert exit_code_for(ValueError("x")) is None


def test_every_gateway_error_is_defined_in_one_module_and_says_when_it_is_raised():
    """STYLE.md (imapclient): one exception base per package, each subclass documented with
    "raised when", all in gateway/core/errors.py (private ones of one command aside)."""
    from gateway.core import errors

    ours = {name: cls for name, cls in vars(errors).items()
            if isinstance(cls, type) and issubclass(cls, GatewayError)}
    assert {name for name, cls in ours.items() if not (cls.__doc__ or "").startswith(
        "Raised when")} == {"GatewayError"}
    elsewhere = []
    for path in Path(gateway.__file__).parent.rglob("*.py"):
        if path == Path(errors.__file__):
            continue
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if (isinstance(node, ast.ClassDef) and not node.name.startswith("_")
                    and any(_base_name(base) in ours for base in node.bases)):
                elsewhere.append(f"{path.name}: {node.name}")
    assert elsewhere == []


def test_rules_errors_reach_the_command_line_as_configuration_errors():
    """classifiers/ knows nothing of the gateway; the bridge translates at the load."""
    from classifiers import RulesError

    assert not issubclass(RulesError, GatewayError)
    assert issubclass(RulesConfigError, ConfigError)


# -- helpers -----------------------------------------------------------------------------------

def _base_name(node: ast.expr) -> str:
    return node.id if isinstance(node, ast.Name) else getattr(node, "attr", "")


def _environ() -> dict[str, str]:
    return dict(os.environ)


def _statuses(app: App) -> list[str]:
    """The statuses of the receipts of mail in ledger order (not the case events entries)."""
    with app.db.session() as session:
        return list(session.scalars(select(LedgerReceipt.status)
                                    .where(LedgerReceipt.kind == "receipt")
                                    .order_by(LedgerReceipt.seq)))


def _filed(app: App, subject: str) -> bool:
    with app.db.session() as session:
        return session.scalar(select(Message.id).where(Message.subject == subject)) is not None


def replace_text(path: Path, text: str) -> None:
    """Write ``path`` as an operator's editor does (a new file renamed over it): a worker
    reading it meanwhile gets the old or the new text, never an empty or half-written one
    (a half-written key of 16 or more characters would be read as a key of its own)."""
    new = path.with_name(path.name + ".new")
    new.write_text(text)
    os.replace(new, path)


def _lines_with(log_path: Path, marker: str) -> list[str]:
    return [line for line in log_path.read_text().splitlines() if marker in line]
