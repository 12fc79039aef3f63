"""Archive and compliance benchmark (issue 6): how close do verify and export come to the
plain file operations they are built on, and how fast are checkpoints and search at scale?

What is measured, in ONE run:

1. verify vs sha256: ``hashlib.sha256`` over every blob file of an archive of ``--messages``
   corpus messages (read + hash, the floor of any honest re-check: one process, os.scandir,
   unbuffered reads into a reused buffer), then ``archive verify`` of the same archive (chain
   + blobs + database copy + checkpoints via ``verify_installation``, which may use every
   core). Both run warm (one untimed run of each first), ``--rounds`` times interleaved,
   in a fresh process that opens the installation as the ``archive verify`` command does
   (the building process holds spaCy and the filing state, a heap the command never has).
   The figure is the median of the rounds' ratios (each round times the two back to back).
   Target >= 0.8. The archive has a signed checkpoint, so verify checks it too. The corpus
   is small text mail, where per-entry work dominates; ``--mixed`` gives every fifth
   message a 200 KB - 2 MB attachment, where hashing bytes dominates.
2. checkpoint: a synthetic ledger of ``--ledger-entries`` entries (default 1,000,000; the
   entries are real, chained ledger lines; no blobs are needed to sign the Merkle root), then
   ``write_checkpoint`` timed, plus the size of one inclusion proof.
3. search p95: ``--search-messages`` synthetic messages (default 1,000,000) bulk-inserted into
   a fresh SQLite database and the FTS5 index (words drawn from a Zipf-like vocabulary, so some
   words match a tenth of all mail and others a handful), then ``--queries`` searches of mixed
   kinds (common word, rare word, two words, phrase, prefix, each with and without a filter):
   p50/p95/max in ms. Target p95 < 100 ms.
4. evidence package vs copy: ``export_package`` of every case of the archive from part 1 versus
   ``shutil.copyfile`` of the same blob files into a folder. Target ratio >= 0.5.

Run: ``.venv/bin/python bench/archive.py [--messages 2000] [--ledger-entries 1000000]
[--search-messages 1000000]``; smaller numbers for a quick look.
"""

from __future__ import annotations

import argparse
import email
import email.message
import email.policy
import functools
import gc
import hashlib
import itertools
import json
import logging
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, text

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))

from archive import Archive, Receipt, generate_key, inclusion_proof, write_checkpoint  # noqa: E402
from archive.ledger import NewEntry  # noqa: E402
from bench.corpora import corpora_root, require_corpus  # noqa: E402
from gateway.bootstrap import App  # noqa: E402
from gateway.db.models import Case, Message  # noqa: E402
from gateway.db.session import Database  # noqa: E402
from gateway.evidence.integrity import verify_installation  # noqa: E402
from gateway.installation import init_home  # noqa: E402
from gateway.processing.ingest import ingest  # noqa: E402
from gateway.workflows.access_log import record_access  # noqa: E402
from gateway.workflows.search import Filters, document_of, index_messages, search  # noqa: E402

DEFAULT_CORPUS = corpora_root() / "labelled-dev" / "mail"
ALIASES = ["sales@acme-fluidics.example", "support@acme-fluidics.example",
           "returns@acme-fluidics.example"]


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


# -- 1. verify vs sha256 ------------------------------------------------------------------------

