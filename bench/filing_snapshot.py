"""What filing made of a corpus, as a snapshot file, to prove that a speed change to filing kept
every result (issue 17): ``commgate ingest`` of the given folders into a fresh home (of this
checkout or of ``--root``), then ``commgate cases list --json`` and ``cases show --json`` of
every case, one JSON line per case in reference order.

What differs between two runs of the same code is left out: the clock's values (``at``,
``opened_at``, ``filed_at`` ...) and, unless ``--keep-seq``, ledger sequence numbers (``seq``,
``first_seq``): when a batch's ``events`` entry is appended between the mail's entries depends
on when the import files, not on what it files. With more than one worker process, which
worker files which batch first is not fixed either, so compare runs with
``--worker-processes 0`` or 1 (the default here), or imports smaller than the workers'
threshold (300 messages).

Run::

    PYTHONPATH=$PWD python bench/filing_snapshot.py before.jsonl --root /path/to/base \\
        ../shared/corpora/labelled-dev
    PYTHONPATH=$PWD python bench/filing_snapshot.py after.jsonl ../shared/corpora/labelled-dev
    PYTHONPATH=$PWD python bench/filing_snapshot.py --compare before.jsonl after.jsonl
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import _project_path  # noqa: F401  (must come before gateway)

from bench import paired, snapshots

# Keys whose values are the clock's, different in every run.
CLOCK_KEYS = frozenset(
    {
        "at",
        "opened_at",
        "updated_at",
        "filed_at",
        "processed_at",
        "received_at",
        "created_at",
        "closed_at",
        "last_activity",
        "last_message_at",
        "due",
        "due_at",
        "resolved_at",
    }
)
SEQ_KEYS = frozenset({"seq", "first_seq", "ledger_seq"})


def normalised(value: Any, drop: frozenset[str]) -> Any:
    """``value`` without the keys in ``drop``, at any depth."""
    if isinstance(value, dict):
        return {k: normalised(v, drop) for k, v in value.items() if k not in drop}
    if isinstance(value, list):
        return [normalised(v, drop) for v in value]
    return value


def _child(command: list[str], root: Path) -> subprocess.CompletedProcess[str]:
    """``command`` run on ``root``'s code, its output captured."""
    return subprocess.run(command, env=paired.child_env(root), cwd=root, capture_output=True,
                          text=True, check=False)


def run(home: Path, root: Path, *args: str) -> Any:
    done = _child(paired.commgate(home, *args), root)
    if done.returncode != 0:
        raise SystemExit(
            f"commgate {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-3000:]}"
        )
    return json.loads(done.stdout)


# Run in one process of the checkout's code (a process per case would take minutes):
# ``cases list --json``, then ``cases show REF --json`` of each case, one JSON line each.
READER = """
import io, json, sys
from contextlib import redirect_stdout
from gateway.cli.main import main
home = sys.argv[1]
def cli(*args):
    out = io.StringIO()
    with redirect_stdout(out):
        code = main(["--home", home, *args])
    if code:
        raise SystemExit(f"commgate {' '.join(args)}: exit {code}")
    return json.loads(out.getvalue())
for case in sorted(cli("cases", "list", "--json"), key=lambda c: c["ref"]):
    print(json.dumps([case, cli("cases", "show", case["ref"], "--json")]))
"""


def read_cases(home: Path, root: Path) -> list[tuple[Any, Any]]:
    """(as listed, as shown) of every case, in reference order, read by ``root``'s code."""
    done = _child([sys.executable, "-c", READER, str(home)], root)
    if done.returncode != 0:
        raise SystemExit(f"reading the cases failed:\n{done.stderr[-3000:]}")
    return [tuple(json.loads(line)) for line in done.stdout.splitlines()]


def snapshot(out: Path, folders: Sequence[Path], root: Path, backend: str, workers: int,
             batch_size: int | None = None) -> None:
    drop = CLOCK_KEYS
    # One [worker] table: Home.create writes its own when given worker_processes.
    extra = ""
    processes: int | None = workers
    if batch_size is not None:
        extra = f"\n[worker]\nprocesses = {workers}\nbatch_size = {batch_size}\n"
        processes = None
    with tempfile.TemporaryDirectory(prefix="commgate-filing-snapshot-") as tmp:
        home = paired.Home.create(Path(tmp) / "home", backend, extra,
                                  worker_processes=processes, root=root)
        try:
            summary = run(home.path, root, "ingest", "--json", *map(str, folders))
            lines = []
            for case, shown in read_cases(home.path, root):
                lines.append(
                    json.dumps(
                        {
                            "ref": case["ref"],
                            "listed": normalised(case, drop),
                            "shown": normalised(shown, drop),
                        },
                        sort_keys=True,
                    )
                )
        finally:
            home.close()
    out.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    print(f"{out}: {len(lines)} cases; ingest {json.dumps(normalised(summary, SEQ_KEYS))[:300]}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, nargs="?", help="the snapshot file to write")
    parser.add_argument("folders", type=Path, nargs="*", help="what to ingest")
    parser.add_argument(
        "--root",
        type=Path,
        default=paired.PROJECT_ROOT,
        help="the checkout whose commgate files (default: this one)",
    )
    parser.add_argument("--postgres", action="store_true", help="file into PostgreSQL")
    parser.add_argument(
        "--worker-processes",
        type=int,
        default=1,
        metavar="N",
        help="[worker] processes of the home (1)",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=None,
        metavar="N",
        help="[worker] batch_size of the home (default: commgate's); batch boundaries decide "
        "the order of a case's events between its messages' and the hooks'",
    )
    parser.add_argument(
        "--keep-seq", action="store_true", help="keep ledger sequence numbers (seq, first_seq)"
    )
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("BEFORE", "AFTER"))
    args = parser.parse_intermixed_args(argv)
    if args.compare:
        if args.keep_seq:
            return snapshots.compare(args.compare[0], args.compare[1], "ref")
        with tempfile.TemporaryDirectory(prefix="commgate-filing-snapshot-") as tmp:
            before, after = (
                without_seqs(path, Path(tmp) / f"{n}.jsonl") for n, path in enumerate(args.compare)
            )
            return snapshots.compare(before, after, "ref")
    if args.out is None or not args.folders:
        parser.error("give the snapshot file and the folders to ingest (or --compare)")
    snapshot(
        args.out,
        args.folders,
        args.root.resolve(),
        "postgresql" if args.postgres else "sqlite",
        args.worker_processes,
        args.batch_size,
    )
    return 0


def without_seqs(path: Path, out: Path) -> Path:
    """A copy of snapshot ``path`` at ``out`` without the ledger sequence numbers."""
    lines = path.read_text(encoding="utf-8").splitlines()
    out.write_text(
        "".join(
            json.dumps(normalised(json.loads(line), SEQ_KEYS), sort_keys=True) + "\n"
            for line in lines
        ),
        encoding="utf-8",
    )
    return out


if __name__ == "__main__":
    sys.exit(main())
