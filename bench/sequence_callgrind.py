"""Instructions per message of ``SequenceIndex.find`` alone, counted by callgrind, with the
matches it returned (so that two checkouts can be shown to agree).

``classify_callgrind.py`` counts a whole message; a change inside the sequence search is a
quarter of that and drowns in it. Here one fresh child per side classifies the messages once
with ``find`` wrapped to keep its arguments (spaCy's memory zones off, so the ``Doc``s stay
valid; the index's word caches copied before that pass and put back after it), then replays
exactly those calls, in order, from the same cache state, with callgrind's collection on for
the replay only. Prints instructions per message, the ratio to ``--baseline`` and whether the
matches are the same::

    PYTHONPATH=$PWD python bench/sequence_callgrind.py --count 300 --baseline /work/main

``--no-valgrind`` runs the same replay natively and prints CPU microseconds per message (best
of ``--repeat`` replays) instead.
"""

from __future__ import annotations

import argparse
import os
import pickle
import re
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import _project_path  # noqa: F401  (must come before gateway)

from bench.classify_callgrind import add_arguments, setup
from bench.classify_speed import write_messages

_TOTAL = re.compile(r"^totals:\s+(\d+)", re.M)

# Run with ``python -c`` in each checkout, so that a baseline without this script works too.
CHILD = """
import copy, os, pickle, subprocess, sys, time
import numpy
from pathlib import Path
sys.path.append(os.path.join(os.getcwd(), "bench"))
from bench.classify_speed import read_messages
from classifiers import classify, load_rules
from classifiers.rules import RuleSet
from classifiers.sequences import SequenceIndex
from gateway.processing.classification import to_input
from gateway.processing.parsing import parse_message

raws, warm = read_messages(Path(sys.argv[1])), read_messages(Path(sys.argv[2]))
out, valgrind, repeat = sys.argv[3], sys.argv[4] == "1", int(sys.argv[5])
rules = load_rules()
for raw in warm:
    classify(to_input(parse_message(raw)), rules)
RuleSet.bound_vocab = lambda self, lang: None  # keep every Doc's strings
indexes = dict(rules._sequence_indexes)

def snap(value):
    # A copy of what find may change: dicts, sets, arrays, and objects of the project that
    # hold them (a word table); None for the rest.
    if isinstance(value, (dict, set, numpy.ndarray)):
        return copy.copy(value)
    if type(value).__module__.startswith("classifiers.") and hasattr(value, "__dict__"):
        held = copy.copy(value)
        for k, v in vars(value).items():
            if isinstance(v, (dict, set, numpy.ndarray)):
                setattr(held, k, copy.copy(v))
        return held
    return None

def state():
    return {lang: {k: s for k, v in vars(ix).items() if (s := snap(v)) is not None}
            for lang, ix in indexes.items()}

def restore(saved):
    for lang, attrs in saved.items():
        for k, v in attrs.items():
            setattr(indexes[lang], k, snap(v))

calls = []
original = SequenceIndex.find
def recording(self, doc, phrase_hits=(), columns=None):
    phrase_hits = list(phrase_hits)
    calls.append((self, doc, phrase_hits, None if columns is None else columns.copy()))
    return original(self, doc, phrase_hits, columns)
saved = state()
SequenceIndex.find = recording
for raw in raws:
    classify(to_input(parse_message(raw)), rules)
SequenceIndex.find = original
assert set(rules._sequence_indexes) == set(indexes), "a language was built after the warm-up"
restore(saved)
found = []
if valgrind:
    pid = str(os.getpid())
    subprocess.run(["callgrind_control", "-i", "on", pid], check=True, capture_output=True)
    for ix, doc, hits, columns in calls:
        found.append(ix.find(doc, hits, columns))
    subprocess.run(["callgrind_control", "-i", "off", pid], check=True, capture_output=True)
    best = 0.0
else:
    best = float("inf")
    for _ in range(repeat):
        restore(saved)
        found = []
        t0 = time.process_time()
        for ix, doc, hits, columns in calls:
            found.append(ix.find(doc, hits, columns))
        best = min(best, time.process_time() - t0)
with open(out, "wb") as fh:
    pickle.dump((found, best, len(calls)), fh)
"""


def _run(checkout: Path, files: tuple[Path, Path], out: Path, valgrind: bool,
         repeat: int) -> tuple[list[object], float, int]:
    """The child's matches, best replay time and number of calls (and, under valgrind, the
    callgrind output in ``out``.cg)."""
    env = dict(os.environ, PYTHONPATH=str(checkout), PYTHONHASHSEED="0")
    prefix = (["valgrind", "--tool=callgrind", "--instr-atstart=no",
               f"--callgrind-out-file={out}.cg"] if valgrind else [])
    done = subprocess.run(
        [*prefix, sys.executable, "-c", CHILD, str(files[0]), str(files[1]), str(out),
         "1" if valgrind else "0", str(repeat)],
        env=env, cwd=checkout, capture_output=True, text=True,
    )
    if done.returncode:
        raise SystemExit(f"{checkout}: the child failed:\n{done.stderr[-2000:]}")
    with out.open("rb") as fh:
        found, best, calls = pickle.load(fh)
    return found, best, calls


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(ap)
    ap.add_argument("--no-valgrind", action="store_true", help="CPU time, not instructions")
    ap.add_argument("--repeat", type=int, default=5, help="replays timed (--no-valgrind)")
    args = ap.parse_args(argv)
    raws, warm, sides = setup(args)
    valgrind = not args.no_valgrind
    with tempfile.TemporaryDirectory(prefix="sequence-callgrind-") as tmp:
        files = (Path(tmp, "messages"), Path(tmp, "warm"))
        write_messages(files[0], raws)
        write_messages(files[1], warm)
        results: dict[str, tuple[list[object], float]] = {}
        for side, checkout in sides:
            out = args.out / f"sequence.{side}.{args.seed}"
            found, best, calls = _run(checkout, files, out, valgrind, args.repeat)
            if valgrind:
                total = _TOTAL.search(Path(f"{out}.cg").read_text(errors="replace"))
                if total is None:
                    raise SystemExit(f"{out}.cg: no instruction total in the callgrind output")
                figure = int(total.group(1)) / len(raws)
                print(f"{side:<8} {figure:12,.0f} instructions per message in find "
                      f"({calls} calls; {out}.cg)", flush=True)
            else:
                figure = best / len(raws) * 1e6
                print(f"{side:<8} {figure:10.1f} us per message in find, best of "
                      f"{args.repeat} ({calls} calls)", flush=True)
            results[side] = (found, figure)
    if "baseline" in results:
        print(f"this / baseline: {results['this'][1] / results['baseline'][1]:.4f}")
        same = results["this"][0] == results["baseline"][0]
        print("matches: " + ("identical" if same else "DIFFER"))
        if not same:
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
