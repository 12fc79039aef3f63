"""Classifier throughput and memory as a server sees them: distinct messages, raw bytes, one core.

Each round generates its own messages (``bench/speed_corpus.py``: recombined corpus text and
templates in all 11 supported languages, realistic MIME), so no cache has seen them, and
runs every measurement in a fresh, single-threaded child process (one core; ``--cpu N``
pins it to CPU N):

* ``full``      parse_message -> to_input -> classify, timed from raw bytes (issue 12), in
                batches of the worker's default ``batch_size`` (100) as a worker prepares a
                claimed batch (``Processor._prepare_all``): parsed, then classified;
* ``classify``  classify alone, the messages parsed before the clock starts (issue 17);
* ``parse``     parse_message -> to_input alone (the share the classifier cannot change);
* ``tokenize``  ``spacy.blank("en").make_doc`` over the same bodies: a baseline that moves
                with the machine's speed, so the ratio classify / tokenize travels.

The modes of a round run one after another in a rotating order (interleaved rounds), so a
slow phase of a shared machine does not hit one mode only. The rules are loaded and a
separate warm-up set (two messages per language, not counted) is classified first: what is
timed is a running daemon, not its start. Rates are messages per CPU second of the child
(``time.process_time``), which a busy machine disturbs far less than wall time; wall-clock
rates are printed beside them. ``full`` also reports its peak RSS (``ru_maxrss``) after it
has classified messages of every language, with the daemon's modules imported.

``--baseline DIR`` compares this checkout with another one (say the main checkout) in the
same run: every mode of a round also runs DIR's own child (``DIR/bench/classify_speed.py``,
``PYTHONPATH=DIR``) on the same message files, the two alternating which goes first, and the
report adds the ratio this / baseline per mode (median and range over the rounds). Rates of
two separate runs on a shared machine are not comparable; ratios taken in one run are.

Run::

    PYTHONPATH=$PWD python bench/classify_speed.py --rounds 5 --count 2000
    PYTHONPATH=$PWD python bench/classify_speed.py --rounds 5 --count 2000 --baseline /work/main
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import _project_path  # noqa: F401  (must come before gateway)

from bench.corpora import corpora_root, require_corpus

MODES: tuple[str, ...] = ("full", "classify", "parse", "tokenize")
WARMUP_PER_LANGUAGE = 2
_LENGTH = struct.Struct(">I")


def write_messages(path: Path, messages: Sequence[bytes]) -> None:
    """Length-prefixed raw messages: any byte may occur in a mail, so no separator is safe."""
    with path.open("wb") as fh:
        for raw in messages:
            fh.write(_LENGTH.pack(len(raw)))
            fh.write(raw)


def read_messages(path: Path) -> list[bytes]:
    data = path.read_bytes()
    out, pos = [], 0
    while pos < len(data):
        (size,) = _LENGTH.unpack_from(data, pos)
        pos += _LENGTH.size
        out.append(data[pos : pos + size])
        pos += size
    return out


# ---------------------------------------------------------------- child: one measurement


@dataclass(frozen=True)
class Measurement:
    """What one child reports: messages, CPU and wall seconds, its peak RSS, the languages."""

    mode: str
    n: int
    cpu: float
    wall: float
    maxrss_mb: float
    languages: tuple[str, ...]

    def rate(self, clock: str = "cpu") -> float:
        return self.n / (self.cpu if clock == "cpu" else self.wall)


def _timed(work: Callable[[], object]) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    work()
    return time.process_time() - cpu, time.perf_counter() - wall


def child(mode: str, warm_file: Path, file: Path) -> Measurement:
    """Run one measurement in this (fresh) process and return its figures."""
    if mode == "full":
        import gateway.daemon.supervisor  # noqa: F401  (the daemon's modules count towards its memory)
    from classifiers import classify, load_rules
    from gateway.config import WorkerConfig
    from gateway.processing.classification import to_input
    from gateway.processing.parsing import parse_message

    batch = WorkerConfig().batch_size  # the default a worker claims
    warm, raws = read_messages(warm_file), read_messages(file)
    languages: set[str] = set()
    if mode == "tokenize":
        import spacy

        nlp = spacy.blank("en")
        for raw in warm:
            nlp.make_doc(to_input(parse_message(raw)).body_text or "")
        bodies = [to_input(parse_message(raw)).body_text or "" for raw in raws]

        def tokenize() -> None:
            for body in bodies:
                nlp.make_doc(body)  # not kept: the docs of 2,000 mails would be the peak RSS

        cpu, wall = _timed(tokenize)
    elif mode == "parse":
        for raw in warm:
            to_input(parse_message(raw))

        def parse_all() -> None:
            for raw in raws:
                to_input(parse_message(raw))

        cpu, wall = _timed(parse_all)
    else:
        rules = load_rules()
        for raw in warm:
            languages.add(classify(to_input(parse_message(raw)), rules).language)
        if mode == "classify":
            inputs = [to_input(parse_message(raw)) for raw in raws]

            def classify_all() -> None:
                for m in inputs:
                    classify(m, rules)

            cpu, wall = _timed(classify_all)
        else:

            def work() -> None:
                # As a worker prepares a claimed batch: all parsed, then all classified.
                for start in range(0, len(raws), batch):
                    inputs = [to_input(parse_message(raw)) for raw in raws[start:start + batch]]
                    for m in inputs:
                        languages.add(classify(m, rules).language)

            cpu, wall = _timed(work)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    return Measurement(mode, len(raws), cpu, wall, peak, tuple(sorted(languages)))


# ---------------------------------------------------------------- parent: rounds and report


HERE = Path(__file__).resolve().parent.parent


def child_env(checkout: Path) -> dict[str, str]:
    """The environment of a measured child: ``checkout``'s code, numeric libraries on one
    thread (the figures are per core)."""
    return dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
                MKL_NUM_THREADS="1", PYTHONPATH=str(checkout))


def _spawn(
    mode: str, warm: Path, file: Path, cpu: int | None, checkout: Path = HERE
) -> Measurement:
    """Run ``checkout``'s own child for one mode: its code, its benchmark, our message files."""
    env = child_env(checkout)
    script = checkout / "bench" / "classify_speed.py"
    cmd = [sys.executable, str(script), "--child", mode, str(warm), str(file)]
    if cpu is not None:
        cmd[2:2] = ["--cpu", str(cpu)]
    done = subprocess.run(cmd, env=env, cwd=checkout, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"child {mode} of {checkout} failed:\n{done.stderr}")
    data = json.loads(done.stdout.strip().splitlines()[-1])
    return Measurement(**{**data, "languages": tuple(data["languages"])})


