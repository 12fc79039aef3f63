"""The daemon's memory with mail in all 11 languages filed (issues 12 and 17: at most 300 MB).

Each round starts ``commgate run`` on a fresh home (SQLite, its SMTP intake on loopback,
``--worker-processes`` workers, 2 unless given), sends it ``--messages`` distinct generated
messages (``bench/speed_corpus.py``; the same number in each of the 11 languages, a seed per
round) over one SMTP connection, waits until every one is filed, lets it settle for
``--settle`` seconds, and reads each of its processes from ``/proc``:

* RSS (``VmRSS``) and peak RSS (``VmHWM``);
* PSS (``Pss`` of ``smaps_rollup``: each page divided among the processes that map it), the
  figure whose sum over the tree is what the daemon takes from the machine;
* private pages (``Private_Clean + Private_Dirty``): what the process alone holds; in a
  worker, the pages of the fork server it wrote to (copied on write) and what it grew since.

With ``--baseline DIR`` another checkout's daemon is a side of every round, the order
alternating, and the ratio of the tree's PSS (this / baseline) is printed per round with its
median and range.

Run::

    PYTHONPATH=$PWD python bench/daemon_memory.py --rounds 3 --baseline /work/main
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import _project_path  # noqa: F401  (must come before gateway)

from bench import paired, smtp_accept
from bench.speed_corpus import LANGUAGES, Generator

TARGET_MB = 300.0


@dataclass(frozen=True)
class Process:
    """One process of the daemon's tree, as /proc shows it (MB)."""

    pid: int
    role: str
    rss: float
    hwm: float
    pss: float
    private: float


@dataclass
class Side:
    kind: str  # commgate-sqlite or baseline-sqlite
    trees: list[list[Process]] = field(default_factory=list)

    def pss(self) -> list[float]:
        return [sum(p.pss for p in tree) for tree in self.trees]


def _kb_fields(text: str, names: Sequence[str]) -> dict[str, float]:
    values = dict.fromkeys(names, 0.0)
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in values:
            values[key] += int(rest.split()[0]) / 1024
    return values


def role_of(pid: int, daemon: int, parents: Sequence[int] = ()) -> str:
    """What a process of the tree is: the daemon, or from its command line (a worker runs
    the fork server's, which it was forked from). ``parents``: the tree's parent pids; the
    fork server is the parent of the workers it forked, and a worker whose fork server was
    stopped is the daemon's child (the daemon is its subreaper)."""
    if pid == daemon:
        return "daemon"
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "?"
    if "resource_tracker" in cmd:
        return "resource tracker"
    parent = int(stat.rsplit(")", 1)[1].split()[1])
    # A fork server forked from the daemon (branch mem4) has the daemon's command line.
    server = parent == daemon and (pid in parents if parents else "forkserver" in cmd)
    return "fork server" if server else "worker"


def private_by_mapping(pid: int, top: int) -> list[tuple[float, str]]:
    """The ``top`` mappings of ``pid`` holding the most private pages (MB, name)."""
    sizes: dict[str, float] = {}
    name = ""
    try:
        text = Path(f"/proc/{pid}/smaps").read_text()
    except OSError:
        return []
    for line in text.splitlines():
        head = line.split()
        if head and "-" in head[0] and not head[0].endswith(":"):
            name = head[5] if len(head) > 5 else "[anonymous]"
            name = name.rsplit("/", 1)[-1]
        elif head and head[0] in ("Private_Clean:", "Private_Dirty:"):
            sizes[name] = sizes.get(name, 0.0) + int(head[1]) / 1024
    return sorted(((mb, n) for n, mb in sizes.items()), reverse=True)[:top]


def read_tree(daemon: int) -> list[Process]:
    """Every process of the daemon's tree, parents first."""
    tree = []
    pids = paired.descendants(daemon)
    parents = []
    for pid in pids:
        with suppress(OSError, IndexError, ValueError):
            parents.append(int(Path(f"/proc/{pid}/stat").read_text()
                               .rsplit(")", 1)[1].split()[1]))
    for pid in pids:
        try:
            status = _kb_fields(Path(f"/proc/{pid}/status").read_text(), ("VmRSS", "VmHWM"))
            rollup = _kb_fields(Path(f"/proc/{pid}/smaps_rollup").read_text(),
                                ("Pss", "Private_Clean", "Private_Dirty"))
        except OSError:
            continue  # ended meanwhile
        tree.append(Process(pid, role_of(pid, daemon, parents), status["VmRSS"], status["VmHWM"],
                            rollup["Pss"], rollup["Private_Clean"] + rollup["Private_Dirty"]))
    return tree


