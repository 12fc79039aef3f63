"""Every message of the third-party corpora goes through ``commgate ingest`` without a crash.

ARCHITECTURE contract 5: bad input is data, not an exception. Each message is archived and
then filed, recognised as a duplicate, or quarantined with its reason; nothing stays pending,
and the archive verifies afterwards. The expected number of messages is counted here, without
the gateway: one per file, mbox files message by message with the stdlib ``mailbox`` module
(one Netscape-style mbox by its ``From -`` lines, see UNMUNGED).

Which files are messages: everything below the corpora folder (CORPORA) except documentation
(README/SOURCE.md), labels and expected results (``labels.jsonl``, ``.yml``, ``.json``,
``.csv``, ``.list``, the mbox ``*-summary.txt`` files, notmuch's ``expected-output/``) and raw
TNEF attachments. Non-mail inputs that are left in on purpose (imaptest's test scripts, the
parakweet sentence lists) must be archived and quarantined like any other bad input.
"""

from __future__ import annotations

import hashlib
import mailbox
import os
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.support.corpora import CORPORA
from tests.support.mail import ledger_kinds

pytestmark = pytest.mark.corpora

SKIP_NAMES = {"README.md", "SOURCE.md", "labels.jsonl", ".gitattributes"}
SKIP_SUFFIXES = (".md", ".yml", ".json", ".csv", ".list", ".tnef", "-summary.txt")
# mbox files: read message by message. A .eml file is always one message, even
# sisimai's rfc3464-28.eml, which holds two bounces concatenated mbox-style.
MBOX_GLOBS = ("imaptest/*.mbox", "mimekit/mbox/*.mbox.txt")
# Netscape-style mbox ("From -" separators) after a UTF-8 byte order mark, whose bodies have
# un-escaped "From Russia with love" lines: two messages (the stdlib mailbox module says three).
UNMUNGED = "mimekit/mbox/unmunged.mbox.txt"
# Files that broke the import when this test was written (fixed in 208fd45). The main test
# covers them; this pins each one with the reason.
_SPLIT = "a .eml whose body has a 'From ' line after a blank line was split like an mbox"
REGRESSIONS = {
    "mimekit/messages/stack-overflow.txt":
        "a To header of 2,710 encoded words: RecursionError in alias detection aborted ingest",
    "notmuch/corpora/insert/mbox-attachment.eml": _SPLIT,
    "sisimai/maildir/not/rb-issue-368-bug.eml": _SPLIT,
    "sisimai/maildir/bsd/rfc3464-28.eml": _SPLIT,
    UNMUNGED: "the byte order mark hid the first From line: archived as one message",
    "sisimai/maildir/bsd/rfc3464-66.eml":
        "NUL in the text: PostgreSQL refused it (quarantined there, filed on SQLite)",
}
# Quarantine stages that mean "bad input"; 'processing' and 'filing' mean an internal failure.
INPUT_STAGES = {"archive", "parse", "classify"}


def corpus_files() -> list[Path]:
    files = []
    for path in sorted(CORPORA.rglob("*")):
        relative = path.relative_to(CORPORA).as_posix()
        if (not path.is_file() or path.name in SKIP_NAMES or path.name.endswith(SKIP_SUFFIXES)
                or relative.startswith("notmuch/expected-output/")):
            continue
        files.append(path)
    return files


def expected_messages(files: list[Path]) -> list[bytes]:
    """The raw bytes of every message, counted without the gateway."""
    mboxes = {path for pattern in MBOX_GLOBS for path in CORPORA.glob(pattern)}
    messages = []
    for path in files:
        if path == CORPORA / UNMUNGED:
            data = path.read_bytes().removeprefix(b"\xef\xbb\xbf").removeprefix(b"From -\n")
            messages += data.split(b"\nFrom -\n")
        elif path in mboxes:
            box = mailbox.mbox(str(path), create=False)
            try:
                messages += [box.get_bytes(key) for key in box.iterkeys()]
            finally:
                box.close()
        else:
            messages.append(path.read_bytes())
    return messages


