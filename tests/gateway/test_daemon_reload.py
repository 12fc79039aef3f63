"""SIGHUP as mail daemons have it: the configuration and the classifier rules are read again,
what can change live applies at once, a broken new configuration is refused, and the daemon
never stops for it (issue 11, item 9)."""

from __future__ import annotations

import contextlib
import shutil
import signal
import smtplib
from pathlib import Path

from sqlalchemy import select

from classifiers import load_rules
from classifiers.rules import DEFAULT_RULES_DIR
from gateway.bootstrap import App
from gateway.db.models import Message
from tests.support.daemon import daemon_process, smtp_ready
from tests.support.dovecot import free_port
from tests.support.mail import make_message
from tests.support.waiting import wait_for


def send(port: int, subject: str) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.sendmail("anna@customer.example", ["sales@northpoint.example"],
                        make_message(subject=subject))


def rules_version_of(app: App, subject: str) -> str | None:
    """The rules version the message with ``subject`` was filed with, once it is filed."""
    with app.db.session() as session:
        return session.scalar(select(Message.rules_version).where(Message.subject == subject))


def log_after(log_path: Path, marker: str, occurrence: int = 1) -> str:
    """The log from the ``occurrence``-th line containing ``marker`` on ('' before it)."""
    text = log_path.read_text()
    at = -1
    for _ in range(occurrence):
        at = text.find(marker, at + 1)
        if at < 0:
            return ""
    return text[at:]


def test_sighup_reloads_log_level_and_rules_and_keeps_serving(home, tmp_path):
    rules = home / "rules"
    shutil.copytree(DEFAULT_RULES_DIR, rules)
    port = free_port()
    config = home / "commgate.toml"
    base = config.read_text().replace('case_prefix = "NPC"', 'case_prefix = "NPC"\n'
                                      'log_level = "WARNING"')
    # Two worker processes whatever the machine's cores: each reads the rules again on its
    # own after the daemon's check, the race this test is about (one worker would hide it).
    base += (f'\n[smtp]\nenabled = true\nlisten = "127.0.0.1"\nport = {port}\n'
             '\n[classifier]\nrules_path = "rules"\n\n[worker]\nprocesses = 2\n')
    config.write_text(base)
    first_version = load_rules(rules).version
    log_path = tmp_path / "daemon.log"
    app = App.open(home)
    with contextlib.closing(app), daemon_process(home, log_path) as daemon:
        wait_for(lambda: smtp_ready(port), what="the SMTP intake to listen")
        # log_level = "WARNING" is applied from the start: no INFO start-up lines.
        assert " INFO " not in log_path.read_text(), log_path.read_text()
        send(port, "before the reload")
        assert wait_for(lambda: rules_version_of(app, "before the reload"),
                        what="the first message filed") == first_version

        # New rules, a new log level, and a change that needs a restart.
        order = rules / "en" / "order.toml"
        order.write_text(order.read_text("utf-8") + "\n# reviewed after the reload\n", "utf-8")
        second_version = load_rules(rules).version
        assert second_version != first_version
        config.write_text(base.replace('log_level = "WARNING"', 'log_level = "DEBUG"')
                          .replace("[worker]\n", "[worker]\nbatch_size = 7\n"))
        daemon.send_signal(signal.SIGHUP)
        reloaded = wait_for(lambda: log_after(log_path, "reloaded "), what="the reload")
        assert f"classifier rules {second_version[:12]}" in reloaded
        assert "log level DEBUG" in reloaded
        assert "reload: worker changed in" in log_path.read_text()
        assert daemon.poll() is None
        send(port, "after the reload")
        assert wait_for(lambda: rules_version_of(app, "after the reload"),
                        what="the second message filed") == second_version
        # The new level is in force: a DEBUG line follows the reload (waited for, since the
        # log handler may write it after the "reloaded" line was read).
        assert wait_for(lambda: " DEBUG " in log_after(log_path, "reloaded "),
                        what="a DEBUG line after the reload")
        # Each worker process reads the files again on its own, after the daemon's check:
        # the files are edited below only once every worker has applied the checked rules.
        wait_for(lambda: log_path.read_text().count(
            f"reloaded: classifier rules {second_version[:12]}") >= 2,
            what="every worker's reload")

        # A configuration that is not TOML, then rules that do not load: each refused in
        # one line; the daemon keeps the running ones and keeps answering.
        config.write_text(base + "\n[worker\n")
        daemon.send_signal(signal.SIGHUP)
        refused = wait_for(lambda: log_after(log_path, "reload refused"),
                           what="the refused configuration")
        assert "commgate.toml: not valid TOML" in refused.splitlines()[0]
        config.write_text(base.replace('log_level = "WARNING"', 'log_level = "DEBUG"'))
        order.write_text(order.read_text("utf-8") + "\n[[rules]\n", "utf-8")
        daemon.send_signal(signal.SIGHUP)
        refused = wait_for(lambda: log_after(log_path, "reload refused", 2),
                           what="the refused rules")
        assert f"classifier rules: {order}: rule '-': not valid TOML" in refused.splitlines()[0]
        assert "Traceback" not in log_path.read_text()
        assert smtp_ready(port) and daemon.poll() is None
        send(port, "after the refusals")
        assert wait_for(lambda: rules_version_of(app, "after the refusals"),
                        what="the third message filed") == second_version
    output = log_path.read_text()
    assert daemon.returncode == 0, output[-3000:]
    assert "stopped" in output


