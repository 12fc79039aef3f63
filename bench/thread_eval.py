"""How well do commgate's cases match hand-labelled conversations?

Ingests a labelled corpus (``labels.jsonl`` with ``file`` and ``thread`` per message, the
messages in ``mail/``) into a fresh home on SQLite through the real pipeline, then compares the
cases with the labelled threads pairwise, over all pairs of messages:

* precision = pairs sharing a case that share a labelled thread / pairs sharing a case
* recall    = pairs sharing a labelled thread that share a case / pairs sharing a thread
* F1 (target >= 0.95), and the number of pairs of *unrelated* messages that share a case
  (target 0: one wrong join puts a stranger's mail into a customer's case).

Messages without a ``thread`` label are their own thread. The wrong and missed pairs are
listed with the rule that threaded the later message, so a miss can be traced to its rule.

Run: ``.venv/bin/python bench/thread_eval.py [--corpus DIR] [--alias ADDR ...]``
(default corpus: labelled-dev in $COMMGATE_CORPORA or ../shared/corpora). Exit status 1 when a
target is missed, 2 when the corpus is not there.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import logging
import os
import re
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

TARGET_F1 = 0.95
TARGET_UNRELATED = 0
# A prefix no corpus uses for its own tags, so a foreign "[ACME-12]" never names one of ours.
CASE_PREFIX = "EVALX"
T = TypeVar("T")
_ADDRESS = re.compile(rb"^(?:to|cc):(.*(?:\r?\n[ \t].*)*)", re.IGNORECASE | re.MULTILINE)
_ADDR = re.compile(rb"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


@dataclass(frozen=True)
class ThreadScores:
    messages: int
    labelled_pairs: int
    case_pairs: int
    true_pairs: int
    precision: float
    recall: float
    f1: float
    unrelated_pairs: list[tuple[str, str]] = field(default_factory=list)
    missed_pairs: list[tuple[str, str]] = field(default_factory=list)
    rules: dict[str, str] = field(default_factory=dict)  # file -> thread rule

    @property
    def meets_targets(self) -> bool:
        return self.f1 >= TARGET_F1 and len(self.unrelated_pairs) <= TARGET_UNRELATED

    def render(self) -> str:
        lines = [
            f"messages {self.messages}; pairs sharing a labelled thread {self.labelled_pairs}, "
            f"sharing a case {self.case_pairs}, both {self.true_pairs}",
            f"pairwise precision {self.precision:.4f}  recall {self.recall:.4f}  "
            f"F1 {self.f1:.4f}  (target >= {TARGET_F1})",
            f"pairs of unrelated messages sharing a case: {len(self.unrelated_pairs)} "
            f"(target {TARGET_UNRELATED})",
            "rules: " + ", ".join(f"{rule} {n}" for rule, n in
                                  Counter(self.rules.values()).most_common()),
        ]
        for a, b in self.unrelated_pairs[:50]:
            lines.append(f"  WRONG  {a} ({self.rules.get(a)}) + {b} ({self.rules.get(b)})")
        for a, b in self.missed_pairs[:50]:
            lines.append(f"  MISSED {a} ({self.rules.get(a)}) + {b} ({self.rules.get(b)})")
        return "\n".join(lines)


def read_labels(corpus: Path) -> list[tuple[Path, dict[str, Any]]]:
    """(message file, its labels.jsonl entry) in file order; the mails are in ``mail/`` or
    beside labels.jsonl."""
    mail = corpus / "mail" if (corpus / "mail").is_dir() else corpus
    with (corpus / "labels.jsonl").open(encoding="utf-8") as handle:
        items = [json.loads(line) for line in handle if line.strip()]
    return [(mail / item["file"], item) for item in items]


def load_labels(corpus: Path) -> list[tuple[Path, str]]:
    """(message file, thread label) in file order."""
    return [(path, item.get("thread") or f"file:{item['file']}")
            for path, item in read_labels(corpus)]


def guess_aliases(paths: Sequence[Path], minimum: int = 3) -> list[str]:
    """Addresses in To/Cc of at least ``minimum`` messages: the corpus's shared mailboxes."""
    seen: Counter[str] = Counter()
    for path in paths:
        head = path.read_bytes().split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
        found = {a.decode("ascii", "replace").lower() for m in _ADDRESS.finditer(head)
                 for a in _ADDR.findall(m.group(1))}
        seen.update(found)
    aliases = [addr for addr, n in seen.most_common(20) if n >= minimum]
    return aliases or ["inbox@thread-eval.example"]