@pytest.fixture(scope="module")
def corpus() -> tuple[list[Path], list[bytes]]:
    files = corpus_files()
    assert len(files) > 1400, f"the corpora at {CORPORA} look incomplete ({len(files)} files)"
    return files, expected_messages(files)


@pytest.mark.slow
def test_every_corpus_message_is_archived_and_accounted_for(cli, home: Path, corpus) -> None:
    files, messages = corpus
    result = cli("ingest", "--json", *map(str, files))
    assert result.code == 0, result.err[-3000:]
    summary = result.json()
    assert summary["unreadable"] == []
    assert summary["seen"] == len(messages)
    assert summary["archived"] + summary["duplicates"] == summary["seen"]

    engine = create_engine(os.environ["COMMGATE_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            # Mail only: the ledger also records the case events of each filed batch.
            receipts = conn.execute(text("SELECT seq, sha256, alias, status FROM receipts"
                                         " WHERE kind = 'receipt'")).all()
            message_count = conn.execute(text("SELECT count(*) FROM messages")).scalar_one()
    finally:
        engine.dispose()
    statuses = Counter(status for *_, status in receipts)
    assert len(receipts) == summary["archived"]
    assert set(statuses) <= {"filed", "duplicate", "quarantined"}, statuses
    assert statuses["filed"] == summary["filed"] == message_count
    assert statuses["quarantined"] == len(summary["quarantined"])
    # What was archived is exactly the input's bytes, each (sha256, alias) once.
    assert {sha for _, sha, _, _ in receipts} == {hashlib.sha256(m).hexdigest() for m in messages}
    assert len({(sha, alias) for _, sha, alias, _ in receipts}) == len(receipts)

    listed = cli("quarantine", "list", "--json")
    assert listed.code == 0
    quarantined = listed.json()
    assert sorted(q["seq"] for q in quarantined) == sorted(
        seq for seq, *_, status in receipts if status == "quarantined")
    assert all(q["reason"].strip() and q["stage"].strip() for q in quarantined), quarantined
    internal = [q for q in quarantined if q["stage"] not in INPUT_STAGES]
    assert internal == [], "quarantined for an internal failure, not for bad input"
    # The imaptest scripts have no mail header at all: archived, then quarantined.
    scripts = [p for p in files if p.parent.name == "imaptest" and not p.suffix]
    assert len(scripts) == 11
    assert {hashlib.sha256(p.read_bytes()).hexdigest() for p in scripts} <= {
        q["sha256"] for q in quarantined}

    cases = cli("cases", "list", "--json")
    assert cases.code == 0 and len(cases.json()) == summary["new_cases"]

    verify = cli("archive", "verify", "--json")
    assert verify.code == 0, verify.out
    assert verify.json()["ok"] and ledger_kinds(home)["receipt"] == summary["archived"]

    again = cli("ingest", "--json", *map(str, files))
    assert again.code == 0, again.err[-3000:]
    repeat = again.json()
    assert (repeat["seen"], repeat["archived"], repeat["duplicates"]) == (
        len(messages), 0, len(messages))


@pytest.mark.parametrize("name", list(REGRESSIONS))
def test_file_that_once_broke_ingest(cli, home: Path, name: str) -> None:
    path = CORPORA / name
    messages = expected_messages([path])
    result = cli("ingest", "--json", str(path))
    assert result.code == 0, f"{REGRESSIONS[name]}: {result.err[-3000:]}"
    assert result.json()["seen"] == len(messages), REGRESSIONS[name]
    engine = create_engine(os.environ["COMMGATE_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            receipts = conn.execute(text("SELECT sha256, status FROM receipts"
                                         " WHERE kind = 'receipt'")).all()
    finally:
        engine.dispose()
    assert {sha for sha, _ in receipts} == {hashlib.sha256(m).hexdigest() for m in messages}
    assert {status for _, status in receipts} == {"filed"}, REGRESSIONS[name]