def with_attachment(raw: bytes, size: int, rng: random.Random, n: int) -> bytes:
    """The corpus message with one binary attachment of ``size`` random (incompressible,
    like a PDF or a zipped drawing) bytes added: a multipart/mixed message."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, email.message.EmailMessage)
    if message.get_content_maintype() != "multipart" or message.get_content_subtype() != "mixed":
        message.make_mixed()
    message.add_attachment(rng.randbytes(size), maintype="application",
                           subtype="octet-stream", filename=f"drawing-{n:06d}.bin")
    return message.as_bytes()


def build_archive(root: Path, corpus: Path, count: int, mixed: bool = False) -> App:
    """``count`` corpus messages (each made unique by a header). ``mixed``: every fifth one
    also carries an attachment of 200 KB to 2 MB, as real mail to a sales alias does."""
    sources = sorted(corpus.glob("*.eml"))
    if not sources:
        raise SystemExit(f"no *.eml files in {corpus}")
    inbox = root / "inbox"
    inbox.mkdir(parents=True)
    rng = random.Random(2006)
    for n in range(count):
        raw = b"X-Bench-Copy: %d\r\n" % n + sources[n % len(sources)].read_bytes()
        if mixed and n % 5 == 0:
            raw = with_attachment(raw, rng.randint(200_000, 2_000_000), rng, n)
        (inbox / f"{n:06d}.eml").write_bytes(raw)
    os.environ["COMMGATE_DATABASE_URL"] = f"sqlite:///{root / 'commgate.db'}"
    home = init_home(str(root / "home"), "BEN", ALIASES)
    # As a serious installation runs: checkpoints signed with a key kept outside the archive,
    # so verify also checks them and every export signs one over its own access record.
    key = root / "keys" / "checkpoint.key"
    key.parent.mkdir()
    generate_key(key)
    config = home / "commgate.toml"
    config.write_text(config.read_text().replace(
        'path = "archive"', f'path = "archive"\ncheckpoint_key = "{key}"', 1))
    app = App.open(home)
    ingest(app, [inbox])
    write_checkpoint(app.archive, key)
    return app


def hash_all(blob_dir: Path) -> int:
    """The floor of any re-check: sha256 of every blob file, as a careful script would do it.

    One process, os.scandir (no per-file stat or path objects), unbuffered reads into one
    reused buffer, hashlib. Returns the bytes hashed."""
    total = 0
    buffer = bytearray(1 << 20)
    view = memoryview(buffer)
    with os.scandir(blob_dir) as shards:
        for shard in shards:
            with os.scandir(shard.path) as blobs:
                for blob in blobs:
                    digest = hashlib.sha256()
                    with open(blob.path, "rb", buffering=0) as handle:
                        while n := handle.readinto(buffer):
                            digest.update(view[:n])
                            total += n
                    digest.hexdigest()
    return total


def measure_verify(home: Path, rounds: int) -> dict[str, object]:
    """In a fresh process, as 'commgate archive verify' runs: the installation opened the
    way the command opens it (no spaCy, no filing state), both warmed by one untimed run,
    then ``rounds`` interleaved timings of each."""
    app = App.open(home)
    blob_dir = app.archive.blobs.blob_dir  # type: ignore[attr-defined]  # the filesystem store
    size = hash_all(blob_dir)
    verify_installation(app)  # warm as well: the database connection, the key, lazy imports
    hashing, verifying = [], []
    for _ in range(rounds):
        hashing.append(timed(lambda: hash_all(blob_dir)))
        verifying.append(timed(lambda: verify_installation(app)))
    result = verify_installation(app)
    app.close()
    return {"size": size, "hashing": hashing, "verifying": verifying, "result": result}


def bench_verify(app: App, rounds: int) -> dict[str, float]:
    # Measured in a process of its own: this one has loaded spaCy and filed every message,
    # and its larger heap would make every fork verify does dearer than in the real command.
    child = subprocess.run(
        [sys.executable, __file__, "--measure-verify", str(app.settings.home),
         "--rounds", str(rounds)], capture_output=True, text=True, check=True)
    measured = json.loads(child.stdout)
    result, size = measured["result"], measured["size"]
    assert result["ok"] and result["checkpoints"], result
    h, v = statistics.median(measured["hashing"]), statistics.median(measured["verifying"])
    print(f"  archive: {result['entries']} entries, {result['blobs']} blobs, "
          f"{size / 1e6:.1f} MB, {result['checkpoints']} signed checkpoint(s)")
    blobs = result["blobs"]
    print(f"  sha256 of every blob : {size / h / 1e6:8.1f} MB/s  {blobs / h:8.0f} blobs/s"
          f"  ({h * 1000:.0f} ms, median of {rounds})")
    print(f"  archive verify       : {size / v / 1e6:8.1f} MB/s  {blobs / v:8.0f} blobs/s"
          f"  ({v * 1000:.0f} ms; chain, blobs, database copy, checkpoints)")
    # Each round times the two back to back, so the ratio of a round compares like with like
    # on a machine whose speed drifts; the median of those is the figure.
    ratio = statistics.median(a / b for a, b in zip(measured["hashing"], measured["verifying"],
                                                     strict=True))
    print(f"  ratio verify/sha256  : {ratio:8.2f}   target >= 0.8  "
          f"{'met' if ratio >= 0.8 else 'NOT met'}  (median of the {rounds} rounds' ratios; "
          f"ratio of the medians {h / v:.2f})")
    return {"verify_ratio": ratio}


# -- 2. checkpoint over a large ledger ---------------------------------------------------------

def bench_checkpoint(root: Path, entries: int) -> dict[str, float]:
    archive = Archive.open(root / "big-archive")
    archive.ensure()
    receipt = Receipt(transport="bench", envelope={"alias": ALIASES[0]})
    batch = 20_000
    start = time.perf_counter()
    for first in range(0, entries, batch):
        archive.ledger.append_many([
            NewEntry(hashlib.sha256(b"%d" % n).hexdigest(), 1000 + n % 5000, receipt)
            for n in range(first, min(entries, first + batch))])
    built = time.perf_counter() - start
    key = root / "keys" / "checkpoint.key"
    key.parent.mkdir()
    generate_key(key)
    seconds = timed(lambda: write_checkpoint(archive, key))
    checkpoint = write_checkpoint(archive, key, only_if_grown=True)
    proof = inclusion_proof(archive, entries // 3, checkpoint)
    proof_bytes = len(json.dumps(proof, separators=(",", ":")))
    print(f"  ledger of {entries:,} entries built in {built:.1f} s")
    print(f"  checkpoint (Merkle root + signature): {seconds:.2f} s")
    print(f"  inclusion proof for one entry       : {proof_bytes:,} bytes (JSON)")
    return {"checkpoint_seconds": seconds, "proof_bytes": proof_bytes}


# -- 3. search at scale ------------------------------------------------------------------------

def vocabulary(size: int, rng: random.Random) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(letters) for _ in range(rng.randint(4, 10))))
    return sorted(words)


def bench_search(root: Path, count: int, queries: int) -> dict[str, float]:
    rng = random.Random(1042)
    vocab = vocabulary(20_000, rng)
    cumulative = list(itertools.accumulate(1 / (rank + 1) for rank in range(len(vocab))))
    db = Database.open(f"sqlite:///{root / 'search.db'}")
    now = datetime.now(UTC)
    domains = [f"customer{n}.example" for n in range(2000)]
    start = time.perf_counter()
    chunk = 10_000
    with db.session() as session:
        cases = [{"ref": f"BEN-{n:07d}", "alias": ALIASES[n % 3], "category": "enquiry",
                  "status": "open", "scope_change": False, "subject": "",
                  "customer": f"buyer@{domains[n % len(domains)]}",
                  "customer_domain": domains[n % len(domains)],
                  "opened_at": now, "updated_at": now} for n in range(count // 5)]
        for first in range(0, len(cases), chunk):
            session.execute(insert(Case), cases[first:first + chunk])
    for first in range(0, count, chunk):
        rows, docs = [], []
        for n in range(first, min(count, first + chunk)):
            case = n // 5
            words = rng.choices(vocab, cum_weights=cumulative, k=40)
            subject = " ".join(words[:5])
            sender = f"buyer@{domains[case % len(domains)]}"
            rows.append({"id": n + 1, "sha256": hashlib.sha256(b"%d" % n).hexdigest(),
                         "alias": ALIASES[case % 3], "case_id": case + 1, "first_seq": n + 1,
                         "size": 2000, "message_id": f"<{n}@bench>", "from_addr": sender,
                         "subject": subject, "category": "enquiry",
                         "filed_at": now - timedelta(minutes=count - n)})
            docs.append((n + 1, document_of(subject, [sender], " ".join(words[5:]))))
        with db.session() as session:
            session.execute(insert(Message), rows)
            index_messages(session, docs)
    with db.session() as session:
        session.execute(text("INSERT INTO message_search(message_search) VALUES('optimize')"))
    print(f"  {count:,} synthetic messages inserted and indexed in "
          f"{time.perf_counter() - start:.0f} s")
    kinds = {
        "common word": lambda: rng.choice(vocab[:20]),
        "rare word": lambda: rng.choice(vocab[5000:]),
        "two words": lambda: f"{rng.choice(vocab[:200])} {rng.choice(vocab[:2000])}",
        "phrase": lambda: f'"{rng.choice(vocab[:50])} {rng.choice(vocab[:50])}"',
        "prefix": lambda: rng.choice(vocab[:500])[:4] + "*",
    }
    latencies: dict[str, list[float]] = {kind: [] for kind in kinds}
    # Hits are handed out only against an access record of the query (gateway.workflows.access_log);
    # the records go to a home of their own, outside the timed search.
    recorder = App.open(init_home(str(root / "search-home"), "BEN", ALIASES))
    with db.session() as session:
        for n in range(queries):
            kind = list(kinds)[n % len(kinds)]
            query = kinds[kind]()
            filters = Filters()
            if n % 2:
                filters = Filters(customer=rng.choice(domains)) if n % 4 == 1 else Filters(
                    alias=ALIASES[n % 3], since=now - timedelta(days=30))
            access = record_access(recorder, "bench", "search", {"query": query})
            latencies[kind].append(timed(functools.partial(search, session, query, filters,
                                                           access=access)))
    recorder.close()
    db.close()
    every = sorted(t for values in latencies.values() for t in values)
    p95 = every[int(len(every) * 0.95) - 1] * 1000
    for kind, values in latencies.items():
        values.sort()
        print(f"  {kind:<12} p50 {statistics.median(values) * 1000:7.1f} ms   "
              f"p95 {values[int(len(values) * 0.95) - 1] * 1000:7.1f} ms   "
              f"max {values[-1] * 1000:7.1f} ms")
    print(f"  all {len(every)} queries: p50 {statistics.median(every) * 1000:.1f} ms, "
          f"p95 {p95:.1f} ms   target p95 < 100 ms  {'met' if p95 < 100 else 'NOT met'}")
    return {"search_p95_ms": p95}


# -- 4. evidence package vs copying ------------------------------------------------------------

def bench_export(app: App, root: Path, rounds: int) -> dict[str, float]:
    from gateway.evidence.package import export_package
    from gateway.evidence.select import Selection

    blob_dir: Path = app.archive.blobs.blob_dir  # type: ignore[attr-defined]  # filesystem store
    blobs = [b for shard in sorted(blob_dir.iterdir()) for b in shard.iterdir()]

    def copy_all() -> None:
        target = Path(tempfile.mkdtemp(dir=root))
        for blob in blobs:
            shutil.copyfile(blob, target / blob.name)
        shutil.rmtree(target)

    def export() -> None:
        out = root / "package.zip"
        export_package(app, Selection(date_from=datetime(1970, 1, 1, tzinfo=UTC),
                                      date_to=datetime.now(UTC) + timedelta(days=1)),
                       out, "bench")
        out.unlink()

    copying, exporting = [], []
    for _ in range(rounds):
        copying.append(timed(copy_all))
        exporting.append(timed(export))
    c, e = statistics.median(copying), statistics.median(exporting)
    print(f"  copy {len(blobs)} blob files : {len(blobs) / c:8.0f} messages/s")
    print(f"  evidence package      : {len(blobs) / e:8.0f} messages/s")
    ratio = statistics.median(a / b for a, b in zip(copying, exporting, strict=True))
    print(f"  ratio package/copy    : {ratio:8.2f}   target >= 0.5  "
          f"{'met' if ratio >= 0.5 else 'NOT met'}  (median of the {rounds} rounds' ratios; "
          f"ratio of the medians {c / e:.2f})")
    return {"export_ratio": ratio}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--mixed", action="store_true",
                        help="every fifth message carries a 200 KB - 2 MB attachment (a "
                             "realistic mix of sizes; the default corpus is small text mail)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--ledger-entries", type=int, default=1_000_000)
    parser.add_argument("--search-messages", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--skip", action="append", default=[],
                        choices=["verify", "checkpoint", "search", "export"])
    parser.add_argument("--measure-verify", type=Path, metavar="HOME", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure_verify:
        json.dump(measure_verify(args.measure_verify, args.rounds), sys.stdout)
        return 0
    if not {"verify", "export"} <= set(args.skip):
        require_corpus(args.corpus)
    logging.basicConfig(level=logging.WARNING)
    root = Path(tempfile.mkdtemp(prefix="commgate-bench-archive-"))
    try:
        app = None
        if not {"verify", "export"} <= set(args.skip):
            print(f"building an archive of {args.messages} corpus messages"
                  f"{' (every fifth with a 200 KB - 2 MB attachment)' if args.mixed else ''}"
                  " ...")
            app = build_archive(root / "a", args.corpus, args.messages, mixed=args.mixed)
            # Building the archive loaded spaCy and filed every message; 'commgate audit
            # export' and 'archive verify' run in a fresh process without either. Freezing
            # what is already allocated keeps the cycle collector from re-scanning it all,
            # which is what a fresh process would not have to do.
            gc.collect()
            gc.freeze()
        if app and "verify" not in args.skip:
            print("1. archive verify vs sha256 over the same blobs")
            bench_verify(app, args.rounds)
        if "checkpoint" not in args.skip:
            print(f"2. checkpoint over {args.ledger_entries:,} ledger entries")
            bench_checkpoint(root, args.ledger_entries)
        if "search" not in args.skip:
            print(f"3. search over {args.search_messages:,} messages (SQLite FTS5)")
            bench_search(root, args.search_messages, args.queries)
        if app and "export" not in args.skip:
            print("4. evidence package vs copying the same files")
            bench_export(app, root, args.rounds)
        if app:
            app.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
