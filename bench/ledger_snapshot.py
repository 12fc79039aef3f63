"""The ``events`` entries that filing appends to the ledger, byte for byte, to prove that a speed
change to filing left the tamper-evident ledger as it was (issue 17): every event record and
row image, their JSON encoding and their order. ``bench/filing_snapshot.py`` compares what the
cases show; this compares what the ledger holds.

Archives ``--messages`` generated messages (and the ``.eml`` files of the given folders) into a
fresh home and files them in one process of this checkout or of ``--root``, with the clock
frozen at one instant (``gateway.core.clock`` and the archive ledger's), so two runs of the
same code write the same bytes. The one value that still differs between runs is the lease
holder (host and pid) in ``receipts.claimed_by``: masked. Compare two snapshots with ``cmp``.

Run::

    PYTHONPATH=$PWD python bench/ledger_snapshot.py before.jsonl --root /path/to/main [--postgres]
    PYTHONPATH=$PWD python bench/ledger_snapshot.py after.jsonl [--postgres]
    cmp before.jsonl after.jsonl
"""

from __future__ import annotations

import argparse
import re
import socket
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime, tzinfo
from pathlib import Path

import _project_path  # noqa: F401  (must come before gateway)

from bench import paired

INSTANT = datetime(2026, 12, 7, 9, 0, 0, 123456, tzinfo=UTC)
# A worker's lease: "host:pid:n" (gateway/processing/claims.py).
LEASE = re.compile(b'"' + re.escape(socket.gethostname().encode()) + rb':[0-9]+:')


class FrozenClock:
    """Stands in for ``datetime`` in the two modules that read the clock (they call only
    ``now``): every reading is :data:`INSTANT`, a real ``datetime``."""

    @staticmethod
    def now(tz: tzinfo | None = None) -> datetime:
        return INSTANT.astimezone(tz) if tz is not None else INSTANT.replace(tzinfo=None)


def freeze_clocks() -> None:
    import archive.ledger
    import gateway.core.clock

    gateway.core.clock.datetime = FrozenClock  # type: ignore[attr-defined,assignment]
    archive.ledger.datetime = FrozenClock  # type: ignore[attr-defined,assignment]


def events_entries(home: paired.Home, raws: Sequence[bytes]) -> list[bytes]:
    """File ``raws`` in ``home``; the blobs of the ``events`` entries, in ledger order."""
    from archive import Receipt
    from gateway.bootstrap import App
    from gateway.intake.handoff import Delivery, accept

    app = App.open(home.path)
    try:
        accept(app, [Delivery(raw, Receipt(transport="file", envelope={"alias": paired.ALIASES[0]}))
                     for raw in raws])
        while app.processor.process_batch(app.settings.config.worker.batch_size):
            pass
        return [app.archive.read(entry.sha256) for entry in app.archive.entries()
                if entry.kind == "events"]
    finally:
        app.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="the snapshot file to write")
    parser.add_argument("folders", type=Path, nargs="*", help=".eml files to file as well")
    parser.add_argument("--messages", type=int, default=400)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--postgres", action="store_true", help="file into PostgreSQL")
    parser.add_argument("--root", type=Path, default=paired.PROJECT_ROOT,
                        help="the checkout whose commgate files (default: this one)")
    args = parser.parse_intermixed_args(argv)
    sys.path.insert(0, str(args.root.resolve()))  # before anything imports gateway
    raws = paired.Corpus(None).messages(args.messages, args.seed)
    raws += [path.read_bytes() for folder in args.folders for path in sorted(folder.rglob("*.eml"))]
    freeze_clocks()
    with tempfile.TemporaryDirectory(prefix="ledger-snapshot-") as tmp:
        home = paired.Home.create(Path(tmp) / "home",
                                  "postgresql" if args.postgres else "sqlite", root=args.root)
        try:
            blobs = events_entries(home, raws)
        finally:
            home.close()
    args.out.write_bytes(b"".join(LEASE.sub(b'"HOST:PID:', blob) + b"\n" for blob in blobs))
    print(f"{args.out}: {len(blobs)} events entries, {sum(map(len, blobs))} bytes, "
          f"{len(raws)} messages")
    return 0


if __name__ == "__main__":
    sys.exit(main())