def _spread(values: Sequence[float], fmt: str = "{:.0f}") -> str:
    return (
        f"median {fmt.format(statistics.median(values))}  "
        f"range {fmt.format(min(values))}-{fmt.format(max(values))}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--count", type=int, default=2000, help="distinct messages per round")
    ap.add_argument("--corpora", type=Path, default=None, help="the shared corpora folder")
    ap.add_argument(
        "--cpu",
        type=int,
        default=None,
        help="pin the children to this CPU (they are single-threaded either way)",
    )
    ap.add_argument(
        "--baseline",
        type=Path,
        default=None,
        metavar="DIR",
        help="another checkout whose own child runs interleaved with ours "
        "(e.g. /work/main); the report adds the ratio this/baseline per mode",
    )
    ap.add_argument("--child", nargs=3, metavar=("MODE", "WARMUP", "FILE"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        if args.cpu is not None:
            os.sched_setaffinity(0, {args.cpu})
        print(json.dumps(asdict(child(args.child[0], Path(args.child[1]), Path(args.child[2])))))
        return 0

    from bench.speed_corpus import LANGUAGES, Generator, load_sources

    baseline = args.baseline.resolve() if args.baseline else None
    if baseline is not None and not (baseline / "bench" / "classify_speed.py").is_file():
        raise SystemExit(f"--baseline {baseline}: no bench/classify_speed.py there")
    sources = load_sources(require_corpus(args.corpora or corpora_root()))
    results: dict[str, list[Measurement]] = {m: [] for m in MODES}
    base: dict[str, list[Measurement]] = {m: [] for m in MODES}
    sizes: list[int] = []
    with tempfile.TemporaryDirectory(prefix="classify-speed-") as tmp:
        for rnd in range(args.rounds):
            gen = Generator(sources, seed=1_000 + rnd)  # every round its own messages
            raws = [raw for _, raw in gen.messages(args.count)]
            warm = [gen.message(lang)[0] for lang in LANGUAGES for _ in range(WARMUP_PER_LANGUAGE)]
            sizes += [len(r) for r in raws]
            file, warm_file = Path(tmp, f"round{rnd}"), Path(tmp, f"warm{rnd}")
            write_messages(file, raws)
            write_messages(warm_file, warm)
            order = MODES[rnd % len(MODES) :] + MODES[: rnd % len(MODES)]
            for mode in order:
                sides: list[tuple[str, Path, dict[str, list[Measurement]]]] = [
                    ("this", HERE, results)
                ]
                if baseline is not None:
                    sides.append(("baseline", baseline, base))
                    # Alternate who runs first, round by round for each mode: no side gets
                    # the warm cache. (rnd + i), i the place in the order, did not: the order
                    # turns by one a round, so rnd + i kept its parity per mode and each mode
                    # always had the same side first.
                    if (rnd + MODES.index(mode)) % 2:
                        sides.reverse()
                for side, checkout, into in sides:
                    res = _spawn(mode, warm_file, file, args.cpu, checkout)
                    into[mode].append(res)
                    tag = f" {side:<8}" if baseline is not None else ""
                    print(
                        f"round {rnd + 1} {mode:<9}{tag} {res.rate():7.0f} msg/s CPU "
                        f"{res.rate('wall'):7.0f} wall  peak RSS {res.maxrss_mb:.0f} MB",
                        flush=True,
                    )
    _report(results, sizes, args)
    if baseline is not None:
        print(f"\nbaseline {baseline}:")
        _report(base, sizes, args)
        _compare(results, base)
    return 0


def _compare(this: dict[str, list[Measurement]], base: dict[str, list[Measurement]]) -> None:
    """Ratio this / baseline per mode, round by round (each pair ran on the same messages)."""
    print("\nthis / baseline (> 1: this checkout is faster; RSS: < 1 is smaller)")
    for mode in MODES:
        pairs = list(zip(this[mode], base[mode], strict=True))
        cpu = [t.rate() / b.rate() for t, b in pairs]
        wall = [t.rate("wall") / b.rate("wall") for t, b in pairs]
        print(f"  {mode:<9} msg/s CPU {_spread(cpu, '{:.3f}')}   wall {_spread(wall, '{:.3f}')}")
    rss = [t.maxrss_mb / b.maxrss_mb for t, b in zip(this["full"], base["full"], strict=True)]
    print(f"  peak RSS of full: {_spread(rss, '{:.3f}')}")


def _report(
    results: dict[str, list[Measurement]], sizes: list[int], args: argparse.Namespace
) -> None:
    def rate(mode: str, clock: str = "cpu") -> list[float]:
        return [r.rate(clock) for r in results[mode]]

    def kb(share: float) -> str:
        return f"{sorted(sizes)[int(share * (len(sizes) - 1))] / 1024:.1f}"

    print(
        f"\n{args.rounds} rounds x {args.count} distinct messages, one core, fresh process "
        f"per measurement; message size median {kb(0.5)} KB (p10 {kb(0.1)}, p90 {kb(0.9)})"
    )
    labels = {
        "full": "parse + classify from raw bytes",
        "classify": "classify alone",
        "parse": "parse + to_input alone",
        "tokenize": 'spacy.blank("en").make_doc',
    }
    for mode in MODES:
        print(
            f"{labels[mode]:<32} msg/s CPU {_spread(rate(mode))}   "
            f"wall {_spread(rate(mode, 'wall'))}"
        )
    tok = rate("tokenize")
    for mode in ("full", "classify"):
        ratios = [t / m for t, m in zip(tok, rate(mode), strict=True)]
        print(f"cost of {mode} in tokenizer passes: {_spread(ratios, '{:.2f}')}")
    rss = [r.maxrss_mb for r in results["full"]]
    langs = sorted({x for r in results["full"] for x in r.languages})
    print(
        f"peak RSS of the full child (daemon modules imported, {len(langs)} languages "
        f"classified: {' '.join(langs)}): {_spread(rss, '{:.0f}')} MB"
    )


if __name__ == "__main__":
    sys.exit(main())
