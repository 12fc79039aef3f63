"""Classify the same messages with and without ``classifiers/affixes.py``, in one process.

A gain of a few percent is below the noise of ``classify_speed.py`` on a shared machine
(two separate children per mode: +-8 % for unchanged code). Here two rule sets classify the
same generated messages in one process: one whose pipelines got the faster affix searches
(as the daemon's do) and one with spaCy's own tokenizer. Both are warmed and build every
language before the clock starts; chunks of 100 messages alternate which side goes first;
the classifications of the two sides are asserted equal chunk by chunk. Prints CPU time per
message of each side and the ratio::

    PYTHONPATH=$PWD python bench/affixes_ab.py --seeds 1000 1001
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import time
from collections.abc import Sequence
from typing import Any

import _project_path  # noqa: F401  (must come before gateway)

from bench.corpora import corpora_root, require_corpus

CHUNK = 100


def run(seed: int, count: int) -> tuple[float, float, list[float]]:
    """(sped-up, plain) CPU seconds per message, and the ratio of each chunk."""
    from bench.speed_corpus import LANGUAGES, Generator, load_sources
    from classifiers import classify, load_rules
    from classifiers.rules import RuleSet
    from gateway.processing.classification import to_input
    from gateway.processing.parsing import parse_message

    gen = Generator(load_sources(require_corpus(corpora_root())), seed=seed)
    raws = [raw for _, raw in gen.messages(count)]
    warm = [gen.message(lang)[0] for lang in LANGUAGES for _ in range(2)]
    fast, plain = load_rules(), load_rules()
    rules_module: Any = importlib.import_module("classifiers.rules")  # its speed_up, swapped
    speed_up = rules_module.speed_up

    def build(rules: RuleSet) -> None:
        for raw in warm:
            classify(to_input(parse_message(raw)), rules)
        for lang in {*rules.languages(), "en"}:
            rules.matchers(lang)

    rules_module.speed_up = lambda nlp: None
    try:
        build(plain)
    finally:
        rules_module.speed_up = speed_up
    build(fast)
    inputs = [to_input(parse_message(raw)) for raw in raws]
    spent = {"fast": 0.0, "plain": 0.0}
    ratios: list[float] = []
    for i in range(0, len(inputs), CHUNK):
        chunk = inputs[i : i + CHUNK]
        sides = [("fast", fast), ("plain", plain)]
        if (i // CHUNK) % 2:
            sides.reverse()
        took: dict[str, float] = {}
        results = []
        for name, rules in sides:
            start = time.process_time()
            results.append([classify(m, rules) for m in chunk])
            took[name] = time.process_time() - start
        if results[0] != results[1]:
            raise SystemExit(f"seed {seed}: the two tokenizers classified chunk {i} differently")
        spent["fast"] += took["fast"]
        spent["plain"] += took["plain"]
        ratios.append(took["fast"] / took["plain"])
    return spent["fast"] / len(inputs), spent["plain"] / len(inputs), ratios


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1000, 1001])
    ap.add_argument("--count", type=int, default=2000)
    args = ap.parse_args(argv)
    for seed in args.seeds:
        fast, plain, ratios = run(seed, args.count)
        print(
            f"seed {seed}: affixes {fast * 1e6:.0f} us/msg, spaCy's {plain * 1e6:.0f} us/msg, "
            f"ratio {fast / plain:.3f} (chunks: median {statistics.median(ratios):.3f}, "
            f"range {min(ratios):.3f}-{max(ratios):.3f})",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
