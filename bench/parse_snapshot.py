"""Write every field of every ParsedMessage, to prove a change to the parser kept its output.

ParsedMessage is what the pipeline files, so a speed change to ``parse_message`` must not
change one field of one message, broken MIME included. This parses, in ONE process (caches
warm, as in a daemon):

* the generated speed corpus (``bench/speed_corpus.py``, the seed of the first round of
  ``classify_speed.py``);
* every file of the shared corpora and of ``tests/fixtures``, each mbox also message by
  message;
* multipart and message/rfc822 parts nested around the depth limit;
* damaged copies of those files (cut in half, line endings turned into CRLF, bare CR and LF,
  every other line dropped), so that broken MIME is not limited to what the corpora hold;

and writes one JSON line per message: its name and the ``repr`` of each field. Run it
before and after, then compare::

    PYTHONPATH=$PWD python bench/parse_snapshot.py before.jsonl
    PYTHONPATH=$PWD python bench/parse_snapshot.py after.jsonl
    PYTHONPATH=$PWD python bench/parse_snapshot.py --compare before.jsonl after.jsonl
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import mailbox
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import _project_path  # noqa: F401  (must come before gateway)

from bench.corpora import corpora_root, require_corpus
from bench.snapshots import compare

_FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"


def _damaged(raw: bytes) -> Iterator[tuple[str, bytes]]:
    yield "half", raw[: len(raw) // 2]
    lf = raw.replace(b"\r\n", b"\n")
    yield "crlf", lf.replace(b"\n", b"\r\n")
    yield "cr", lf.replace(b"\n", b"\r")
    yield "lf", lf
    yield "odd-lines", b"\n".join(lf.split(b"\n")[::2])


def _files(root: Path) -> Iterator[tuple[str, bytes]]:
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        raw = path.read_bytes()
        name = str(path.relative_to(root.parent))
        yield name, raw
        for how, damaged in _damaged(raw):
            yield f"{name} [{how}]", damaged
        if raw.startswith(b"From "):
            box = mailbox.mbox(path, create=False)
            for n, key in enumerate(box.keys()):
                yield f"{name} #{n}", box.get_bytes(key)


def _deep(levels: int, kind: str) -> bytes:
    """MIME nesting around the depth limit, of multiparts or of message/rfc822 parts."""
    head = b"From: Deep <deep@customer.example>\r\nSubject: deep\r\nMessage-ID: <d@x>\r\n"
    if kind == "rfc822":
        inner = b"Subject: fwd\r\nContent-Type: message/rfc822\r\n\r\n" * levels
        return head + b"Content-Type: message/rfc822\r\n\r\n" + inner + b"\r\nOriginal.\r\n"
    opening = [
        b'Content-Type: multipart/mixed; boundary="l%d"\r\n\r\n--l%d\r\n' % (n, n)
        for n in range(levels)
    ]
    opening.insert(1, b"Content-Type: text/plain\r\n\r\nTop text.\r\n--l0\r\n")
    closing = [b"--l%d--\r\n" % n for n in reversed(range(levels))]
    return (
        head
        + b"".join(opening)
        + b"Content-Type: text/html\r\n\r\n<p>In</p>\r\n"
        + b"".join(closing)
    )


def messages(count: int, seed: int) -> Iterator[tuple[str, bytes]]:
    """Every message of the snapshot, with a name that finds it again."""
    from bench.speed_corpus import Generator, load_sources

    root = require_corpus(corpora_root())
    for n, (_, raw) in enumerate(Generator(load_sources(root), seed=seed).messages(count)):
        yield f"generated {n}", raw
    yield from _files(root)
    yield from _files(_FIXTURES)
    for levels in (2, 63, 64, 65, 66, 300):
        for kind in ("multipart", "rfc822"):
            yield f"{kind} nested {levels} deep", _deep(levels, kind)


def snapshot(count: int, seed: int, out: Path) -> int:
    """Parse every message of the snapshot and write its fields to ``out``."""
    from gateway.processing.parsing import parse_message

    written = 0
    with out.open("w", encoding="utf-8") as fh:
        for name, raw in messages(count, seed):
            parsed = parse_message(raw)
            line = {f.name: repr(getattr(parsed, f.name)) for f in dataclasses.fields(parsed)}
            line["message"] = name
            fh.write(json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n")
            written += 1
    return written


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=2000, help="generated messages")
    ap.add_argument("--seed", type=int, default=1_000)
    ap.add_argument("--compare", action="store_true", help="compare two snapshot files")
    ap.add_argument("files", nargs="+", type=Path)
    args = ap.parse_args(argv)
    if args.compare:
        return compare(args.files[0], args.files[1], label="message")
    print(f"{snapshot(args.count, args.seed, args.files[0])} messages", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
