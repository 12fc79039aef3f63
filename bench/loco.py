"""Leave-one-corpus-out: each labelled corpus scored with the rules as they stood before that
corpus was read, next to the current rules.

The rules written while looking at a corpus fit it better than they fit mail nobody has seen;
the "before" figure is the honest estimate for an unseen company. For each corpus the
revision is found in this repository's history: the first commit whose diff mentions the
corpus's folder name (``git log -S NAME``, oldest first) is when it was first read; the last
commit touching ``classifiers/rules`` before that one is the "before" rule set. When that is
the earliest rules commit anyway (``labelled-dev``, in use from the project's first day), no
rule set predates the corpus: the earliest rules are the closest there is, and the note says
so.
``--rev NAME=REV`` overrides the revision for a corpus.

That revision's ``classifiers/rules`` is extracted with ``git archive REV classifiers/rules``
into a temporary folder and loaded by the current code, as ``bench/classify_eval.py --rules``
would.

Run::

    python bench/loco.py /work/shared/corpora/labelled-norland /work/shared/corpora/labelled-dev
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import _project_path  # noqa: F401  (must come before archive/gateway)

from bench.corpora import require_corpus
from classifiers import RuleSet, load_rules
from classifiers.evaluation import Report, evaluate
from gateway.workflows.rule_eval import classify_raw, load_corpus

ROOT = Path(__file__).resolve().parents[1]
RULES = "classifiers/rules"


@dataclass(frozen=True)
class Revision:
    commit: str
    date: str
    subject: str
    note: str  # how it was chosen


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


def _describe(commit: str, note: str) -> Revision:
    line = git("log", "-1", "--format=%h%x09%ad%x09%s", "--date=short", commit)
    short, date, subject = line.split("\t", 2)
    return Revision(short, date, subject, note)


def rules_before(corpus_name: str) -> Revision:
    """The last rules commit before the corpus was first mentioned (see the module doc)."""
    mentions = git("log", "--reverse", "--format=%H", "-S", corpus_name).split()
    earliest = git("log", "--reverse", "--format=%H", "--", RULES).split()[0]
    before = git("log", "-1", "--format=%H", f"{mentions[0]}^", "--", RULES) if mentions else ""
    if before and before != earliest:
        return _describe(before, f"last rules commit before {mentions[0][:7]}, the first "
                                 f"that mentions {corpus_name}")
    return _describe(earliest, f"the earliest rules commit, the closest there is: "
                               f"{corpus_name} was in use from the start (first named in "
                               f"{mentions[0][:7] if mentions else 'no commit'}), so even "
                               f"these rules may have been written looking at it")


def rules_at(commit: str, into: Path) -> RuleSet:
    """The rules folder as it stood at ``commit``, loaded by the current code."""
    data = subprocess.run(["git", "-C", str(ROOT), "archive", commit, RULES], check=True,
                          capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(into, filter="data")
    return load_rules(into / RULES)


def score(folder: Path, rules: RuleSet) -> Report:
    corpus = load_corpus(folder)
    return evaluate((item.expected, classify_raw(item.raw, rules)) for item in corpus)


def _row(name: str, rules: str, report: Report) -> str:
    ids = "n/a" if report.id_recall is None else f"{report.id_recall:.3f}"
    return (f"| {name} | {rules} | {report.macro_f1:.3f} | {report.accuracy:.3f} | "
            f"{report.scope_f1:.3f} | {ids} | {report.coverage:.3f} |")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("corpora", type=Path, nargs="+", help="labelled corpus folders")
    ap.add_argument("--rev", action="append", default=[], metavar="NAME=REV",
                    help="use this revision's rules as 'before' for corpus NAME")
    args = ap.parse_args(argv)
    overrides = dict(spec.partition("=")[::2] for spec in args.rev)
    current = load_rules()
    lines = ["| corpus | rules | macro-F1 | accuracy | scope F1 | id recall | coverage |",
             "|---|---|---|---|---|---|---|"]
    notes = []
    for folder in args.corpora:
        require_corpus(folder)
        name = folder.resolve().name
        rev = (_describe(overrides[name], "given with --rev") if name in overrides
               else rules_before(name))
        with tempfile.TemporaryDirectory() as tmp:
            before = rules_at(rev.commit, Path(tmp))
            lines.append(_row(name, f"before: {rev.commit} ({rev.date})", score(folder, before)))
        lines.append(_row(name, f"current ({current.version})", score(folder, current)))
        notes.append(f"- {name}: {rev.commit} {rev.date} \"{rev.subject}\": {rev.note}")
    print("\n".join([*lines, "", *notes]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
