"""Instructions per message of each stage of parse + classify, counted by callgrind.

``classify_callgrind.py`` counts a whole message; this says which stage a change moved. One
fresh child per side (under ``valgrind --tool=callgrind``, collection off while the rules
load and the warm-up set is classified) runs each stage over all the messages in turn, the
inputs of a stage made by the stages before it, with collection on only around the stage and
a callgrind dump after it: parse + ``to_input``, ``prepare``, language identification,
matching (``match_message``: tokenizing, phrases, sequences, negation and conditional
checks), identifiers, header rules. The shares differ a little from a whole ``classify``
(a stage's caches are warmed by its own earlier messages only, as in a worker)::

    PYTHONPATH=$PWD python bench/stage_callgrind.py --count 300 --baseline /work/main
"""

from __future__ import annotations

import argparse
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path

import _project_path  # noqa: F401  (must come before gateway)

from bench.classify_callgrind import add_arguments, run_child, setup
from bench.classify_speed import write_messages

STAGES: tuple[str, ...] = ("parse", "prepare", "language", "match", "identifiers", "headers")
_TOTAL = re.compile(r"^totals:\s+(\d+)", re.M)
_TRIGGER = re.compile(r"^desc: Trigger: .*?dump (\w+)", re.M)

# Run with ``python -c`` in each checkout, so that a baseline without this script works too.
CHILD = """
import os, subprocess, sys
from pathlib import Path
sys.path.append(os.path.join(os.getcwd(), "bench"))
from bench.classify_speed import read_messages
from classifiers import classify, load_rules
from classifiers.classify import _attachment_text, _hits
from classifiers.headers import evaluate_headers
from classifiers.identifiers import extract_identifiers
from classifiers.language import detect_language
from classifiers.prepare import prepare
from gateway.processing.classification import to_input
from gateway.processing.parsing import parse_message

raws, warm = read_messages(Path(sys.argv[1])), read_messages(Path(sys.argv[2]))
rules = load_rules()
for raw in warm:
    classify(to_input(parse_message(raw)), rules)
pid = str(os.getpid())

def stage(name, work):
    subprocess.run(["callgrind_control", "-i", "on", pid], check=True, capture_output=True)
    out = work()
    subprocess.run(["callgrind_control", "-i", "off", pid], check=True, capture_output=True)
    subprocess.run(["callgrind_control", "-d", name, pid], check=True, capture_output=True)
    return out

msgs = stage("parse", lambda: [to_input(parse_message(r)) for r in raws])
subs = [(m.subject or "")[:1000] for m in msgs]
preps = stage("prepare", lambda: [prepare(m.body_text or "", s) for m, s in zip(msgs, subs)])
langs = stage("language", lambda: [detect_language(p.text, s) for p, s in zip(preps, subs)])
atts = [_attachment_text(m.attachment_names) for m in msgs]
stage("match", lambda: [_hits(s, p.text, a, lang, rules)
                        for s, p, a, lang in zip(subs, preps, atts, langs)])
stage("identifiers", lambda: [extract_identifiers(s, m.body_text or "", rules)
                              for s, m in zip(subs, msgs)])
stage("headers", lambda: [evaluate_headers(m, rules) for m in msgs])
"""


def _count(checkout: Path, file: Path, warm_file: Path, out: Path) -> dict[str, int]:
    """Instructions of each stage the child of ``checkout`` executed on the messages."""
    run_child(CHILD, checkout, file, warm_file, out)
    counts: dict[str, int] = {}
    for dump in out.parent.glob(f"{out.name}.*"):
        text = dump.read_text(errors="replace")
        name, total = _TRIGGER.search(text), _TOTAL.search(text)
        if name is not None and total is not None and name.group(1) in STAGES:
            counts[name.group(1)] = int(total.group(1))
    return counts


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(ap)
    args = ap.parse_args(argv)
    raws, warm, sides = setup(args)
    results: dict[str, dict[str, int]] = {}
    with tempfile.TemporaryDirectory(prefix="stage-callgrind-") as tmp:
        file, warm_file = Path(tmp, "messages"), Path(tmp, "warm")
        write_messages(file, raws)
        write_messages(warm_file, warm)
        for side, checkout in sides:
            out = args.out / f"callgrind.stages.{side}.{args.seed}.out"
            for old in out.parent.glob(f"{out.name}.*"):
                old.unlink()
            results[side] = _count(checkout, file, warm_file, out)
    print(f"{'stage':<12}" + "".join(f"{side:>14}" for side in results)
          + ("   this / baseline" if "baseline" in results else ""))
    for name in (*STAGES, "all"):
        row = {side: (sum(c.values()) if name == "all" else c.get(name, 0)) / len(raws)
               for side, c in results.items()}
        ratio = (f"   {row['this'] / row['baseline']:.4f}"
                 if row.get("baseline") else "")
        print(f"{name:<12}" + "".join(f"{v:>14,.0f}" for v in row.values()) + ratio)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
