"""Instructions per message of parse + classify from raw bytes, counted by callgrind.

On a shared machine CPU time moves with the other processes (shared caches, frequency), so
a change of a few percent is lost in ``classify_speed.py``'s noise. The number of instructions
executed is not: this runs one fresh child per side under ``valgrind --tool=callgrind`` with
collection off while the rules load and every language is built on a warm-up set, switches it
on (``callgrind_control -i on``) for the messages only, and prints instructions per message
and the ratio to ``--baseline``. The callgrind output files are kept for
``callgrind_annotate`` (where the instructions go, by C function). Instructions are not time
(a cache miss costs more than an add), so a gain here is a lower bound of work saved, not a
rate::

    PYTHONPATH=$PWD python bench/classify_callgrind.py --count 300 --baseline /work/main

Slow: valgrind runs the ~20 s of loading at a fraction of native speed; expect 5-20 minutes.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import _project_path  # noqa: F401  (must come before gateway)

from bench.classify_speed import HERE, WARMUP_PER_LANGUAGE, write_messages
from bench.corpora import corpora_root, require_corpus

_TOTAL = re.compile(r"^totals:\s+(\d+)", re.M)


# The child, run with ``python -c`` so that a baseline checkout without this script can be
# measured too (its own code on ``PYTHONPATH``, the same steps).
CHILD = """
import os, subprocess, sys
from pathlib import Path
sys.path.append(os.path.join(os.getcwd(), "bench"))  # for bench's own _project_path
from bench.classify_speed import read_messages
from classifiers import classify, load_rules
from gateway.processing.classification import to_input
from gateway.processing.parsing import parse_message

raws, warm = read_messages(Path(sys.argv[1])), read_messages(Path(sys.argv[2]))
rules = load_rules()
for raw in warm:
    classify(to_input(parse_message(raw)), rules)
pid = str(os.getpid())
subprocess.run(["callgrind_control", "-i", "on", pid], check=True, capture_output=True)
for raw in raws:
    classify(to_input(parse_message(raw)), rules)
subprocess.run(["callgrind_control", "-i", "off", pid], check=True, capture_output=True)
"""


def run_child(child: str, checkout: Path, file: Path, warm_file: Path, out: Path) -> None:
    """Run the script ``child`` of ``checkout`` under callgrind on the messages, its counts
    written to ``out``."""
    # A fixed string hash: set and dict orders (and so a few instructions) do not vary by run.
    env = dict(os.environ, PYTHONPATH=str(checkout), PYTHONHASHSEED="0")
    done = subprocess.run(
        ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
         sys.executable, "-c", child, str(file), str(warm_file)],
        env=env, cwd=checkout, capture_output=True, text=True,
    )
    if done.returncode:
        raise SystemExit(f"{checkout}: the child failed:\n{done.stderr[-2000:]}")


def _count(checkout: Path, file: Path, warm_file: Path, out: Path) -> int:
    """Instructions the child of ``checkout`` executed on the messages."""
    run_child(CHILD, checkout, file, warm_file, out)
    found = _TOTAL.search(out.read_text(errors="replace"))
    if found is None:
        raise SystemExit(f"{out}: no instruction total in the callgrind output")
    return int(found.group(1))


def add_arguments(ap: argparse.ArgumentParser) -> None:
    """The options this script shares with ``sequence_callgrind.py``."""
    ap.add_argument("--count", type=int, default=300, help="distinct messages")
    ap.add_argument("--seed", type=int, default=2000)
    ap.add_argument("--baseline", type=Path, default=None, help="another checkout to compare")
    ap.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()),
                    help="folder for the callgrind output files")


def setup(
    args: argparse.Namespace,
) -> tuple[list[bytes], list[bytes], list[tuple[str, Path]]]:
    """The generated messages, the warm-up set (every language) and the checkouts to run."""
    from bench.speed_corpus import LANGUAGES, Generator, load_sources

    gen = Generator(load_sources(require_corpus(corpora_root())), seed=args.seed)
    raws = [raw for _, raw in gen.messages(args.count)]
    warm = [gen.message(lang)[0] for lang in LANGUAGES for _ in range(WARMUP_PER_LANGUAGE)]
    sides = [("this", HERE)] + ([("baseline", args.baseline.resolve())] if args.baseline else [])
    return raws, warm, sides


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(ap)
    args = ap.parse_args(argv)
    raws, warm, sides = setup(args)
    with tempfile.TemporaryDirectory(prefix="classify-callgrind-") as tmp:
        file, warm_file = Path(tmp, "messages"), Path(tmp, "warm")
        write_messages(file, raws)
        write_messages(warm_file, warm)
        counts = {}
        for side, checkout in sides:
            out = args.out / f"callgrind.{side}.{args.seed}.out"
            counts[side] = _count(checkout, file, warm_file, out)
            print(f"{side:<8} {counts[side] / len(raws):12,.0f} instructions per message "
                  f"({out})", flush=True)
    if "baseline" in counts:
        print(f"this / baseline: {counts['this'] / counts['baseline']:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
