"""Crash safety of ``commgate ingest``: SIGKILL it again and again, then let it finish.

ARCHITECTURE contracts 1 and 3: a crash at any instant loses nothing, a retried import creates
no duplicate message or case, and processing re-runs to the same result. The import runs as a
real subprocess (``python -m gateway.cli.main``) against the ``home`` fixture's backend and is
killed
with SIGKILL at least 20 times, at moments chosen by a random delay after start (mostly start-up:
imports, opening the database, catch-up) or by polling until the archive has grown past a random
count: blob files (lands in the archive write of a batch), ledger lines (lands right after a
ledger append, before the database knows of it), or ledger lines plus a random delay (lands in
the processing of the batch). Then one more run completes the import.

The synthetic input (seeded; the seed is printed and can be pinned with CRASH_SEED):

* ~300 threads of 1-6 messages. A reply names a random earlier message of its thread in
  In-Reply-To and the whole ancestor chain in References (some replies carry only References).
  Files are numbered in time order, so a parent is always archived before its replies.
* Some replies that nobody answers have no Message-ID; they still belong to their thread.
* Standalone messages without Message-ID and without references: each one is its own case.
* Exact byte duplicates of earlier files under other file names: one message row only.
* Senders from several domains; a thread's messages come from its first sender or a colleague
  at the same domain (a stranger quoting a thread's Message-ID gets a case of her own, see
  docs/threading.md); addressed to each of the three aliases (To, Cc, mixed case) or to no
  alias at all (then the default alias, the first configured one, files it).

Expectations: every distinct (sha256, alias) is exactly one ``messages`` row and one ledger
entry; no receipt is left pending (and none is quarantined: the mail is valid); all messages of
a thread share one case that holds nothing else, so different threads and standalone messages
are in different cases; case refs are unique and gapless; each message has exactly one
``message_threaded`` event and each case one ``case_opened`` event; ``archive verify`` passes.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from archive import sha256_hex
from gateway.config import DATABASE_URL_ENV, load_settings
from tests.support.mail import ALIASES, ledger_kinds, make_message, write_messages

pytestmark = pytest.mark.slow

TOTAL_FILES = 1000
THREADS = 300
STANDALONE_WITHOUT_ID = 12
BYTE_DUPLICATES = 15
MIN_KILLS = 20
START_UP_KILLS = 3
WATCHED = {"blob-writes": 0, "ledger": 1, "processing": 1}  # which progress() count
MODES = ["start-up", "blob-writes", "blob-writes", "ledger", "ledger", "processing"]
RUN_DEADLINE = 60.0  # one ingest run may take at most this long (it takes ~20 s)

SENDERS = [
    "Anna Buyer <anna@customer.example>",
    "Bernd Einkauf <bernd.einkauf@kunde-gmbh.example>",
    "Chloé Achats <chloe@acheteur.example>",
    "dave@free-mail.example",
    "\"Purchasing, Dept.\" <purchasing@bigcorp.example>",
    "Eve Quality <eve.q@bigcorp.example>",
    "=?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <juergen@maschinenbau.example>",
    "Kim <kim@startup.example>",
]
TOPICS = ["quote for 20 manifold blocks", "delivery date of order 4500123456",
          "anodise thickness on drawing 77-1203", "Lieferzeit Hydraulikblock",
          "material certificates for batch 26-0042", "change of quantity", "invoice question",
          "fixture for part 1234", "late delivery", "sample parts"]


@dataclass
class Corpus:
    folder: Path
    raws: list[bytes]  # in file order
    threads: list[list[str]]  # sha256 of each message of each synthetic thread
    standalone: list[str]  # sha256 of messages without Message-ID and without references
    alias_of: dict[str, str] = field(default_factory=dict)  # sha256 -> expected alias

    @property
    def keys(self) -> set[tuple[str, str]]:
        return {(sha256_hex(raw), self.alias_of[sha256_hex(raw)]) for raw in self.raws}


def _addressing(rng: random.Random, default_alias: str) -> tuple[str, str, str]:
    """(To, extra headers, expected alias)."""
    roll = rng.random()
    alias = rng.choice(ALIASES)
    if roll < 0.55:
        return alias, "", alias
    if roll < 0.7:
        return f"Northpoint <{alias.upper()}>", "", alias
    if roll < 0.85:
        return "someone@elsewhere.example", f"Cc: {alias}", alias
    return "orders@unrelated.example", "", default_alias  # no alias named: the default one


def _domain(sender: str) -> str:
    return sender.rsplit("@", 1)[-1].rstrip(">")


def _without_message_id(raw: bytes) -> bytes:
    head, sep, body = raw.partition(b"\r\n\r\n")
    lines = [line for line in head.split(b"\r\n") if not line.startswith(b"Message-ID:")]
    return b"\r\n".join(lines) + sep + body


def build_corpus(folder: Path, rng: random.Random, default_alias: str) -> Corpus:
    thread_messages = TOTAL_FILES - STANDALONE_WITHOUT_ID - BYTE_DUPLICATES
    sizes = [1] * THREADS
    while sum(sizes) < thread_messages:  # grow random threads up to six messages
        index = rng.randrange(THREADS)
        if sizes[index] < 6:
            sizes[index] += 1
    timeline: list[tuple[float, int, bytes]] = []  # (time, tie-break, raw)
    threads: list[list[str]] = []
    alias_of: dict[str, str] = {}
    serial = 0
    for number, size in enumerate(sizes):
        topic = f"{rng.choice(TOPICS)} (T{number:03d})"
        starter = rng.choice(SENDERS)
        colleagues = [s for s in SENDERS if _domain(s) == _domain(starter)]
        clock = rng.uniform(0, 10_000)
        ids: list[str] = []
        chains: list[list[str]] = []
        shas: list[str] = []
        for position in range(size):
            serial += 1
            message_id = f"<t{number:03d}.m{position}.{rng.getrandbits(48):012x}@mail.example>"
            to, extra, alias = _addressing(rng, default_alias)
            in_reply_to = references = None
            chain: list[str] = []
            if position:
                parent = rng.randrange(len(ids))
                while ids[parent] == "":  # a message without Message-ID is never a parent
                    parent = rng.randrange(len(ids))
                chain = [*chains[parent], ids[parent]]
                in_reply_to = None if rng.random() < 0.15 else ids[parent]
                references = " ".join(chain)
            raw = make_message(
                subject=("Re: " if position else "") + topic,
                body=f"Message {serial} about {topic}.\nKind regards\n",
                sender=rng.choice(colleagues) if position else starter, to=to,
                message_id=message_id,
                in_reply_to=in_reply_to, references=references,
                date=f"Mon, 23 Nov 2026 {position + 8:02d}:{rng.randrange(60):02d}:00 +0100",
                extra_headers=extra)
            last_leaf = position == size - 1 and position > 0
            if last_leaf and rng.random() < 0.12:
                raw, message_id = _without_message_id(raw), ""
            ids.append(message_id)
            chains.append(chain)
            sha = sha256_hex(raw)
            shas.append(sha)
            alias_of[sha] = alias
            clock += rng.uniform(1, 500)
            timeline.append((clock, serial, raw))
        threads.append(shas)
    standalone: list[str] = []
    for number in range(STANDALONE_WITHOUT_ID):
        serial += 1
        to, extra, alias = _addressing(rng, default_alias)
        raw = _without_message_id(make_message(
            subject=f"Standalone question {number}", body=f"Message {serial}, no id.\n",
            sender=rng.choice(SENDERS), to=to, extra_headers=extra))
        sha = sha256_hex(raw)
        standalone.append(sha)
        alias_of[sha] = alias
        timeline.append((rng.uniform(0, 12_000), serial, raw))
    timeline.sort()
    raws = [raw for _, _, raw in timeline]
    for _ in range(BYTE_DUPLICATES):  # a copy of an earlier file, somewhere after it
        original = rng.randrange(len(raws) - 1)
        raws.insert(rng.randrange(original + 1, len(raws) + 1), raws[original])
    assert len(raws) == TOTAL_FILES
    write_messages(folder, raws)
    return Corpus(folder, raws, threads, standalone, alias_of)


# -- the killing -----------------------------------------------------------------------------

class LedgerWatch:
    """Counts complete ledger lines, re-reading the file only when it grew."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.size = -1
        self.lines = 0

    def count(self) -> int:
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return 0
        if size != self.size:
            self.size, self.lines = size, self.path.read_bytes().count(b"\n")
        return self.lines