def pairs(groups: dict[str, str]) -> set[tuple[str, str]]:
    """All unordered pairs of keys that share a group value."""
    members: dict[str, list[str]] = {}
    for key, group in groups.items():
        members.setdefault(group, []).append(key)
    return {(min(a, b), max(a, b)) for keys in members.values()
            for a, b in itertools.combinations(keys, 2)}


def ingested(paths: Sequence[Path], aliases: Sequence[str], read: Callable[[Any], T]) -> T:
    """Ingest ``paths`` into a throw-away home on a fresh SQLite database and return what
    ``read(app)`` takes from it: what a new installation does with the corpus."""
    from gateway.bootstrap import App
    from gateway.config import DATABASE_URL_ENV
    from gateway.installation import init_home
    from gateway.processing.ingest import ingest

    saved_url = os.environ.pop(DATABASE_URL_ENV, None)  # always a fresh SQLite database
    try:
        with tempfile.TemporaryDirectory(prefix="commgate-eval-") as tmp:
            home = init_home(str(Path(tmp) / "home"), CASE_PREFIX,
                             list(aliases) or guess_aliases(paths))
            app = App.open(home)
            try:
                ingest(app, list(paths))
                return read(app)
            finally:
                app.close()
    finally:
        if saved_url is not None:
            os.environ[DATABASE_URL_ENV] = saved_url


def evaluate(corpus: Path, aliases: Sequence[str] = ()) -> ThreadScores:
    """Ingest ``corpus`` into a throw-away home and score its cases against the labels."""
    labelled = load_labels(corpus)
    paths = [path for path, _ in labelled]
    placed = ingested(paths, aliases, _placement)
    case_of: dict[str, str] = {}
    rules: dict[str, str] = {}
    for path in paths:
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        case_of[path.name], rules[path.name] = placed.get(sha, (f"unfiled:{path.name}", "none"))
    gold = pairs({path.name: thread for path, thread in labelled})
    found = pairs(case_of)
    true = gold & found
    precision = len(true) / len(found) if found else 1.0
    recall = len(true) / len(gold) if gold else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return ThreadScores(len(paths), len(gold), len(found), len(true), precision, recall, f1,
                        sorted(found - gold), sorted(gold - found), rules)


def _placement(app: object) -> dict[str, tuple[str, str]]:
    """sha256 -> (case reference, thread rule) of every filed message."""
    from sqlalchemy import select

    from gateway.db.models import Case, Message

    with app.db.session() as session:  # type: ignore[attr-defined]  # an App (loaded lazily)
        return {sha: (ref, rule) for sha, ref, rule in session.execute(
            select(Message.sha256, Case.ref, Message.thread_rule)
            .join(Case, Case.id == Message.case_id))}


def corpus_arguments(description: str, argv: Sequence[str] | None) -> argparse.Namespace:
    """``--corpus`` (default labelled-dev, which must exist) and ``--alias``, shared by the
    benchmarks that ingest a labelled corpus into a throw-away home."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--corpus", type=Path,
                        help="folder with labels.jsonl and mail/ (default: labelled-dev)")
    parser.add_argument("--alias", action="append", default=[], metavar="ADDR",
                        help="the corpus's shared mailboxes (default: guessed from To/Cc)")
    args = parser.parse_args(argv)
    from bench.corpora import corpora_root, require_corpus  # after _project_path, as a script

    args.corpus = require_corpus(args.corpus or corpora_root() / "labelled-dev")
    logging.basicConfig(level=logging.ERROR)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = corpus_arguments(__doc__.split("\n\n")[0], argv)
    scores = evaluate(args.corpus, args.alias)
    print(f"corpus {args.corpus}")
    print(scores.render())
    return 0 if scores.meets_targets else 1


if __name__ == "__main__":
    import _project_path  # noqa: F401  (bench/archive.py must not shadow archive)

    sys.exit(main())