def messages(corpus: paired.Corpus, count: int, seed: int) -> list[smtp_accept.Mail]:
    """``count`` distinct messages, the languages in turn."""
    gen = Generator(corpus.sources, seed)
    raws = [gen.message(LANGUAGES[n % len(LANGUAGES)])[0] for n in range(count)]
    return [smtp_accept.Mail(*paired.envelope(raw), raw) for raw in raws]


def run_side(side: Side, folder: Path, mails: Sequence[smtp_accept.Mail],
             args: argparse.Namespace) -> list[Process]:
    server = smtp_accept.Server.start(side.kind, folder, args)
    assert server.home is not None
    filed = paired.Filed(server.home.url)
    try:
        if args.idle:
            paired.wait_for(lambda: sum(p.role == "worker" for p in read_tree(
                server.process.pid)) >= args.worker_processes, 300, "the workers to start")
            time.sleep(args.settle)
            print("  before any mail:\n" + show(read_tree(server.process.pid)), flush=True)
        smtp_accept.send_all(server.port, mails, 1, 0.0)
        paired.wait_for(lambda: filed.processed() >= len(mails), smtp_accept.DRAIN_SECONDS,
                        "every message to be filed")
        time.sleep(args.settle)
        tree = read_tree(server.process.pid)
        for proc in tree if args.mappings else ():
            print(f"  {proc.role} {proc.pid}: " + ", ".join(
                f"{n} {mb:.1f}" for mb, n in private_by_mapping(proc.pid, args.mappings)))
    finally:
        server.stop()
        filed.close()
    side.trees.append(tree)
    return tree


def show(tree: Sequence[Process]) -> str:
    lines = [f"    {p.role:<17} pid {p.pid:>7}  RSS {p.rss:6.1f}  peak {p.hwm:6.1f}  "
             f"PSS {p.pss:6.1f}  private {p.private:6.1f} MB" for p in tree]
    lines.append(f"    {'tree':<29}RSS {sum(p.rss for p in tree):6.1f}  "
                 f"peak {sum(p.hwm for p in tree):6.1f}  PSS {sum(p.pss for p in tree):6.1f}")
    return "\n".join(lines)


def report(sides: Sequence[Side], args: argparse.Namespace) -> None:
    print(f"\n{args.rounds} round(s), {args.messages} distinct messages in "
          f"{len(LANGUAGES)} languages per side; median (range) over the rounds")
    for side in sides:
        trees = side.trees
        daemon = [next(p.rss for p in t if p.role == "daemon") for t in trees]
        print(f"  {side.kind:<18} tree PSS {paired.spread(side.pss(), '{:.1f}')} MB   "
              f"{paired.verdict(statistics.median(side.pss()), TARGET_MB, False)}   "
              f"daemon process RSS {paired.spread(daemon, '{:.1f}')} MB")
    if len(sides) == 2:
        ratio = paired.ratios(sides[0].pss(), sides[1].pss())
        print(f"\n{sides[0].kind} / {sides[1].kind} tree PSS, per round: "
              f"{paired.spread(ratio, '{:.3f}')}")
    print(f"\nmachine: {paired.machine_note()}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    paired.add_common_arguments(parser, messages=330, rounds=3)
    parser.add_argument("--baseline", type=Path, default=None, metavar="DIR",
                        help="also run DIR's commgate (another checkout) in every round")
    parser.add_argument("--settle", type=float, default=2.0,
                        help="seconds to wait after the last message was filed (2)")
    parser.add_argument("--idle", action="store_true",
                        help="also print the tree once the workers have started, before mail")
    parser.add_argument("--mappings", type=int, default=0, metavar="K",
                        help="also print each process's K mappings with the most private MB")
    args = parser.parse_args(argv)
    if args.worker_processes is None:
        args.worker_processes = 2
    sides = [Side("commgate-sqlite")]
    if args.baseline is not None:
        args.baseline = args.baseline.resolve()
        sides.append(Side("baseline-sqlite"))
    corpus = paired.Corpus(args.corpora)
    print(f"daemon_memory: {paired.machine_note()}", flush=True)
    with paired.workspace(args, "commgate-daemon-memory-") as root:
        for number in range(args.rounds):
            mails = messages(corpus, args.messages, args.seed + number)
            for side in paired.round_order(number, sides):
                tree = run_side(side, root / f"round{number + 1}-{side.kind}", mails, args)
                print(f"round {number + 1} {side.kind}\n{show(tree)}", flush=True)
    report(sides, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
