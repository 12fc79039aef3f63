"""The stable command-line forms operators script against, driven as an operator would."""

from __future__ import annotations

import json
import mailbox
import subprocess
import sys
import tempfile

import pytest

from gateway.cli.demo import SAMPLE_MAIL
from gateway.cli.main import main as cli_main
from tests.support.mail import make_message, write_messages

CASE_KEYS = {"ref", "category", "status", "scope_change", "opened_at", "messages"}
MESSAGE_KEYS = {"sha256", "message_id", "from", "subject", "date", "category", "direction"}


def test_init_refuses_to_overwrite_a_home(cli):
    result = cli("init", "--case-prefix", "NPC")
    assert result.code == 2
    assert "already exists" in result.err and len(result.err.strip().splitlines()) == 1


def test_commands_without_a_home_say_how_to_name_one(monkeypatch, capsys):
    monkeypatch.delenv("COMMGATE_HOME", raising=False)
    assert cli_main(["cases", "list"]) == 2
    assert "pass --home DIR or set COMMGATE_HOME" in capsys.readouterr().err


def test_unreachable_database_is_one_actionable_line(cli, monkeypatch):
    monkeypatch.setenv("COMMGATE_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    result = cli("cases", "list")
    assert result.code == 1
    assert result.err.startswith("commgate: error: cannot use the database postgresql+psycopg://")
    assert len(result.err.strip().splitlines()) == 1


def test_ingest_of_a_missing_path_is_a_usage_error(cli, tmp_path):
    result = cli("ingest", str(tmp_path / "nope"))
    assert result.code == 2 and "no such file or folder" in result.err


def test_ingest_reads_mbox_files_message_by_message(cli, tmp_path):
    box = mailbox.mbox(str(tmp_path / "archive.mbox"))
    for n in range(3):
        box.add(make_message(subject=f"Question {n}"))
    box.close()
    summary = cli("ingest", str(tmp_path / "archive.mbox"), "--json").json()
    assert (summary["seen"], summary["filed"], summary["new_cases"]) == (3, 3, 3)


def test_ingest_reads_a_maildir(cli, tmp_path):
    box = mailbox.Maildir(str(tmp_path / "Maildir"))
    box.add(make_message(subject="in new"))
    msg = mailbox.MaildirMessage(make_message(subject="in cur"))
    msg.set_subdir("cur")
    box.add(msg)
    summary = cli("ingest", str(tmp_path / "Maildir"), "--json").json()
    assert summary["filed"] == 2


def test_ingest_summary_names_quarantine_reasons_and_exits_zero(cli, tmp_path):
    write_messages(tmp_path / "in", [make_message(), b"\x00\x00 not mail"])
    result = cli("ingest", str(tmp_path / "in"))
    assert result.code == 0
    assert "quarantined:     1" in result.out
    assert "not an e-mail message" in result.out


def test_cases_list_and_show_json_carry_the_documented_fields(cli, tmp_path):
    write_messages(tmp_path / "in", [make_message(message_id="<a@c.example>"),
                                     make_message(in_reply_to="<a@c.example>")])
    cli("ingest", str(tmp_path / "in"))
    (listed,) = cli("cases", "list", "--json").json()
    assert {"ref", "category", "status", "scope_change", "opened_at"} <= set(listed)
    shown = cli("cases", "show", listed["ref"], "--json").json()
    assert set(shown) >= CASE_KEYS
    assert isinstance(shown["scope_change"], bool)
    assert len(shown["messages"]) == 2
    for message in shown["messages"]:
        assert set(message) >= MESSAGE_KEYS
        assert message["direction"] == "inbound" and len(message["sha256"]) == 64


def test_cases_show_of_an_unknown_reference(cli):
    result = cli("cases", "show", "NPC-999999")
    assert result.code == 1 and "no case 'NPC-999999'" in result.err


def test_quarantine_list_json(cli, tmp_path):
    write_messages(tmp_path / "in", [b"garbage without headers"])
    cli("ingest", str(tmp_path / "in"))
    (entry,) = cli("quarantine", "list", "--json").json()
    assert {"sha256", "reason", "at"} <= set(entry)
    retried = cli("quarantine", "retry", "--json").json()
    assert [r["status"] for r in retried] == ["quarantined"]
    assert cli("quarantine", "list", "--json").json()[0]["attempts"] == 2


def test_classify_prints_one_json_object_per_file_and_stores_nothing(cli, tmp_path):
    files = write_messages(tmp_path / "in", [
        make_message(subject="PO 4500012345", body="Please find our purchase order "
                     "4500012345 for 10 valves attached. Kindly confirm delivery."),
        make_message(subject="Automatic reply: away",
                     extra_headers="Auto-Submitted: auto-replied", body="I am out of office."),
    ])
    result = cli("classify", "--json", *map(str, files), use_home=False)
    assert result.code == 0
    first, second = result.json_lines()
    for obj in (first, second):
        assert {"file", "category", "scope_change", "identifiers", "language", "confidence",
                "evidence", "rules_version"} <= set(obj)
    assert first["category"] == "order"
    assert {"kind": "po", "value": "4500012345"} in first["identifiers"]
    assert second["category"] == "other"
    assert cli("cases", "list", "--json").json() == []


def test_demo_files_the_sample_threads_into_one_case_each(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert cli_main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "archive verify: intact" in out
    (home,) = tmp_path.glob("commgate-demo-*")
    manifest = json.loads((SAMPLE_MAIL / "manifest.json").read_text())
    assert cli_main(["--home", str(home), "cases", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    case_of_sha = {}
    for entry in listed:
        assert cli_main(["--home", str(home), "cases", "show", entry["ref"], "--json"]) == 0
        for message in json.loads(capsys.readouterr().out)["messages"]:
            case_of_sha[message["sha256"]] = entry["ref"]
    import hashlib

    refs = {}
    for item in manifest:
        sha = hashlib.sha256((SAMPLE_MAIL / item["file"]).read_bytes()).hexdigest()
        refs.setdefault(item["thread"] or item["file"], set()).add(case_of_sha[sha])
    assert all(len(found) == 1 for found in refs.values()), refs
    assert len({next(iter(v)) for v in refs.values()}) == len(refs)  # threads never merge


def test_console_script_runs_as_a_module(tmp_path):
    done = subprocess.run([sys.executable, "-m", "gateway.cli.main", "--help"], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0 and "archive" in done.stdout


@pytest.mark.parametrize("args", [["cases"], ["archive"], ["quarantine"]])
def test_groups_without_an_action_are_usage_errors(args, capsys):
    with pytest.raises(SystemExit) as exited:
        cli_main(["--home", "/nonexistent", *args])
    assert exited.value.code == 2


def test_home_from_environment(home, monkeypatch, capsys):
    monkeypatch.setenv("COMMGATE_HOME", str(home))
    assert cli_main(["cases", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_paths_are_reported_not_crashed_on_when_unreadable(cli, tmp_path):
    folder = tmp_path / "in"
    write_messages(folder, [make_message()])
    (folder / "broken.eml").symlink_to(tmp_path / "missing-target")
    summary = cli("ingest", str(folder), "--json").json()
    assert summary["filed"] == 1
    assert summary["unreadable"][0]["origin"].endswith("broken.eml")




def test_an_eml_file_quoting_a_from_line_is_one_message(cli, tmp_path):
    raw = make_message(body="Patch below.\n\nFrom 1a2b3c Mon Sep 17 00:00:00 2001\n"
                            "From: Dev <dev@x.example>\nSubject: [PATCH] fix\n\n--- a\n")
    path = tmp_path / "patch.eml"
    path.write_bytes(raw)
    summary = cli("ingest", str(path), "--json").json()
    assert (summary["seen"], summary["filed"]) == (1, 1)


def test_an_mbox_with_a_byte_order_mark_and_unescaped_from_lines(cli, tmp_path):
    first = make_message(subject="one", body="Hello\n\nFrom Russia with love\n")
    second = make_message(subject="two")
    path = tmp_path / "export.mbox"
    path.write_bytes(b"\xef\xbb\xbfFrom - \n" + first + b"\nFrom - Mon Jun  3 12:50:27 1996\n"
                     + second)
    summary = cli("ingest", str(path), "--json").json()
    assert (summary["seen"], summary["filed"]) == (2, 2)
    subjects = sorted(c["subject"] for c in cli("cases", "list", "--json").json())
    assert subjects == ["one", "two"]


def test_commands_that_classify_nothing_do_not_load_spacy(home):
    """Loading spaCy takes about a second: search, verify and export must not wait for it."""
    script = ("import sys; from gateway.cli.main import main; "
              f"code = main(['--home', {str(home)!r}, 'archive', 'verify']); "
              "print(code, 'spacy' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=True)
    assert result.stdout.split()[-2:] == ["0", "False"]
