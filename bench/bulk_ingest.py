"""Bulk ``commgate ingest`` of a folder, start to all filed, against an archive-style copy
(issue 17).

Each round writes ``--messages`` distinct generated messages (``bench/speed_corpus.py``, a seed
per round) as ``.eml`` files to a folder (not timed), then runs, in rotating order, each side
as a fresh process, timed from its start to its exit:

* ``copy``: this file with ``--copy``: per file read, sha256, write to a temp file in the
  hash's shard folder, fsync, rename to the hash, fsync the folder. What the archive's
  durability costs at the least, in one process, with no database.
* ``commgate-sqlite`` (and ``commgate-postgresql`` with ``--postgres``): ``commgate ingest
  --json FOLDER`` on a fresh home (``commgate init``, not timed; PostgreSQL: a new database).
  It exits once every message is archived and filed; its summary is checked (all archived,
  all filed or reported). Its start-up (interpreter, imports, rules) is in the time, as it is
  for a user; "steady" leaves out what passed before the first receipt was archived.

With ``--baseline CHECKOUT`` the commgate of another checkout runs as further sides
(``base-commgate-...``) of the same rounds, and this one's CPU per message and rate over it are
printed per round.

``os.sync()`` runs before each timed side. The ratio commgate / copy per round is reported as
median and range; CPU seconds of each side's process tree (``RUSAGE_CHILDREN``) per message
beside it.

Run::

    PYTHONPATH=$PWD python bench/bulk_ingest.py --messages 2000 --rounds 5
    PYTHONPATH=$PWD python bench/bulk_ingest.py --messages 2000 --rounds 5 --postgres
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path

import _project_path  # noqa: F401  (must come before gateway)

from bench import paired

TARGET_RATIO = 0.5  # commgate ingest >= 0.5 x the archive-style copy


# -- the baseline (this file run with --copy, in its own process) ------------------------------


def archive_copy(source: Path, target: Path) -> int:
    """Copy every file of ``source`` the way the archive stores a blob; returns the count."""
    target.mkdir(parents=True)
    shards: set[str] = set()
    count = 0
    for path in sorted(source.iterdir()):
        raw = path.read_bytes()
        digest = hashlib.sha256(raw).hexdigest()
        shard = target / digest[:2]
        if digest[:2] not in shards:
            shard.mkdir(exist_ok=True)
            paired.fsync_folder(target)
            shards.add(digest[:2])
        tmp = shard / f".tmp-{digest}"
        paired.write_fsynced(tmp, raw)
        os.rename(tmp, shard / digest)
        paired.fsync_folder(shard)
        count += 1
    return count


# -- the sides ---------------------------------------------------------------------------------


@dataclass
class Side:
    kind: str
    root: Path = paired.PROJECT_ROOT  # the checkout whose commgate runs (a baseline's)
    rates: list[float] = field(default_factory=list)  # start to exit
    steady: list[float] = field(default_factory=list)  # first receipt to exit (commgate)
    startup: list[float] = field(default_factory=list)  # start to first receipt (commgate)
    cpu_ms: list[float] = field(default_factory=list)


def timed_run(cmd: list[str], log: Path, root: Path = paired.PROJECT_ROOT
              ) -> tuple[float, float, float]:
    """Run ``cmd`` to its end: (wall seconds, CPU seconds of it and its children, the wall
    clock when it started)."""
    os.sync()  # no dirty pages left from the side before
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started_at = time.time()
    began = time.perf_counter()
    with log.open("wb") as out, log.with_suffix(".err").open("wb") as err:
        done = subprocess.run(cmd, env=paired.child_env(root), cwd=root, stdout=out,
                              stderr=err, check=False)
    wall = time.perf_counter() - began
    paired.reap_orphans()  # the worker pool's fork server outlives the command a moment
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{cmd[3:]} failed ({done.returncode}):\n"
                         + log.with_suffix(".err").read_text(errors="replace")[-3000:])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, started_at


def run_side(side: Side, folder: Path, inbox: Path, count: int,
             args: argparse.Namespace) -> str:
    folder.mkdir(parents=True)
    log = folder / "output.log"
    if side.kind == "copy":
        cmd = [sys.executable, str(Path(__file__).resolve()), "--copy", str(inbox),
               str(folder / "blobs")]
        wall, cpu, _ = timed_run(cmd, log)
        stored = sum(1 for shard in (folder / "blobs").iterdir() for _ in shard.iterdir())
        side.rates.append(count / wall)
        side.cpu_ms.append(cpu / count * 1000)
        note = "" if stored == count else f"; WARNING: {stored} of {count} copied"
        return f"{side.rates[-1]:6.0f} msg/s  CPU {side.cpu_ms[-1]:5.2f} ms/msg{note}"
    home = paired.Home.create(folder / "home", side.kind.rsplit("-", 1)[1],
                              worker_processes=args.worker_processes, root=side.root)
    try:
        wall, cpu, started_at = timed_run(paired.commgate(home.path, "ingest", "--json",
                                                          str(inbox)), log, side.root)
        filed = paired.Filed(home.url)
        try:
            first = filed.first_received()
        finally:
            filed.close()
    finally:
        home.close()
    summary = json.loads(log.read_text())
    side.rates.append(count / wall)
    side.cpu_ms.append(cpu / count * 1000)
    note = ""
    if first is not None:
        startup = first.replace(tzinfo=first.tzinfo or UTC).timestamp() - started_at
        side.startup.append(startup)
        side.steady.append(count / (wall - startup))
        note = f"  start-up {startup:4.1f} s, then {side.steady[-1]:4.0f} msg/s"
    if summary.get("archived") != count or summary.get("filed", 0) + len(
            summary.get("quarantined", [])) + summary.get("duplicates", 0) != count:
        note += f"; WARNING: summary {json.dumps(summary)[:300]}"
    return f"{side.rates[-1]:6.0f} msg/s  CPU {side.cpu_ms[-1]:5.2f} ms/msg{note}"


def report(sides: Sequence[Side], args: argparse.Namespace) -> None:
    copy = sides[0]
    print(f"\n{args.rounds} interleaved rounds x {args.messages} distinct messages, each side a "
          f"fresh process, start to exit; median (range) over the rounds")
    for side in sides:
        extra = ""
        if side.steady:
            extra = (f"   start-up {paired.spread(side.startup, '{:.1f}')} s, then "
                     f"{paired.spread(side.steady)} msg/s")
        print(f"  {side.kind:<20} {paired.spread(side.rates)} msg/s   CPU "
              f"{paired.spread(side.cpu_ms, '{:.2f}')} ms/msg{extra}")
    for side in sides[1:]:
        ratio = paired.ratios(side.rates, copy.rates)
        print(f"{side.kind} / copy, per round: {paired.spread(ratio, '{:.3f}')}   "
              f"{paired.verdict(statistics.median(ratio), TARGET_RATIO)}")
    ours = [s for s in sides[1:] if not s.kind.startswith("base-")]
    if len(ours) == 2:
        ratio = paired.ratios(ours[1].rates, ours[0].rates)
        print(f"{ours[1].kind} / {ours[0].kind}, per round: {paired.spread(ratio, '{:.3f}')}")
    for side in ours:
        base = next((s for s in sides if s.kind == f"base-{side.kind}"), None)
        if base is not None:
            cpu = paired.ratios(side.cpu_ms, base.cpu_ms)
            rate = paired.ratios(side.rates, base.rates)
            print(f"{side.kind} / {base.kind}, per round: CPU per message "
                  f"{paired.spread(cpu, '{:.3f}')}, rate {paired.spread(rate, '{:.3f}')}")
    print(f"machine: {paired.machine_note()}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    paired.add_common_arguments(parser)
    parser.add_argument("--baseline", type=Path, metavar="CHECKOUT",
                        help="also run the commgate of another checkout (its sides named "
                             "base-...), interleaved; prints this one's CPU and rate over it")
    parser.add_argument("--copy", nargs=2, type=Path, metavar=("SOURCE", "TARGET"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.copy:
        print(archive_copy(*args.copy))
        return 0
    paired.check_counts(args)
    paired.reap_orphans()  # from here on, orphaned descendants are this process's to reap
    sides = [Side("copy"), *(Side(f"commgate-{b}") for b in paired.backends(args))]
    if args.baseline:
        sides += [Side(f"base-{side.kind}", args.baseline.resolve()) for side in sides[1:]]
    corpus = paired.Corpus(args.corpora)
    print(f"bulk_ingest: {paired.machine_note()}", flush=True)
    with paired.workspace(args, "commgate-bulk-ingest-") as root:
        for number in range(args.rounds):
            inbox = root / f"inbox{number + 1}"
            raws = corpus.messages(args.messages, args.seed + number)
            paired.write_eml_folder(inbox, raws)
            if number == 0:
                sizes = sorted(len(r) for r in raws)
                print(f"messages: median {statistics.median(sizes) / 1024:.1f} KB, "
                      f"p10 {sizes[len(sizes) // 10] / 1024:.1f} KB, "
                      f"p90 {sizes[len(sizes) * 9 // 10] / 1024:.1f} KB", flush=True)
            for side in paired.round_order(number, sides):
                line = run_side(side, root / f"round{number + 1}-{side.kind}", inbox,
                                len(raws), args)
                print(f"round {number + 1} {side.kind:<20} {line}", flush=True)
            if not args.keep:
                for path in root.glob(f"round{number + 1}-*"):
                    shutil.rmtree(path, ignore_errors=True)
    report(sides, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
