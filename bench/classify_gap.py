"""Why parse -> classify per message costs more than parse and classify each on their own.

``classify_speed.py``'s ``full`` mode is slower than ``parse`` + ``classify`` added up. This
counts, under ``valgrind --tool=callgrind --cache-sim=yes``, the instructions and the cache
misses of the same messages done both ways, in one child per order so that each message set
is seen once per way by a fresh process: child 1 runs set A interleaved (parse, to_input and
classify per message) and then set B split (all parsed, then all classified); child 2 the
other way round. Collection is on only for the messages (``callgrind_control -i on/off``,
``-d`` between phases). The last-level cache is simulated at the size of one core's L2
(1 MiB, 16-way), where the two stages' working sets meet; the machine's 32 MB L3 is shared
by every core. Equal instructions and more misses interleaved say the gap is the stages
evicting each other's code and data, not work done twice::

    PYTHONPATH=$PWD python bench/classify_gap.py --count 150

Slow: expect 10-30 minutes (the cache simulation doubles callgrind's cost).
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

EVENTS = ("Ir", "I1mr", "D1mr", "D1mw", "ILmr", "DLmr", "DLmw")
_TRIGGER = re.compile(r"^desc: Trigger: Client Request: dump (\w+)|^desc: Trigger: dump (\w+)",
                      re.M)
CHILD = """
import os, subprocess, sys
from pathlib import Path
sys.path.append(os.path.join(os.getcwd(), "bench"))
from bench.classify_speed import read_messages
from classifiers import classify, load_rules
from gateway.processing.classification import to_input
from gateway.processing.parsing import parse_message

raws, warm = read_messages(Path(sys.argv[1])), read_messages(Path(sys.argv[2]))
first_interleaved = sys.argv[3] == "1"
rules = load_rules()
for raw in warm:
    classify(to_input(parse_message(raw)), rules)
pid = str(os.getpid())
def ctl(*args):
    subprocess.run(["callgrind_control", *args, pid], check=True, capture_output=True)
def phase(name, work):
    ctl("-i", "on")
    out = work()
    ctl("-i", "off")
    ctl("-d", name)
    return out
half = len(raws) // 2
sets = (raws[:half], raws[half:2 * half])
for n, msgs in enumerate(sets):
    if (n == 0) == first_interleaved:
        phase("full", lambda: [classify(to_input(parse_message(r)), rules) for r in msgs])
    else:
        inputs = phase("parse", lambda: [to_input(parse_message(r)) for r in msgs])
        phase("classify", lambda: [classify(m, rules) for m in inputs])
"""


def _run(first_interleaved: bool, file: Path, warm: Path, out: Path) -> dict[str, list[int]]:
    """Event totals per phase of one child."""
    env = dict(os.environ, PYTHONPATH=str(HERE), PYTHONHASHSEED="0")
    done = subprocess.run(
        ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--cache-sim=yes",
         "--I1=32768,8,64", "--D1=32768,8,64", "--LL=1048576,16,64",
         f"--callgrind-out-file={out}", sys.executable, "-c", CHILD, str(file), str(warm),
         "1" if first_interleaved else "0"],
        env=env, cwd=HERE, capture_output=True, text=True,
    )
    if done.returncode:
        raise SystemExit(f"the child failed:\n{done.stderr[-2000:]}")
    phases: dict[str, list[int]] = {}
    for dump in sorted(out.parent.glob(out.name + ".*")):
        text = dump.read_text(errors="replace")
        trigger = _TRIGGER.search(text)
        events = re.search(r"^events: (.+)$", text, re.M)
        totals = re.search(r"^totals: (.+)$", text, re.M)
        if trigger and events and totals:
            names, values = events.group(1).split(), [int(v) for v in totals.group(1).split()]
            counts = dict(zip(names, values, strict=True))
            phases[trigger.group(1) or trigger.group(2)] = [counts.get(e, 0) for e in EVENTS]
    return phases


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=150, help="messages per set (two sets)")
    ap.add_argument("--seed", type=int, default=1000)
    args = ap.parse_args(argv)
    from bench.speed_corpus import LANGUAGES, Generator, load_sources

    gen = Generator(load_sources(require_corpus(corpora_root())), seed=args.seed)
    raws = [raw for _, raw in gen.messages(2 * args.count)]
    warm = [gen.message(lang)[0] for lang in LANGUAGES for _ in range(WARMUP_PER_LANGUAGE)]
    with tempfile.TemporaryDirectory(prefix="classify-gap-") as tmp:
        file, warm_file = Path(tmp, "messages"), Path(tmp, "warm")
        write_messages(file, raws)
        write_messages(warm_file, warm)
        runs = [_run(first, file, warm_file, Path(tmp, f"child{int(first)}.out"))
                for first in (True, False)]
    # Set A: interleaved in child 1, split in child 2; set B the other way round.
    sets = {"A": (runs[0]["full"], runs[1]), "B": (runs[1]["full"], runs[0])}
    print(f"per message, {args.count} messages per set; LL = a 1 MiB L2")
    print(f"{'':18}" + "".join(f"{e:>12}" for e in EVENTS))
    for name, (full, split) in sets.items():
        both = [p + c for p, c in zip(split["parse"], split["classify"], strict=True)]
        for label, row in ((f"set {name} interleaved", full), (f"set {name} split", both),
                           ("  of which parse", split["parse"])):
            print(f"{label:18}" + "".join(f"{v / args.count:12,.0f}" for v in row))
        print(f"{'  ratio':18}" + "".join(
            f"{f / s:12.3f}" if s else f"{'':12}" for f, s in zip(full, both, strict=True)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