def _start(home: Path, folder: Path, log: Path, json_out: bool = False) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "gateway.cli.main", "--home", str(home), "ingest", str(folder)]
    with open(log, "ab") as err:
        return subprocess.Popen(args + (["--json"] if json_out else []), env=dict(os.environ),
                                stdout=subprocess.PIPE if json_out else subprocess.DEVNULL,
                                stderr=err, start_new_session=True)


def _poll_until(count: Callable[[], int], target: int, proc: subprocess.Popen[bytes],
                deadline: float) -> None:
    """Return as soon as ``count()`` reached ``target``, the process ended or time is up."""
    while proc.poll() is None and time.monotonic() < deadline and count() < target:
        time.sleep(0.002)


def _count_blobs(blob_dir: Path) -> int:
    return sum(1 for shard in os.scandir(blob_dir) for _ in os.scandir(shard.path))


def _new_names(folder: Path, known: set[str]) -> int:
    return len({entry.name for entry in os.scandir(folder)} - known)


def _kill(proc: subprocess.Popen[bytes]) -> bool:
    """SIGKILL ``proc`` if it still runs; True when it was killed (not already finished)."""
    if proc.poll() is not None:
        return False
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    return proc.returncode == -signal.SIGKILL


def _wait_for_idle_postgres(url: str, deadline: float) -> None:
    """A killed client's server backend may linger a moment holding row locks: wait it out."""
    engine = create_engine(url)
    try:
        while True:
            with engine.connect() as conn:
                others = conn.execute(text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND backend_type = 'client backend' AND pid <> pg_backend_pid()")).scalar_one()
            if others == 0:
                return
            assert time.monotonic() < deadline, f"{others} backends still busy after the kills"
            time.sleep(0.05)
    finally:
        engine.dispose()


def _processed(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text(
            "SELECT count(*) FROM receipts WHERE status <> 'pending'")).scalar_one()


def test_ingest_survives_repeated_sigkill(home: Path, tmp_path: Path) -> None:
    seed = int(os.environ.get("CRASH_SEED", random.randrange(1 << 30)))
    print(f"\nCRASH_SEED={seed}")
    rng = random.Random(seed)
    url = os.environ[DATABASE_URL_ENV]
    corpus = build_corpus(tmp_path / "drop", rng, load_settings(home).default_alias)
    expected_keys = corpus.keys
    ledger = LedgerWatch(home / "archive" / "ledger" / "ledger.jsonl")
    log = tmp_path / "ingest.log"
    engine = create_engine(url)

    blob_dir, tmp_dir = home / "archive" / "blobs", home / "archive" / "tmp"

    def progress() -> tuple[int, int, int]:
        """(blob files, ledger lines, receipts processed): what survives a kill."""
        return _count_blobs(blob_dir), ledger.count(), _processed(engine)

    kills, finished_early = 0, 0
    phases: Counter[str] = Counter()
    while kills < MIN_KILLS:
        before, tmp_before = progress(), {entry.name for entry in os.scandir(tmp_dir)}
        proc = _start(home, corpus.folder, log)
        deadline = time.monotonic() + RUN_DEADLINE
        mode = "start-up" if kills < START_UP_KILLS else rng.choice(MODES)
        if before[WATCHED.get(mode, 2)] == len(expected_keys):
            mode = "start-up"  # the write this mode waits for will not come any more
        if mode == "start-up":  # a random delay: mostly imports, opening the database, catch-up
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=rng.uniform(0.0, 2.5))
        elif mode == "blob-writes":  # poll until a random number of new blobs is in place
            target = min(before[0] + rng.randint(1, 99), len(expected_keys))
            _poll_until(partial(_count_blobs, blob_dir), target, proc, deadline)
        else:  # poll until the ledger grew past a random line count
            target = min(before[1] + rng.randint(1, 99), len(expected_keys))
            _poll_until(ledger.count, target, proc, deadline)
            if mode == "processing":  # then a random delay into the processing of the batch
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=rng.uniform(0.0, 0.6))
        if not _kill(proc):
            assert proc.returncode == 0, log.read_text()[-3000:]
            finished_early += 1
            continue
        kills += 1
        after = progress()
        # Where it landed, judged by what this run made durable and what it left in flight.
        if before[2] == len(expected_keys):
            phases["re-run after completion"] += 1
        elif after[0] > max(before[0], after[1]) or _new_names(tmp_dir, tmp_before):
            phases["archive: blobs written, not yet in the ledger"] += 1
        elif after[1] > before[1] and after[1] > after[2]:
            phases["archived, processing not committed"] += 1
        elif after[2] > before[2]:
            phases["after a processing commit"] += 1
        else:
            phases["start-up (nothing written)"] += 1
    print(f"SIGKILLed {kills} times; where the kills landed: {dict(phases)}; "
          f"{finished_early} runs finished before their kill moment")
    assert phases["start-up (nothing written)"] >= 1
    assert phases["re-run after completion"] <= MIN_KILLS // 2, "the import finished too early"

    engine.dispose()  # our own pooled connection must not count as a lingering backend
    if url.startswith("postgresql"):
        _wait_for_idle_postgres(url, time.monotonic() + 30)
    proc = _start(home, corpus.folder, log, json_out=True)
    out, _ = proc.communicate(timeout=RUN_DEADLINE * 2)
    assert proc.returncode == 0, log.read_text()[-3000:]
    summary = json.loads(out)
    assert summary["seen"] == TOTAL_FILES
    assert summary["quarantined"] == [] and summary["unreadable"] == []

    with engine.connect() as conn:
        rows = conn.execute(text("SELECT sha256, alias, case_id FROM messages")).all()
        receipts = conn.execute(text("SELECT seq, sha256, alias, status FROM receipts "
                                     "WHERE kind = 'receipt'")).all()
        all_seqs = conn.execute(text("SELECT seq FROM receipts")).scalars().all()
        refs = conn.execute(text("SELECT id, ref FROM cases")).all()
        events = conn.execute(text(
            "SELECT case_id, kind, message_pk FROM case_events")).all()
        message_pks = conn.execute(text("SELECT id FROM messages")).scalars().all()
    engine.dispose()

    # Every distinct (sha256, alias) of the input: exactly one message row, one ledger entry.
    row_keys = Counter((sha, alias) for sha, alias, _ in rows)
    assert set(row_keys) == expected_keys
    assert max(row_keys.values()) == 1
    assert Counter(status for *_, status in receipts) == {"filed": len(expected_keys)}
    # Every ledger entry has its row: mail, and the case events of the filing batches (an
    # events entry a kill left before its commit is voided by the next catch-up).
    assert sorted(all_seqs) == list(range(1, len(all_seqs) + 1))
    assert {(sha, alias) for _, sha, alias, _ in receipts} == expected_keys

    # Threads: one case per synthetic thread holding exactly its messages; standalone alone.
    case_of = {sha: case_id for sha, _, case_id in rows}
    members: defaultdict[int, set[str]] = defaultdict(set)
    for sha, _, case_id in rows:
        members[case_id].add(sha)
    groups = [set(shas) for shas in corpus.threads] + [{sha} for sha in corpus.standalone]
    for group in groups:
        cases = {case_of[sha] for sha in group}
        assert len(cases) == 1, f"a thread was split over cases {sorted(cases)}"
        assert members[cases.pop()] == group, "a case holds messages of another thread"
    assert len(members) == len(groups) == len(refs)

    # Case refs: unique and gapless (the counter is incremented inside the filing transaction).
    ref_list = [ref for _, ref in refs]
    assert len(set(ref_list)) == len(ref_list)
    assert sorted(ref_list) == [f"NPC-{n:06d}" for n in range(1, len(groups) + 1)]

    # Events were written in the filing transaction: none lost, none doubled by a re-run.
    threaded = Counter(pk for _, kind, pk in events if kind == "message_threaded")
    assert threaded == Counter(message_pks)
    opened = Counter(case_id for case_id, kind, _ in events if kind == "case_opened")
    assert opened == Counter(case_id for case_id, _ in refs)

    verify = subprocess.run([sys.executable, "-m", "gateway.cli.main", "--home", str(home),
                             "archive", "verify", "--json"], capture_output=True, timeout=120,
                            env=dict(os.environ))
    assert verify.returncode == 0, verify.stdout.decode() + verify.stderr.decode()[-2000:]
    report = json.loads(verify.stdout)
    # Every message once, besides the entries of the case events its filing recorded.
    assert report["ok"] and ledger_kinds(home)["receipt"] == len(expected_keys)
    assert report["entries"] == sum(ledger_kinds(home).values())
