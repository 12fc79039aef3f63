"""The one way two cases become one: every message of the source moves into the target and both
get a case event naming exactly which messages moved, so the merge can be undone from the record.

Below the workflows because the worker needs it too: a parent that arrives after its replies
pulls their orphan case into its own (threading rule ``referenced-by``, :func:`system_merge`);
staff merges, splits and their undos (:mod:`gateway.workflows.merging`) use the same steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from gateway.core.clock import utcnow
from gateway.core.errors import WorkflowError
from gateway.db.events import SYSTEM, record
from gateway.db.models import Case, CaseLink, Message

MERGED = "merged"


@dataclass(frozen=True)
class MoveResult:
    """What a merge, unmerge or split did: messages moved from one case to another."""

    action: str
    source: str
    target: str
    message_pks: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "from": self.source, "to": self.target,
                "messages": list(self.message_pks)}


def merge_case_objects(session: Session, source: Case, target: Case, actor: str,
                       note: str = "", reason: str = "staff") -> MoveResult:
    """Move every message of ``source`` into ``target`` and mark ``source`` merged."""
    if source.id == target.id:
        raise WorkflowError(f"not allowed because {source.ref} cannot be merged into itself")
    if source.merged_into_id is not None:
        raise WorkflowError(f"not allowed because {source.ref} is already merged into "
                            f"{ref_of(session, source.merged_into_id)}")
    if target.merged_into_id is not None:
        raise WorkflowError(f"not allowed because {target.ref} is itself merged into "
                            f"{ref_of(session, target.merged_into_id)}; merge into that case")
    moved = message_ids(session, source.id)
    move_messages(session, moved, target.id)
    status_before = source.status
    source.merged_into_id = target.id
    source.status = MERGED
    session.add(CaseLink(case_id=source.id, other_case_id=target.id, kind="merged-into",
                         created_at=utcnow(), actor=actor))
    data = {"into": target.ref, "messages": moved, "status_before": status_before,
            "reason": reason, "note": note}
    record(session, source, "case_merged", data, actor=actor)
    record(session, target, "case_merged_in", {"from": source.ref, "messages": moved,
                                               "reason": reason, "note": note}, actor=actor)
    return MoveResult("merge", source.ref, target.ref, tuple(moved))


def system_merge(session: Session, source_id: int, target_id: int, note: str) -> MoveResult:
    """The threader's merge of an orphan case into its parent's case (rule referenced-by)."""
    source = session.get(Case, source_id, with_for_update=True)
    target = session.get(Case, target_id, with_for_update=True)
    assert source is not None and target is not None
    return merge_case_objects(session, source, target, SYSTEM, note, reason="referenced-by")


def message_ids(session: Session, case_id: int) -> list[int]:
    return list(session.scalars(select(Message.id).where(Message.case_id == case_id)
                                .order_by(Message.id)))


def move_messages(session: Session, pks: list[int], case_id: int) -> None:
    session.flush()
    if pks:
        session.execute(update(Message).where(Message.id.in_(pks)).values(case_id=case_id)
                        .execution_options(synchronize_session=False))
    session.expire_all()


def ref_of(session: Session, case_id: int | None) -> str:
    return session.scalar(select(Case.ref).where(Case.id == case_id)) or "?"
