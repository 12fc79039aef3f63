"""Score the classifier on a labelled corpus, through the whole pipeline from raw bytes.

A labelled corpus is a folder with ``labels.jsonl`` (one JSON object per line: ``file``,
``category``, ``scope_change``, ``identifiers``) and the mails in ``mail/``; a folder holding
the mails next to a ``manifest.json`` (a JSON list of the same objects, as in
``gateway/demo/mail``) works too. Each message goes the way the gateway sends it:
``gateway.parsing.parse_message`` -> ``gateway.classification.to_input`` -> ``classify``.

Printed: per-class precision/recall/F1, macro-F1, scope-change precision/recall/F1, identifier
recall and precision (case-insensitive, set per message), a confusion matrix, the misclassified
files, and throughput in messages/s for parse + prepare + classify on one core (rules loaded
and spaCy warmed up before timing; ``--passes`` timed passes over the corpus, best and median).

``--sisimai DIR`` (the ``sisimai`` corpus folder) also reports the share of its maildir
messages classified ``other``; its SOURCE.md says ``maildir/not/`` holds the only non-bounces,
so exactly those are excluded (and listed with that reason).

Run::

    /tmp/probe/bin/python bench/classify_eval.py ../shared/corpora/labelled-dev \\
        --identifier-pattern 'serial=AF\\d{2}-\\d{6}' --sisimai ../shared/corpora/sisimai
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import _project_path  # noqa: F401  (must come before archive/gateway)

from bench.corpora import require_corpus
from classifiers import CATEGORIES, Classification, RuleSet, classify, load_rules
from gateway.classification import to_input
from gateway.parsing import parse_message


@dataclass(frozen=True)
class Labelled:
    name: str
    raw: bytes
    category: str
    scope_change: bool
    identifiers: tuple[str, ...]


def load_corpus(folder: Path) -> list[Labelled]:
    """Read ``labels.jsonl`` + ``mail/`` or ``manifest.json`` + mails beside it."""
    if (folder / "labels.jsonl").is_file():
        mail_dir = folder / "mail"
        lines = (folder / "labels.jsonl").read_text(encoding="utf-8").splitlines()
        entries = [json.loads(line) for line in lines if line.strip()]
    elif (folder / "manifest.json").is_file():
        mail_dir = folder
        entries = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    else:
        raise SystemExit(f"{folder}: neither labels.jsonl nor manifest.json found")
    return [
        Labelled(
            name=e["file"],
            raw=(mail_dir / e["file"]).read_bytes(),
            category=e["category"],
            scope_change=bool(e["scope_change"]),
            identifiers=tuple(e.get("identifiers") or ()),
        )
        for e in entries
    ]


def run(raw: bytes, rules: RuleSet) -> Classification:
    return classify(to_input(parse_message(raw)), rules)


def _prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def score(corpus: Sequence[Labelled], results: Sequence[Classification]) -> dict[str, float]:
    """Print the quality report; return the headline figures."""
    confusion: Counter[tuple[str, str]] = Counter()
    scope = Counter()
    id_tp = id_fn = id_fp = 0
    errors: list[str] = []
    for item, res in zip(corpus, results, strict=True):
        confusion[(item.category, res.category)] += 1
        scope[(item.scope_change, res.scope_change)] += 1
        gold = {i.lower() for i in item.identifiers}
        got = {i.value.lower() for i in res.identifiers}
        id_tp += len(gold & got)
        id_fn += len(gold - got)
        id_fp += len(got - gold)
        notes = []
        if item.category != res.category:
            notes.append(f"category {item.category} -> {res.category}")
        if item.scope_change != res.scope_change:
            notes.append(f"scope {item.scope_change} -> {res.scope_change}")
        if gold - got:
            notes.append(f"missed ids {sorted(gold - got)}")
        if got - gold:
            notes.append(f"extra ids {sorted(got - gold)}")
        if notes:
            errors.append(f"  {item.name}: " + "; ".join(notes))

    print(f"{'class':<10} {'prec':>6} {'rec':>6} {'F1':>6} {'n':>5}")
    f1s = []
    for cat in CATEGORIES:
        tp = confusion[(cat, cat)]
        fp = sum(v for (g, p), v in confusion.items() if p == cat and g != cat)
        fn = sum(v for (g, p), v in confusion.items() if g == cat and p != cat)
        n = tp + fn
        p, r, f = _prf(tp, fp, fn)
        if n or tp + fp:
            f1s.append(f)
        print(f"{cat:<10} {p:6.3f} {r:6.3f} {f:6.3f} {n:5d}")
    macro = sum(f1s) / len(f1s) if f1s else 0.0
    sp, sr, sf = _prf(scope[(True, True)], scope[(False, True)], scope[(True, False)])
    ip, ir, _ = _prf(id_tp, id_fp, id_fn)
    accuracy = sum(confusion[(c, c)] for c in CATEGORIES) / max(1, len(corpus))
    print(f"macro-F1 {macro:.3f}   accuracy {accuracy:.3f}   ({len(corpus)} messages)")
    print(f"scope change: precision {sp:.3f} recall {sr:.3f} F1 {sf:.3f}")
    print(
        f"identifiers: recall {ir:.3f} ({id_tp}/{id_tp + id_fn})   "
        f"precision {ip:.3f} ({id_tp}/{id_tp + id_fp})"
    )
    print("\nconfusion matrix (rows = label, columns = predicted)")
    print(" " * 10 + "".join(f"{c[:8]:>9}" for c in CATEGORIES))
    for g in CATEGORIES:
        print(f"{g:<10}" + "".join(f"{confusion[(g, p)]:>9d}" for p in CATEGORIES))
    if errors:
        print(f"\ndifferences ({len(errors)} messages)")
        print("\n".join(errors))
    return {"macro_f1": macro, "scope_f1": sf, "id_recall": ir, "id_precision": ip}


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
    rules = load_rules(extra_identifier_patterns=extra)
    print(f"rules version {rules.version}, {rules.rule_count} rules")
    if args.corpus is not None:
        corpus = load_corpus(args.corpus)
        score(corpus, [run(item.raw, rules) for item in corpus])
        if not args.no_timing:
            throughput([item.raw for item in corpus], rules, args.passes)
    if args.sisimai is not None:
        print()
        sisimai_report(args.sisimai, rules)
    return 0


if __name__ == "__main__":
    sys.exit(main())
