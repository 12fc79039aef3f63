"""What does the case context (classifiers/context.py) change on a labelled corpus?

Ingests a labelled corpus (``labels.jsonl`` with ``file``, ``category``, ``scope_change`` per
message, the messages in ``mail/``) into a fresh home on SQLite through the real pipeline, so
replies are threaded into the cases of the messages before them, then scores what was filed
against the labels twice: as the classifier alone said (the ``context.from`` that the
``message_classified`` event keeps for a moved message) and as filed, after the case context.
Prints category accuracy and scope-change precision/recall/F1 for both, and every message the
context moved with its gold label.

Run: ``.venv/bin/python bench/context_eval.py [--corpus DIR] [--alias ADDR ...]``
(default corpus: labelled-dev in $COMMGATE_CORPORA or ../shared/corpora).
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _project_path

from bench.thread_eval import corpus_arguments, ingested, read_labels


@dataclass(frozen=True)
class Filed:
    file: str
    gold: tuple[str, bool]
    alone: tuple[str, bool]  # the classifier's decision before the case context
    filed: tuple[str, bool]
    rules: tuple[str, ...]  # the context rules that moved it


def load_gold(corpus: Path) -> list[tuple[Path, tuple[str, bool]]]:
    return [(path, (item["category"], bool(item["scope_change"])))
            for path, item in read_labels(corpus)]


def evaluate(corpus: Path, aliases: Sequence[str] = ()) -> list[Filed]:
    gold = load_gold(corpus)
    decided = ingested([path for path, _ in gold], aliases, _decisions)
    result = []
    for path, label in gold:
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        if sha in decided:
            filed, before, rules = decided[sha]
            result.append(Filed(path.name, label, before, filed, rules))
    return result


def _decisions(app: Any) -> dict[str, tuple[tuple[str, bool], tuple[str, bool],
                                            tuple[str, ...]]]:
    """sha256 -> (as filed, as the classifier alone said, context rules)."""
    from sqlalchemy import select

    from gateway.db.models import CaseEvent, Message

    with app.db.session() as session:
        notes = {pk: data.get("context") for pk, data in session.execute(
            select(CaseEvent.message_pk, CaseEvent.data).where(
                CaseEvent.kind == "message_classified"))}
        found = {}
        for pk, sha, category, scope in session.execute(
                select(Message.id, Message.sha256, Message.category, Message.scope_change)):
            note = notes.get(pk)
            before = ((note["from"]["category"], note["from"]["scope_change"]) if note
                      else (category, scope))
            found[sha] = ((category, scope), before, tuple(note["rules"]) if note else ())
        return found


def scores(rows: Sequence[Filed], which: str) -> str:
    pairs = [(r.gold, getattr(r, which)) for r in rows]
    accuracy = sum(g[0] == p[0] for g, p in pairs) / len(pairs) if pairs else 0.0
    tp = sum(g[1] and p[1] for g, p in pairs)
    fp = sum(p[1] and not g[1] for g, p in pairs)
    fn = sum(g[1] and not p[1] for g, p in pairs)
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return (f"category accuracy {accuracy:.4f}  scope-change P {precision:.4f} R {recall:.4f} "
            f"F1 {f1:.4f} (tp {tp}, fp {fp}, fn {fn})")


def main(argv: Sequence[str] | None = None) -> int:
    args = corpus_arguments(__doc__.split("\n\n")[0], argv)
    rows = evaluate(args.corpus, args.alias)
    print(f"corpus {args.corpus}: {len(rows)} messages filed")
    print(f"classifier alone:  {scores(rows, 'alone')}")
    print(f"with case context: {scores(rows, 'filed')}")
    moved = [r for r in rows if r.rules]
    print(f"moved by the case context: {len(moved)}")
    for r in moved:
        mark = "ok " if r.filed == r.gold else ("was" if r.alone == r.gold else "   ")
        print(f"  {mark} {r.file}: {r.alone} -> {r.filed} by {', '.join(r.rules)}; "
              f"gold {r.gold}")
    return 0


if __name__ == "__main__":
    import _project_path  # noqa: F401  (bench/archive.py must not shadow archive)

    sys.exit(main())
