"""Standard exports (gateway/evidence/exports.py) through the CLI on both backends: an mboxrd file
and a
folder of .eml files, byte-exact, each recorded in the access log."""

from __future__ import annotations

import mailbox
import re
import subprocess
from datetime import timedelta

from gateway.bootstrap import App
from gateway.core.clock import utcnow
from gateway.evidence.exports import from_line, mboxrd_quote
from gateway.processing.ingest import ingest
from gateway.workflows.retention import expire
from tests.support.mail import make_message, write_messages

TRICKY = make_message(subject="Lines that look like separators",
                      body="Hello\nFrom now on we order weekly.\n>From the archive:\n"
                           ">>From quoted twice\nFrom\nBye")
PLAIN = make_message(subject="Question about part 1234")
NO_FINAL_NEWLINE = make_message(subject="Re: Question about part 1234",
                                in_reply_to="<x@customer.example>", body="thanks")[:-2]


def read_mboxrd(data: bytes) -> list[bytes]:
    """An independent mboxrd reader: split at From lines that start the file or follow the
    blank separator line, drop that line, unquote one '>' from '>+From ' lines."""
    chunks = re.split(rb"(?:\A|(?<=\n)\n)From [^\n]*\n", data)
    assert chunks[0] == b"" and chunks[-1].endswith(b"\n")
    chunks[-1] = chunks[-1][:-1]
    return [re.sub(rb"^>(>*From )", rb"\1", chunk, flags=re.MULTILINE) for chunk in chunks[1:]]


def test_mbox_export_is_mboxrd_and_otherwise_byte_exact(cli, tmp_path):
    paths = write_messages(tmp_path / "in", [TRICKY, PLAIN])
    assert cli("ingest", *map(str, paths)).code == 0
    out = tmp_path / "export.mbox"
    result = cli("export", "mbox", "--alias", "sales@northpoint.example", "-o", str(out),
                 "--as", "carl", "--json")
    assert result.code == 0, result.err
    assert result.json()["messages"] == 2
    data = out.read_bytes()
    assert b"\n>From now on" in data and b"\n>>From the archive" in data \
        and b"\n>>>From quoted twice" in data
    assert read_mboxrd(data) == [TRICKY, PLAIN]
    assert [m["subject"] for m in mailbox.mbox(out)] == [
        "Lines that look like separators", "Question about part 1234"]
    (logged,) = cli("audit", "log", "--action", "export", "--json").json()
    assert (logged["actor"], logged["detail"]["format"], logged["detail"]["messages"]) == (
        "carl", "mbox", 2)
    assert logged["seq"] == result.json()["export_seq"]


def test_a_message_without_a_final_newline_gets_one_and_still_separates(cli, tmp_path):
    paths = write_messages(tmp_path / "in", [PLAIN, NO_FINAL_NEWLINE])
    assert cli("ingest", *map(str, paths)).code == 0
    out = tmp_path / "export.mbox"
    assert cli("export", "mbox", "--alias", "sales@northpoint.example", "-o", str(out)).code == 0
    messages = read_mboxrd(out.read_bytes())
    assert len(messages) == 2 and NO_FINAL_NEWLINE + b"\n" in messages


def test_the_from_line_never_carries_text_from_mail():
    assert from_line("anna@customer.example", None) == \
        b"From anna@customer.example Thu Jan 01 00:00:00 1970\n"
    assert from_line("evil\nFrom x", utcnow()).startswith(b"From MAILER-DAEMON ")
    assert from_line("", None).startswith(b"From MAILER-DAEMON ")
    assert mboxrd_quote(b"From a\r\n>From b\r\nxFrom c\r\n") == \
        b">From a\r\n>>From b\r\nxFrom c\r\n"


