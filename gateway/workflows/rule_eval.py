"""Labelled messages for a rule evaluation, and the comparison of two rule sets on them.

Two sources of labels:

- a **labelled corpus** folder: ``labels.jsonl`` (one JSON object per line: ``file``,
  ``category``, ``scope_change``, ``identifiers``, optionally ``language``) with the mails in
  ``mail/``, or the mails beside a ``manifest.json`` holding a JSON list of the same objects
  (as ``gateway/cli/demo/mail``);
- the installation's **staff decisions**: every message a ``case_classified`` event lists
  (``commgate cases classify``, gateway/workflows/triage.py) is labelled with what the person said
  in
  the latest such event of that case (a later correction overrules an earlier one). Staff
  label no identifiers, so these messages count for everything but identifier recall. Their
  raw bytes come from the archive, and reading them is recorded in the access log first
  (ARCHITECTURE contract 4), one record naming every blob read.

Messages go the way the gateway sends them: ``parse_message`` -> ``to_input`` -> ``classify``.
The queue prior of an alias is not applied: this measures the rules alone.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from classifiers import Classification, RuleSet, classify
from classifiers.evaluation import Expected, Report, evaluate
from gateway.core.errors import LabelledCorpusError
from gateway.processing.classification import CLASSIFIED_EVENT, to_input
from gateway.processing.parsing import parse_message

if TYPE_CHECKING:
    from gateway.core.context import Context

EVALUATE_REASON = "commgate rules: replaying staff-classified messages through the rules"


@dataclass(frozen=True)
class Labelled:
    """One message with its label; ``source`` names it for a person (file or message/case)."""

    source: str
    raw: bytes
    expected: Expected
    # What the rules said when the person decided (staff labels only): a correction differs.
    said: tuple[str, bool] | None = None

    @property
    def corrected(self) -> bool:
        return self.said is not None and self.said != (self.expected.category,
                                                       self.expected.scope_change)


@dataclass(frozen=True)
class Change:
    """A message whose decision differs between the rules in force and the candidate."""

    source: str
    expected: tuple[str, bool]
    in_force: tuple[str, bool]
    candidate: tuple[str, bool]

    def to_dict(self) -> dict[str, Any]:
        def side(d: tuple[str, bool]) -> dict[str, Any]:
            return {"category": d[0], "scope_change": d[1]}
        return {"source": self.source, "expected": side(self.expected),
                "in_force": side(self.in_force), "candidate": side(self.candidate)}


@dataclass(frozen=True)
class Comparison:
    in_force: Report
    candidate: Report
    changes: tuple[Change, ...]


def classify_raw(raw: bytes, rules: RuleSet) -> Classification:
    """Classify raw message bytes exactly as the processing worker does (no queue prior)."""
    return classify(to_input(parse_message(raw)), rules)


def load_corpus(folder: Path) -> list[Labelled]:
    """Read ``labels.jsonl`` + ``mail/`` or ``manifest.json`` + the mails beside it."""
    if (folder / "labels.jsonl").is_file():
        mail_dir = folder / "mail"
        lines = (folder / "labels.jsonl").read_text(encoding="utf-8").splitlines()
        entries = [json.loads(line) for line in lines if line.strip()]
    elif (folder / "manifest.json").is_file():
        mail_dir = folder
        entries = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    else:
        raise LabelledCorpusError(f"{folder}: neither labels.jsonl nor manifest.json found")
    try:
        return [_corpus_entry(folder, mail_dir, e) for e in entries]
    except (KeyError, OSError) as exc:
        raise LabelledCorpusError(f"{folder}: cannot read a labelled message: {exc}") from exc


def _corpus_entry(folder: Path, mail_dir: Path, entry: dict[str, Any]) -> Labelled:
    expected = Expected(category=entry["category"], scope_change=bool(entry["scope_change"]),
                        identifiers=tuple(entry.get("identifiers") or ()),
                        language=entry.get("language") or None)
    return Labelled(f"{folder.name}/{entry['file']}", (mail_dir / entry["file"]).read_bytes(),
                    expected)


def staff_labelled(app: Context, actor: str, *, corrected_only: bool = False) -> list[Labelled]:
    """Every message a person confirmed or corrected (``corrected_only``: corrected), with
    their latest word on its case.

    Purged messages (retention) have no bytes left and are left out. The access record is
    written before any blob is read, and names only the blobs read.
    """
    from gateway.db.models import Case, CaseEvent, Message

    with app.db.session() as session:
        latest: dict[int, dict[str, Any]] = {}
        listed: dict[int, tuple[int, tuple[str, bool]]] = {}
        for event in session.scalars(select(CaseEvent).where(CaseEvent.kind == CLASSIFIED_EVENT)
                                     .order_by(CaseEvent.id)):
            latest[event.case_id] = event.data["to"]
            for m in event.data.get("messages", []):
                listed[m["pk"]] = (event.case_id, (m["category"], bool(m["scope_change"])))
        if not listed:
            return []
        rows = session.execute(select(Message.id, Message.sha256, Case.ref)
                               .join(Case, Case.id == Message.case_id)
                               .where(Message.id.in_(listed), Message.purged_at.is_(None))
                               .order_by(Message.id)).all()
    wanted = []
    for row in rows:
        case_id, said = listed[row.id]
        label = latest[case_id]
        expected = Expected(label["category"], bool(label["scope_change"]))
        if not corrected_only or said != (expected.category, expected.scope_change):
            wanted.append((row, expected, said))
    if wanted:
        record_reads(app, actor, sorted({row.sha256 for row, _, _ in wanted}))
    return [Labelled(f"message {row.id} ({row.ref}, {row.sha256[:12]})",
                     app.archive.read(row.sha256), expected, said)
            for row, expected, said in wanted]


def record_reads(app: Context, actor: str, sha256s: Sequence[str]) -> None:
    """One access-log record naming every archived message about to be read."""
    from gateway.workflows.access_log import record_access

    record_access(app, actor, "view-raw", {"sha256s": list(sha256s), "reason": EVALUATE_REASON})


def compare(messages: Sequence[Labelled], in_force: RuleSet, candidate: RuleSet) -> Comparison:
    """Score both rule sets on the same messages; list every message whose decision differs."""
    pairs_now, pairs_new, changes = [], [], []
    for item in messages:
        now = classify_raw(item.raw, in_force)
        new = now if candidate is in_force else classify_raw(item.raw, candidate)
        pairs_now.append((item.expected, now))
        pairs_new.append((item.expected, new))
        before, after = (now.category, now.scope_change), (new.category, new.scope_change)
        if before != after:
            changes.append(Change(item.source, (item.expected.category,
                                                item.expected.scope_change), before, after))
    return Comparison(evaluate(pairs_now), evaluate(pairs_new), tuple(changes))
