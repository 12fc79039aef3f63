"""Memory growth of a long-running classifier: RSS after 1k ... 30k distinct messages.

A daemon classifies mail for months; every new word it sees (names, numbers, addresses) may
stay in a cache or in spaCy's vocabulary. This generates ``--count`` distinct messages
(``bench/speed_corpus.py``, all 11 languages, as ``classify_speed.py`` does), then one fresh
child process loads the rules, imports the daemon's modules, classifies a warm-up set (two
messages per language) and then every message from raw bytes (parse -> to_input ->
classify), printing at each checkpoint (1k, 5k, 10k, 20k, 30k by default) its current RSS
(``/proc/self/statm``), its peak RSS, and the messages per CPU second of the segment since
the previous checkpoint (rebuilds of a pipeline land in the segment they happen in).

``--baseline DIR`` runs the same child on DIR's code (``PYTHONPATH=DIR``, ``cwd=DIR``; the
child is this file, so DIR needs no copy of it) on the same message file, the two sides
alternating which goes first over ``--rounds``, and reports the ratio this / baseline per
checkpoint. Figures of separate runs on a shared machine are not comparable; ratios are.

Run::

    PYTHONPATH=$PWD python bench/classify_memory.py --count 30000
    PYTHONPATH=$PWD python bench/classify_memory.py --count 30000 --baseline /work/main
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import _project_path  # noqa: F401  (must come before gateway)

from bench.classify_speed import (
    _LENGTH,
    WARMUP_PER_LANGUAGE,
    child_env,
    read_messages,
    write_messages,
)
from bench.corpora import corpora_root, require_corpus

HERE = Path(__file__).resolve().parent.parent
CHECKPOINTS = (1_000, 5_000, 10_000, 20_000, 30_000)


def _rss_mb() -> float:
    """Current resident set size (not the peak: the peak hides whether memory is returned)."""
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _stream(file: Path) -> Iterator[bytes]:
    """The messages of ``file`` one by one (the format of ``classify_speed.write_messages``)."""
    with file.open("rb") as fh:
        while head := fh.read(_LENGTH.size):
            yield fh.read(_LENGTH.unpack(head)[0])


def child(checkout: Path, warm_file: Path, file: Path, checkpoints: Sequence[int]) -> None:
    """Classify the messages in this fresh process with ``checkout``'s code; one JSON line
    per checkpoint on stdout."""
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
    sys.path.insert(0, str(checkout))
    import classifiers
    import gateway.daemon.supervisor  # noqa: F401  (the daemon's modules count towards its memory)
    from classifiers import classify, load_rules
    from gateway.processing.classification import to_input
    from gateway.processing.parsing import parse_message

    assert Path(classifiers.__file__).resolve().is_relative_to(checkout), classifiers.__file__
    rules = load_rules()
    for raw in read_messages(warm_file):
        classify(to_input(parse_message(raw)), rules)
    raws = _stream(file)  # one at a time: 30,000 messages held at once would be ~150 MB of RSS
    marks = sorted(checkpoints)
    start = time.process_time()
    done, cpu0 = 0, start
    for mark in marks:
        for _ in range(mark - done):
            classify(to_input(parse_message(next(raws))), rules)
        cpu = time.process_time()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        row = {"n": mark, "rss": _rss_mb(), "peak": peak, "rate": (mark - done) / (cpu - cpu0),
               "cpu": cpu - start}
        print(json.dumps(row), flush=True)
        done, cpu0 = mark, cpu


def _spawn(
    checkout: Path, warm: Path, file: Path, checkpoints: Sequence[int]
) -> list[dict[str, float]]:
    env = child_env(checkout)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(checkout), str(warm),
           str(file), "--checkpoints", ",".join(map(str, checkpoints))]
    done = subprocess.run(cmd, env=env, cwd=checkout, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"child of {checkout} failed:\n{done.stderr}")
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def _spread(values: Sequence[float], fmt: str) -> str:
    if len(values) == 1:
        return fmt.format(values[0])
    return (f"{fmt.format(statistics.median(values))} "
            f"({fmt.format(min(values))}-{fmt.format(max(values))})")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=30_000, help="distinct messages")
    ap.add_argument("--rounds", type=int, default=1, help="children per side, same messages")
    ap.add_argument("--seed", type=int, default=1_000)
    ap.add_argument("--checkpoints", default=",".join(map(str, CHECKPOINTS)))
    ap.add_argument("--corpora", type=Path, default=None, help="the shared corpora folder")
    ap.add_argument("--baseline", type=Path, default=None, metavar="DIR",
                    help="another checkout (e.g. /work/main) run the same way in this run")
    ap.add_argument("--child", nargs=3, metavar=("CHECKOUT", "WARMUP", "FILE"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    checkpoints = [int(c) for c in args.checkpoints.split(",")]
    if args.child:
        child(Path(args.child[0]).resolve(), Path(args.child[1]), Path(args.child[2]),
              checkpoints)
        return 0

    from bench.speed_corpus import LANGUAGES, Generator, load_sources

    sources = load_sources(require_corpus(args.corpora or corpora_root()))
    gen = Generator(sources, seed=args.seed)
    raws = [raw for _, raw in gen.messages(args.count)]
    warm = [gen.message(lang)[0] for lang in LANGUAGES for _ in range(WARMUP_PER_LANGUAGE)]
    checkpoints = [c for c in checkpoints if c <= args.count] or [args.count]
    sides = [("this", HERE)]
    if args.baseline is not None:
        sides.append(("baseline", args.baseline.resolve()))
    rows: dict[str, list[list[dict[str, float]]]] = {name: [] for name, _ in sides}
    with tempfile.TemporaryDirectory(prefix="classify-memory-") as tmp:
        file, warm_file = Path(tmp, "messages"), Path(tmp, "warm")
        write_messages(file, raws)
        write_messages(warm_file, warm)
        for rnd in range(args.rounds):
            order = sides if rnd % 2 == 0 else sides[::-1]
            for name, checkout in order:
                got = _spawn(checkout, warm_file, file, checkpoints)
                rows[name].append(got)
                print(f"round {rnd + 1} {name:<8} " + "  ".join(
                    f"{r['n']}: {r['rss']:.0f} MB {r['rate']:.0f}/s" for r in got), flush=True)
    for name, checkout in sides:
        print(f"\n{name} ({checkout}): {args.count} distinct messages, seed {args.seed}, "
              f"{args.rounds} round(s); current RSS, peak RSS, msg/s per CPU second of the segment")
        for i, n in enumerate(checkpoints):
            at = [r[i] for r in rows[name]]
            print(f"  after {n:>6}: RSS {_spread([r['rss'] for r in at], '{:.0f}')} MB  "
                  f"peak {_spread([r['peak'] for r in at], '{:.0f}')} MB  "
                  f"{_spread([r['rate'] for r in at], '{:.0f}')} msg/s")
    if args.baseline is not None:
        print("\nthis / baseline per checkpoint (RSS < 1: smaller; msg/s > 1: faster)")
        for i, n in enumerate(checkpoints):
            pairs = list(zip(rows["this"], rows["baseline"], strict=True))
            rss = [t[i]["rss"] / b[i]["rss"] for t, b in pairs]
            rate = [t[i]["rate"] / b[i]["rate"] for t, b in pairs]
            print(f"  after {n:>6}: RSS {_spread(rss, '{:.3f}')}  "
                  f"segment msg/s {_spread(rate, '{:.3f}')}")
        total = [b[-1]["cpu"] / t[-1]["cpu"] for t, b in pairs]  # same messages: rate ratio
        print(f"  all {checkpoints[-1]} messages, msg/s per CPU second: {_spread(total, '{:.3f}')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