def test_eml_export_writes_a_checkable_folder(cli, tmp_path):
    paths = write_messages(tmp_path / "in", [TRICKY, PLAIN])
    assert cli("ingest", *map(str, paths)).code == 0
    folder = tmp_path / "eml"
    result = cli("export", "eml", "--customer", "customer.example", "-o", str(folder),
                 "--as", "carl")
    assert result.code == 0, result.err
    files = sorted(p.name for p in folder.iterdir())
    assert files[-1] == "SHA256SUMS" and len(files) == 3
    assert all(re.fullmatch(r"\d{9}-[0-9a-f]{64}\.eml", name) for name in files[:-1])
    assert sorted((folder / name).read_bytes() for name in files[:-1]) == sorted([TRICKY,
                                                                                 PLAIN])
    check = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=folder, capture_output=True,
                           text=True)
    assert check.returncode == 0 and check.stdout.count(": OK") == 2, check.stdout
    (logged,) = cli("audit", "log", "--action", "export", "--json").json()
    assert logged["detail"]["format"] == "eml" and logged["detail"]["output"] == "eml"
    assert not list(tmp_path.glob(".eml.*"))  # no partial folder left


def test_exports_refuse_to_overwrite(cli, tmp_path):
    paths = write_messages(tmp_path / "in", [PLAIN])
    assert cli("ingest", *map(str, paths)).code == 0
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken.mbox").write_text("mine")
    for kind, target in (("eml", "taken"), ("mbox", "taken.mbox")):
        result = cli("export", kind, "--case", "NPC-000001", "-o", str(tmp_path / target))
        assert result.code == 1 and "refusing to overwrite" in result.err
    assert (tmp_path / "taken.mbox").read_text() == "mine"
    assert cli("audit", "log", "--action", "export", "--json").json() == []


def test_purged_messages_are_reported_not_exported(home, cli, tmp_path):
    with open(home / "commgate.toml", "a") as config:
        config.write("\n[retention]\ndefault_days = 1\n")
    app = App.open(home)
    try:
        ingest(app, write_messages(tmp_path / "old", [PLAIN]))
        expire(app, now=utcnow() + timedelta(days=2))
        ingest(app, write_messages(tmp_path / "new", [TRICKY]))
    finally:
        app.close()
    out = tmp_path / "all.mbox"
    result = cli("export", "mbox", "--alias", "sales@northpoint.example", "-o", str(out),
                 "--json")
    assert result.code == 0, result.err
    report = result.json()
    assert report["messages"] == 1 and len(report["purged"]) == 1
    assert report["purged"][0]["tombstone_seq"] > report["purged"][0]["seq"]
    assert read_mboxrd(out.read_bytes()) == [TRICKY]


def test_a_failed_export_is_logged_as_failed_not_as_handed_out(cli, tmp_path, small_fs):
    """The auditor's hole: an export that failed (here a full disk) was in the access log
    as an export like any other."""
    import base64
    import os

    big = make_message(subject="Drawings", body=base64.encodebytes(os.urandom(300_000)).decode())
    paths = write_messages(tmp_path / "in", [big])
    assert cli("ingest", *map(str, paths)).code == 0
    full = small_fs(64)
    for args in (("export", "mbox", "--alias", "sales@northpoint.example", "-o",
                  str(full / "out.mbox")),
                 ("audit", "export", "--case", "NPC-000001", "-o", str(full / "out.zip"))):
        result = cli(*args, "--as", "carl")
        assert result.code != 0 and re.search("No space left|disk full", result.err), result.err
    assert cli("export", "mbox", "--alias", "sales@northpoint.example", "-o",
               str(tmp_path / "ok.mbox"), "--as", "carl").code == 0
    exports = cli("audit", "log", "--action", "export", "--json").json()
    failures = cli("audit", "log", "--action", "export-failed", "--json").json()
    assert [bool(row.get("failed")) for row in exports] == [True, True, False]
    assert [f["detail"]["export_seq"] for f in failures] == [r["seq"] for r in exports[:2]]
    assert all(re.search("No space left|disk full", f["detail"]["error"]) for f in failures)
    table = cli("audit", "log").out
    assert table.count("export FAILED") == 2