def subjects_filed(app: App, prefix: str) -> int:
    with app.db.session() as session:
        return len(session.scalars(select(Message.id).where(
            Message.subject.startswith(prefix))).all())


def test_sighup_applies_new_aliases_and_review_templates_and_drops_no_batch(home, tmp_path):
    port = free_port()
    config = home / "commgate.toml"
    base = config.read_text() + (f'\n[smtp]\nenabled = true\nlisten = "127.0.0.1"\n'
                                 f'port = {port}\n\n[worker]\nprocesses = 1\n')
    config.write_text(base)
    log_path = tmp_path / "daemon.log"
    app = App.open(home)
    with contextlib.closing(app), daemon_process(home, log_path) as daemon:
        wait_for(lambda: smtp_ready(port), what="the SMTP intake to listen")
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
            client.ehlo()
            assert client.docmd("MAIL FROM:<anna@customer.example>")[0] == 250
            assert client.docmd("RCPT TO:<claims@northpoint.example>")[0] == 550  # not yet
        # A new alias and another review template; mail keeps coming while the daemon reloads.
        config.write_text(base + '\n[[aliases]]\naddress = "claims@northpoint.example"\n'
                          '\n[reviews]\ntemplates = { "scope-change/approved" = "our-yes" }\n')
        for number in range(12):
            if number == 4:
                daemon.send_signal(signal.SIGHUP)
            send(port, f"during the reload {number}")
        reloaded = wait_for(lambda: log_after(log_path, "reloaded "), what="the reload",
                            timeout=180)
        assert "claims@northpoint.example" in reloaded.splitlines()[0]
        assert wait_for(lambda: subjects_filed(app, "during the reload ") == 12,
                        what="every message sent around the reload filed", timeout=180)
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
            client.sendmail("anna@customer.example", ["claims@northpoint.example"],
                            make_message(subject="to the new alias"))
        wait_for(lambda: subjects_filed(app, "to the new alias") == 1,
                 what="the message to the new alias filed", timeout=180)
        with app.db.session() as session:
            alias = session.scalar(select(Message.alias).where(
                Message.subject == "to the new alias"))
        assert alias == "claims@northpoint.example"
        output = log_path.read_text()
        assert "restart the daemon to apply" not in output, output[-3000:]
        assert "Traceback" not in output
    assert daemon.returncode == 0, log_path.read_text()[-3000:]


def test_a_worker_refuses_rules_that_changed_after_the_daemons_check(home, caplog):
    """The files a worker reads on SIGHUP are not the version the daemon checked (edited, or
    being written, in between): the worker keeps its rules and says to send SIGHUP again."""
    from gateway.daemon.workers import _reload

    rules = home / "rules"
    shutil.copytree(DEFAULT_RULES_DIR, rules)
    config = home / "commgate.toml"
    config.write_text(config.read_text() + '\n[classifier]\nrules_path = "rules"\n')
    checked = load_rules(rules).version
    app = App.open(home)
    with contextlib.closing(app):
        running = app.processor.rules
        order = rules / "en" / "order.toml"
        order.write_text(order.read_text("utf-8") + "\n# edited after the check\n", "utf-8")
        _reload(app, None, checked)
        assert app.processor.rules is running
        assert "the rule files changed after the daemon checked them" in caplog.text
        assert "send SIGHUP again" in caplog.text

        _reload(app, None, load_rules(rules).version)  # the files as checked: applied
        assert app.processor.rules.version == load_rules(rules).version != running.version
