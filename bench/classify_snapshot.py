"""Classify the generated speed corpus and write every result, to prove a change kept behaviour.

A performance change to the classifier must not change a single classification. This
classifies the distinct messages of ``bench/speed_corpus.py`` (same seeds as
``classify_speed.py``'s rounds) in ONE process, as a daemon would (caches warm, vocabulary
growing), and writes one JSON line per message: category, scope, identifiers, language,
confidence, evidence, decided_by. Run it before and after, then compare::

    PYTHONPATH=$PWD python bench/classify_snapshot.py --count 2000 before.jsonl
    PYTHONPATH=$PWD python bench/classify_snapshot.py --count 2000 after.jsonl
    PYTHONPATH=$PWD python bench/classify_snapshot.py --compare before.jsonl after.jsonl
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from bench.corpora import corpora_root, require_corpus
from bench.snapshots import compare


def snapshot(count: int, seed: int, out: Path) -> int:
    """Classify ``count`` generated messages and write their results to ``out``."""
    from bench.speed_corpus import Generator, load_sources
    from classifiers import classify, load_rules
    from gateway.processing.classification import to_input
    from gateway.processing.parsing import parse_message

    sources = load_sources(require_corpus(corpora_root()))
    rules = load_rules()
    with out.open("w", encoding="utf-8") as fh:
        for n, (_, raw) in enumerate(Generator(sources, seed=seed).messages(count)):
            c = classify(to_input(parse_message(raw)), rules).to_dict()
            c["n"] = n
            fh.write(json.dumps(c, ensure_ascii=False, sort_keys=True) + "\n")
    return count


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1_000)
    ap.add_argument("--compare", action="store_true", help="compare two snapshot files")
    ap.add_argument("files", nargs="+", type=Path)
    args = ap.parse_args(argv)
    if args.compare:
        return compare(args.files[0], args.files[1], label="n")
    snapshot(args.count, args.seed, args.files[0])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
