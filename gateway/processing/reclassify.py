"""``commgate reclassify``: run the current rules over the archive and record what changed.

Classification is derived data (ARCHITECTURE contract 3): after a rules upgrade every message
can be classified again from its archived bytes. A message whose category or scope flag changes
is updated together with a case event naming both rules versions, so an auditor sees why a
case's category differs from what staff saw at the time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from classifiers import Classification
from classifiers.context import EMPTY, in_context
from gateway.core.clock import utcnow
from gateway.db.models import Case, CaseEvent, Message
from gateway.processing.case_context import load_contexts
from gateway.processing.classification import CLASSIFIED_EVENT, classify_parsed, with_queue_prior
from gateway.processing.context import WorkerContext
from gateway.processing.parsing import parse_message
from gateway.processing.pipeline import SYSTEM

BATCH = 200


@dataclass
class ReclassifySummary:
    examined: int = 0
    unchanged: int = 0
    changed: list[dict[str, Any]] = field(default_factory=list)
    unreadable: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"examined": self.examined, "unchanged": self.unchanged,
                "changed": self.changed, "unreadable": self.unreadable}


def _message_ids(app: WorkerContext) -> Iterator[list[int]]:
    last = 0
    while True:
        with app.db.session() as session:
            # Purged messages (retention) have no bytes left to classify.
            ids = list(session.scalars(select(Message.id)
                                       .where(Message.id > last, Message.purged_at.is_(None))
                                       .order_by(Message.id).limit(BATCH)))
        if not ids:
            return
        yield ids
        last = ids[-1]


def reclassify(app: WorkerContext, dry_run: bool = False) -> ReclassifySummary:
    summary = ReclassifySummary()
    rules = app.processor.rules
    for ids in _message_ids(app):
        with app.db.session() as session:
            messages = session.scalars(select(Message).where(Message.id.in_(ids))
                                       .order_by(Message.id)).all()
            touched: set[int] = set()
            for message in messages:
                summary.examined += 1
                try:
                    raw = app.archive.read(message.sha256)
                except Exception as exc:  # expired or missing blob: report, keep going
                    summary.unreadable.append({"sha256": message.sha256, "reason": str(exc)})
                    continue
                result = _in_context(session, app, message, with_queue_prior(
                    classify_parsed(parse_message(raw), rules),
                    app.settings.prior_for(message.alias)))
                if (result.category, result.scope_change) == (message.category,
                                                              message.scope_change):
                    summary.unchanged += 1
                    continue
                change = {"sha256": message.sha256, "case_id": message.case_id,
                          "from": {"category": message.category,
                                   "scope_change": message.scope_change,
                                   "rules_version": message.rules_version},
                          "to": {"category": result.category,
                                 "scope_change": result.scope_change,
                                 "rules_version": result.rules_version}}
                summary.changed.append(change)
                if dry_run:
                    continue
                message.category, message.scope_change = result.category, result.scope_change
                message.confidence, message.language = result.confidence, result.language
                message.rules_version = result.rules_version
                message.identifiers = [{"kind": i.kind, "value": i.value}
                                       for i in result.identifiers]
                message.evidence = [{"rule_id": e.rule_id, "text": e.text[:200],
                                     "field": e.field} for e in result.evidence][:50]
                session.add(CaseEvent(case_id=message.case_id, actor=SYSTEM,
                                      kind="message_reclassified", message_pk=message.id,
                                      data={k: v for k, v in change.items() if k != "case_id"}))
                touched.add(message.case_id)
            if not dry_run:
                session.flush()
                _refresh_cases(session, touched)
    return summary


def _in_context(session: Any, app: WorkerContext, message: Message, result: Classification
                ) -> Classification:
    """The result as the pipeline files it: read in the context of the case (the messages
    filed before this one, and the case's records), so a rules run does not undo it."""
    if message.direction == "outbound" or result.category not in ("order", "enquiry"):
        return result
    contexts = load_contexts(session, [message.case_id],
                             app.settings.config.classifier.triage_below,
                             before_message=message.id)
    return in_context(result, contexts.get(message.case_id, EMPTY))


def _refresh_cases(session: Any, case_ids: set[int]) -> None:
    """A case takes its category from its first message and is flagged if any message is,
    unless a person classified it ('commgate cases classify'): their word stands."""
    confirmed = set(session.scalars(select(CaseEvent.case_id).where(
        CaseEvent.case_id.in_(case_ids), CaseEvent.kind == CLASSIFIED_EVENT)))
    for case in session.scalars(select(Case).where(Case.id.in_(case_ids - confirmed))):
        messages = session.scalars(select(Message).where(Message.case_id == case.id)
                                   .order_by(Message.id)).all()
        category = next((m.category for m in messages if m.category != "other"),
                        messages[0].category)
        scope = any(m.scope_change for m in messages)
        if (category, scope) != (case.category, case.scope_change):
            session.add(CaseEvent(case_id=case.id, actor=SYSTEM, kind="case_reclassified",
                                  data={"from": {"category": case.category,
                                                 "scope_change": case.scope_change},
                                        "to": {"category": category, "scope_change": scope}}))
            case.category, case.scope_change, case.updated_at = category, scope, utcnow()
