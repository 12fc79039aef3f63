"""Score classifications against expected labels: the figures a rule change is judged by.

Pure arithmetic over (expected, :class:`Classification`) pairs, so the benchmark script, the
leave-one-corpus-out report and ``commgate rules evaluate`` (labels from staff corrections)
all count the same way:

- per class precision / recall / F1 and their macro average over the classes that occur
  (in the labels or the predictions: a class never seen on either side says nothing);
- scope change precision / recall / F1 (the positive class is "changes scope");
- identifier recall and precision over the sets per message, comparing values
  case-insensitively and ignoring spaces, ``#`` and hyphens (the labelled corpora's rule:
  "PO# 4500-1234" and "po 45001234" are one number); messages whose labels say nothing about
  identifiers (``identifiers=None``: a person's triage decision) are left out of it;
- coverage: the share of messages a rule or a header verdict decided (``decided_by`` "rule" or
  "header"), not a weak rule or the fallback, overall and for business mail (label not
  "other"): what a person need not look at;
- accuracy per language (the label's language when given, else the detected one);
- the confusion matrix (label x prediction).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from classifiers.types import CATEGORIES, Classification

DECIDED = frozenset({"rule", "header"})
# spaces, "#" and every dash (U+2010..U+2015 included: word processors replace hyphens)
_ID_NOISE = re.compile("[\\s#\\-\u2010-\u2015]+")


@dataclass(frozen=True)
class Expected:
    """The labelled truth for one message. ``identifiers`` None: not labelled."""

    category: str
    scope_change: bool
    identifiers: tuple[str, ...] | None = None
    language: str | None = None


@dataclass(frozen=True)
class ClassScore:
    category: str
    precision: float
    recall: float
    f1: float
    support: int  # messages labelled with this class
    predicted: int  # messages predicted as this class


@dataclass(frozen=True)
class LanguageScore:
    language: str
    n: int
    correct: int

    @property
    def accuracy(self) -> float:
        return self.correct / self.n if self.n else 0.0


@dataclass(frozen=True)
class Report:
    """Every figure of one evaluation; ``to_dict`` is the JSON form the CLI prints."""

    n: int
    classes: tuple[ClassScore, ...]
    macro_f1: float
    accuracy: float
    scope_precision: float
    scope_recall: float
    scope_f1: float
    id_tp: int
    id_fp: int
    id_fn: int
    decided: int
    business: int
    business_decided: int
    languages: tuple[LanguageScore, ...]
    confusion: tuple[tuple[str, str, int], ...]  # (label, predicted, count), non-zero only

    @property
    def id_recall(self) -> float | None:
        total = self.id_tp + self.id_fn
        return self.id_tp / total if total else None

    @property
    def id_precision(self) -> float | None:
        total = self.id_tp + self.id_fp
        return self.id_tp / total if total else None

    @property
    def coverage(self) -> float:
        return self.decided / self.n if self.n else 0.0

    @property
    def business_coverage(self) -> float:
        return self.business_decided / self.business if self.business else 0.0

    def confusion_count(self, label: str, predicted: str) -> int:
        return next((c for g, p, c in self.confusion if (g, p) == (label, predicted)), 0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "classes": {c.category: {"precision": c.precision, "recall": c.recall, "f1": c.f1,
                                     "support": c.support, "predicted": c.predicted}
                        for c in self.classes},
            "macro_f1": self.macro_f1, "accuracy": self.accuracy,
            "scope": {"precision": self.scope_precision, "recall": self.scope_recall,
                      "f1": self.scope_f1},
            "identifiers": {"recall": self.id_recall, "precision": self.id_precision,
                            "found": self.id_tp, "missed": self.id_fn, "extra": self.id_fp},
            "coverage": self.coverage, "business_coverage": self.business_coverage,
            "languages": {s.language: {"n": s.n, "accuracy": s.accuracy}
                          for s in self.languages},
            "confusion": [{"label": g, "predicted": p, "count": c}
                          for g, p, c in self.confusion],
        }


def normalise_identifier(value: str) -> str:
    """The form identifiers are compared in: lower case without spaces, '#' and hyphens."""
    return _ID_NOISE.sub("", value).casefold()


def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    """Precision, recall and F1 from counts; 0.0 where a denominator is empty."""
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def identifier_sets(expected: Expected, result: Classification) -> tuple[set[str], set[str]]:
    """(labelled, found) identifier values, normalised; both empty when not labelled."""
    if expected.identifiers is None:
        return set(), set()
    gold = {normalise_identifier(i) for i in expected.identifiers}
    got = {normalise_identifier(i.value) for i in result.identifiers}
    return gold - {""}, got - {""}


def evaluate(pairs: Iterable[tuple[Expected, Classification]]) -> Report:
    """All figures for the given (expected, result) pairs."""
    confusion: Counter[tuple[str, str]] = Counter()
    scope: Counter[tuple[bool, bool]] = Counter()
    languages: Counter[tuple[str, bool]] = Counter()
    id_tp = id_fp = id_fn = decided = business = business_decided = n = 0
    for expected, result in pairs:
        n += 1
        confusion[(expected.category, result.category)] += 1
        scope[(expected.scope_change, result.scope_change)] += 1
        languages[(expected.language or result.language,
                   expected.category == result.category)] += 1
        gold, got = identifier_sets(expected, result)
        id_tp += len(gold & got)
        id_fn += len(gold - got)
        id_fp += len(got - gold)
        is_decided = result.decided_by in DECIDED
        decided += is_decided
        if expected.category != "other":
            business += 1
            business_decided += is_decided
    classes = tuple(_class_score(cat, confusion) for cat in _categories(confusion))
    seen = [c.f1 for c in classes if c.support or c.predicted]
    sp, sr, sf = prf(scope[(True, True)], scope[(False, True)], scope[(True, False)])
    correct = sum(v for (g, p), v in confusion.items() if g == p)
    langs = sorted({lang for lang, _ in languages})
    return Report(
        n=n, classes=classes, macro_f1=sum(seen) / len(seen) if seen else 0.0,
        accuracy=correct / n if n else 0.0,
        scope_precision=sp, scope_recall=sr, scope_f1=sf,
        id_tp=id_tp, id_fp=id_fp, id_fn=id_fn, decided=decided, business=business,
        business_decided=business_decided,
        languages=tuple(LanguageScore(lang, languages[(lang, True)] + languages[(lang, False)],
                                      languages[(lang, True)]) for lang in langs),
        confusion=tuple((g, p, c) for (g, p), c in sorted(confusion.items())),
    )


def _categories(confusion: Counter[tuple[str, str]]) -> list[str]:
    """The known categories in priority order, then any unknown label (a typo shows)."""
    extra = sorted({c for pair in confusion for c in pair} - set(CATEGORIES))
    return [*CATEGORIES, *extra]


def _class_score(cat: str, confusion: Counter[tuple[str, str]]) -> ClassScore:
    tp = confusion[(cat, cat)]
    fp = sum(v for (g, p), v in confusion.items() if p == cat and g != cat)
    fn = sum(v for (g, p), v in confusion.items() if g == cat and p != cat)
    p, r, f = prf(tp, fp, fn)
    return ClassScore(cat, p, r, f, tp + fn, tp + fp)


def differences(expected: Expected, result: Classification) -> list[str]:
    """What one result gets wrong, in words (empty: all right)."""
    notes = []
    if expected.category != result.category:
        notes.append(f"category {expected.category} -> {result.category}")
    if expected.scope_change != result.scope_change:
        notes.append(f"scope {expected.scope_change} -> {result.scope_change}")
    gold, got = identifier_sets(expected, result)
    if gold - got:
        notes.append(f"missed ids {sorted(gold - got)}")
    if got - gold:
        notes.append(f"extra ids {sorted(got - gold)}")
    return notes


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def report_lines(report: Report, *, confusion: bool = True) -> list[str]:
    """The report as text: per class, macro-F1, scope, ids, coverage, languages, confusion."""
    lines = [f"{'class':<10} {'prec':>6} {'rec':>6} {'F1':>6} {'n':>5}"]
    lines += [f"{c.category:<10} {c.precision:6.3f} {c.recall:6.3f} {c.f1:6.3f} {c.support:5d}"
              for c in report.classes if c.category in CATEGORIES or c.support or c.predicted]
    lines.append(f"macro-F1 {report.macro_f1:.3f}   accuracy {report.accuracy:.3f}   "
                 f"({report.n} messages)")
    lines.append(f"scope change: precision {report.scope_precision:.3f} recall "
                 f"{report.scope_recall:.3f} F1 {report.scope_f1:.3f}")
    lines.append(f"identifiers: recall {_fmt(report.id_recall)} ({report.id_tp}/"
                 f"{report.id_tp + report.id_fn})   precision {_fmt(report.id_precision)} "
                 f"({report.id_tp}/{report.id_tp + report.id_fp})")
    lines.append(f"COVERAGE (decided by a rule or header): {report.coverage:.3f} "
                 f"({report.decided}/{report.n}); business mail {report.business_coverage:.3f} "
                 f"({report.business_decided}/{report.business})")
    lines.append("PER-LANGUAGE accuracy: " + "   ".join(
        f"{s.language} {s.accuracy:.3f} (n={s.n})" for s in report.languages))
    if confusion:
        cats = [c.category for c in report.classes]
        lines.append("CONFUSION matrix (rows = label, columns = predicted)")
        lines.append(" " * 10 + "".join(f"{c[:8]:>9}" for c in cats))
        lines += [f"{g:<10}" + "".join(f"{report.confusion_count(g, p):>9d}" for p in cats)
                  for g in cats]
    return lines
