"""Score the classifier on a labelled corpus, through the whole pipeline from raw bytes.

A labelled corpus is a folder with ``labels.jsonl`` (one JSON object per line: ``file``,
``category``, ``scope_change``, ``identifiers``) and the mails in ``mail/``; a folder holding
the mails next to a ``manifest.json`` (a JSON list of the same objects, as in
``gateway/cli/demo/mail``) works too. Each message goes the way the gateway sends it:
``gateway.processing.parsing.parse_message`` -> ``gateway.processing.classification.to_input`` ->
``classify``.

Printed (figures from ``classifiers.evaluation``, corpus loading from
``gateway.workflows.rule_eval``):
per-class precision/recall/F1, macro-F1, scope-change precision/recall/F1, identifier recall
and precision (set per message, ignoring case, spaces, '#' and hyphens), COVERAGE (share
decided by a rule or header verdict), PER-LANGUAGE accuracy, the CONFUSION matrix, the
misclassified files, and throughput in messages/s for parse + prepare + classify on one core
(rules loaded and spaCy warmed up before timing; ``--passes`` timed passes over the corpus,
best and median).

``--sisimai DIR`` (the ``sisimai`` corpus folder) also reports the share of its maildir
messages classified ``other``; its SOURCE.md says ``maildir/not/`` holds the only non-bounces,
so exactly those are excluded (and listed with that reason).

``--rules DIR`` scores another rules folder (an older revision's, see bench/loco.py).

Run::

    python bench/classify_eval.py --passes 1 ../shared/corpora/labelled-dev \\
        --identifier-pattern 'serial=AF\\d{2}-\\d{6}' --sisimai ../shared/corpora/sisimai
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import _project_path  # noqa: F401  (must come before archive/gateway)

from bench.corpora import require_corpus
from classifiers import Classification, RuleSet, load_rules
from classifiers.evaluation import Report, differences, evaluate, report_lines
from gateway.workflows.rule_eval import Labelled, classify_raw, load_corpus


def run(raw: bytes, rules: RuleSet) -> Classification:
    return classify_raw(raw, rules)


def score(corpus: Sequence[Labelled], results: Sequence[Classification]) -> Report:
    """Print the quality report (classifiers.evaluation); return it."""
    report = evaluate(zip((item.expected for item in corpus), results, strict=True))
    print("\n".join(report_lines(report)))
    errors = []
    for item, res in zip(corpus, results, strict=True):
        notes = differences(item.expected, res)
        if notes:
            errors.append(f"  {item.source}: " + "; ".join(notes))
    if errors:
        print(f"\ndifferences ({len(errors)} messages)")
        print("\n".join(errors))
    return report


def throughput(raws: Sequence[bytes], rules: RuleSet, passes: int) -> None:
    """Messages/s for parse + prepare + classify on this one process (one core)."""
    for raw in raws:  # warm-up: spaCy vocab, matcher caches, regex compilation
        run(raw, rules)
    rates = []
    for _ in range(passes):
        start = time.perf_counter()
        for raw in raws:
            run(raw, rules)
        rates.append(len(raws) / (time.perf_counter() - start))
    sizes = sorted(len(r) for r in raws)
    print(
        f"\nthroughput (parse+prepare+classify, one core, {passes} passes x {len(raws)} msgs, "
        f"median size {sizes[len(sizes) // 2] / 1024:.1f} KB): "
        f"median {statistics.median(rates):.0f} msg/s, best {max(rates):.0f} msg/s"
    )


def sisimai_report(folder: Path, rules: RuleSet) -> float:
    """Share of sisimai maildir bounces / auto-replies / ARF reports classified ``other``."""
    maildir = folder / "maildir"
    files = sorted(p for p in maildir.rglob("*.eml") if p.is_file())
    excluded = [p for p in files if p.parent.name == "not"]
    for p in excluded:
        print(f"  excluded {p.relative_to(folder)}: SOURCE.md - maildir/not/ holds non-bounces")
    checked = [p for p in files if p.parent.name != "not"]
    wrong = []
    for p in checked:
        res = run(p.read_bytes(), rules)
        if res.category != "other":
            wrong.append(f"  {p.relative_to(folder)} -> {res.category}")
    share = 1 - len(wrong) / max(1, len(checked))
    print(f"sisimai: {len(checked) - len(wrong)}/{len(checked)} classified other ({share:.1%})")
    if wrong:
        print("\n".join(wrong))
    return share


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("corpus", type=Path, nargs="?", help="labelled corpus folder")
    ap.add_argument(
        "--identifier-pattern",
        action="append",
        default=[],
        metavar="KIND=REGEX",
        help="a company's own identifier format, e.g. serial=AF\\d{2}-\\d{6} (repeatable)",
    )
    ap.add_argument("--rules", type=Path, metavar="DIR",
                    help="score this rules folder instead of the shipped classifier/rules")
    ap.add_argument("--passes", type=int, default=5, help="timed passes (default 5)")
    ap.add_argument("--no-timing", action="store_true", help="skip the throughput measurement")
    ap.add_argument("--sisimai", type=Path, help="sisimai corpus folder: report the other-rate")
    args = ap.parse_args(argv)
    if args.corpus is None and args.sisimai is None:
        ap.error("give a corpus folder, --sisimai DIR, or both")
    for folder in (args.corpus, args.sisimai):
        if folder is not None:
            require_corpus(folder)

    extra = []
    for spec in args.identifier_pattern:
        kind, sep, regex = spec.partition("=")
        if not sep or not regex:
            ap.error(f"--identifier-pattern {spec!r}: expected KIND=REGEX")
        extra.append((kind, regex))
    rules = load_rules(args.rules, extra_identifier_patterns=extra)
    print(f"rules version {rules.version}, {rules.rule_count} rules")
    if args.corpus is not None:
        corpus = load_corpus(args.corpus)
        score(corpus, [classify_raw(item.raw, rules) for item in corpus])
        if not args.no_timing:
            throughput([item.raw for item in corpus], rules, args.passes)
    if args.sisimai is not None:
        print()
        sisimai_report(args.sisimai, rules)
    return 0


if __name__ == "__main__":
    sys.exit(main())
