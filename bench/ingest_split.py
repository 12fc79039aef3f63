"""Where the CPU of a bulk ``commgate ingest`` goes, per process of its tree (issue 17).

Each size given (``--sizes 1000,2000``) is one fresh import of that many distinct generated
messages (``bench/speed_corpus.py``) into a fresh home, ``--rounds`` times; while it runs,
``/proc/<pid>/stat`` of every process below the command is read every ``--poll`` seconds and
the last user + system CPU seen of each is kept (a process that ends loses at most one poll's
CPU; the sum is printed beside ``RUSAGE_CHILDREN``, the tree's exact total). Processes are
told apart by their place in the tree: the command, the workers' fork server (a child of the
command: a new interpreter running ``multiprocessing.forkserver``, or a fork of the command),
the workers (the server's children), any other (a resource tracker). With two sizes, each
process's CPU is split into a fixed part and a part per message
(the line through the two medians): start-up against per-message work.

Run::

    PYTHONPATH=$PWD python bench/ingest_split.py --sizes 1000,2000 --rounds 3 \\
        --worker-processes 2 [--postgres] [--baseline CHECKOUT]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import _project_path  # noqa: F401  (must come before gateway)

from bench import paired

ROLES = ("ingest", "fork server", "workers", "other")


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, user + system CPU seconds) of ``pid``; None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def run_import(cmd: list[str], root: Path, poll: float) -> tuple[dict[str, float], float]:
    """Run ``cmd`` to its end: CPU seconds per role (last seen), and the tree's exact total."""
    os.sync()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.Popen(cmd, env=paired.child_env(root), cwd=root,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    role: dict[int, str] = {proc.pid: "ingest"}
    cpu: dict[int, float] = {}
    while proc.poll() is None:
        parents: dict[int, int] = {}
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                seen = _stat(int(entry.name))
                if seen is not None:
                    parents[int(entry.name)] = seen[0]
                    if int(entry.name) in role:
                        cpu[int(entry.name)] = seen[1]
        for pid, ppid in parents.items():
            if pid in role or ppid not in role:
                continue
            if role[ppid] == "ingest":
                # The workers' fork server: a new interpreter, or a fork of the command.
                role[pid] = "other" if "resource_tracker" in _cmdline(pid) else "fork server"
            else:
                role[pid] = "workers" if role[ppid] == "fork server" else "other"
            seen = _stat(pid)
            if seen is not None:
                cpu[pid] = seen[1]
        time.sleep(poll)
    err = proc.stderr.read() if proc.stderr else b""
    # The fork server and the workers may outlive the command a moment: follow them to the end.
    while any(_stat(pid) is not None and pid != proc.pid for pid in role):
        for pid in role:
            seen = _stat(pid)
            if seen is not None and pid != proc.pid:
                cpu[pid] = seen[1]
        time.sleep(poll)
        paired.reap_orphans()
    paired.reap_orphans()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"ingest failed ({proc.returncode}):\n{err.decode()[-3000:]}")
    by_role: dict[str, float] = defaultdict(float)
    for pid, seconds in cpu.items():
        by_role[role[pid]] += seconds
    total = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return dict(by_role), total


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    paired.add_common_arguments(parser, messages=1000)
    parser.add_argument("--sizes", default="1000,2000",
                        help="comma-separated import sizes (messages); replaces --messages")
    parser.add_argument("--poll", type=float, default=0.02, help="seconds between reads")
    parser.add_argument("--baseline", type=Path, metavar="CHECKOUT",
                        help="also run the commgate of another checkout, interleaved")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    paired.reap_orphans()
    roots = [("this", paired.PROJECT_ROOT)]
    if args.baseline:
        roots.append(("base", args.baseline.resolve()))
    corpus = paired.Corpus(args.corpora)
    # (side, backend, size) -> role -> [CPU seconds per round]
    found: dict[tuple[str, str, int], dict[str, list[float]]] = defaultdict(
        lambda: defaultdict(list))
    print(f"ingest_split: {paired.machine_note()}", flush=True)
    with paired.workspace(args, "commgate-ingest-split-") as work:
        for number in range(args.rounds):
            for size in sizes:
                inbox = work / f"inbox{number}-{size}"
                paired.write_eml_folder(inbox, corpus.messages(size, args.seed + number))
                sides = [(name, root, b) for name, root in roots for b in paired.backends(args)]
                for name, root, backend in paired.round_order(number, sides):
                    home = paired.Home.create(work / f"home-{number}-{size}-{name}-{backend}",
                                              backend, worker_processes=args.worker_processes,
                                              root=root)
                    try:
                        roles, total = run_import(
                            paired.commgate(home.path, "ingest", "--json", str(inbox)), root,
                            args.poll)
                    finally:
                        home.close()
                    cell = found[(name, backend, size)]
                    for r in ROLES:
                        cell[r].append(roles.get(r, 0.0))
                    cell["tree (RUSAGE)"].append(total)
                    print(f"round {number + 1} {name}-{backend} {size}: "
                          + "  ".join(f"{r} {roles.get(r, 0.0):.2f}" for r in ROLES)
                          + f"  sum {sum(roles.values()):.2f}  tree {total:.2f} s", flush=True)
    print("\nCPU seconds per process, median (range) over the rounds")
    for name, _ in roots:
        for backend in paired.backends(args):
            print(f"\n{name}, {backend}:")
            head = "| process | " + " | ".join(f"{s} msgs" for s in sizes)
            if len(sizes) == 2:
                head += " | fixed | per message |"
            print(head)
            for r in (*ROLES, "tree (RUSAGE)"):
                cells = [found[(name, backend, s)][r] for s in sizes]
                line = f"| {r} | " + " | ".join(
                    f"{statistics.median(c):.2f} ({min(c):.2f}-{max(c):.2f})" for c in cells)
                if len(sizes) == 2:
                    a, b = (statistics.median(c) for c in cells)
                    per = (b - a) / (sizes[1] - sizes[0])
                    line += f" | {a - per * sizes[0]:.2f} s | {per * 1000:.2f} ms |"
                print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
