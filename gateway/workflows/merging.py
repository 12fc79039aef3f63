"""Merging, splitting and linking cases: staff correct the threader, and every correction is a
case event that names exactly which messages moved, so it can be undone from the record.

* ``merge_cases``: the source's messages move to the target; the source keeps its row and
  reference (events are append-only and references are gapless), points at the survivor
  (``merged_into_id``), gets status ``merged`` and a ``merged-into`` link. Mail that later
  names the source (its case tag, our signed Message-IDs) threads to the survivor.
* ``unmerge``: moves back exactly the messages the merge event lists and restores the status.
* ``split_case``: chosen messages move into a new case (next reference from the counter)
  linked ``split-from``; ``unsplit`` undoes it by merging the new case back into its origin,
  which is itself an ordinary, reversible merge (so every undo can be undone too).
* ``link_cases`` / ``unlink_cases``: ``related`` and ``enquiry-order`` links; a
  ``possible-follow-up`` link the threader made can be removed once staff have looked.

The threader uses :func:`~gateway.processing.case_merge.merge_case_objects` for its system
merges (a parent that arrives after its replies), so those are undone the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from gateway.core.clock import utcnow
from gateway.core.errors import WorkflowError
from gateway.db.events import case_by_ref, record
from gateway.db.models import Case, CaseEvent, CaseLink, Counter, Message
from gateway.processing.case_merge import (
    MoveResult,
    merge_case_objects,
    message_ids,
    move_messages,
    ref_of,
)
from gateway.processing.threader import case_ref, domain_of
from gateway.workflows.lifecycle import apply_targets

if TYPE_CHECKING:
    from gateway.config import Settings

STAFF_LINK_KINDS = ("related", "enquiry-order")
UNLINKABLE_KINDS = (*STAFF_LINK_KINDS, "possible-follow-up")


@dataclass(frozen=True)
class LinkResult:
    action: str
    case: str
    other: str
    kind: str

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "case": self.case, "other": self.other,
                "kind": self.kind}


def merge_cases(session: Session, source_ref: str, target_ref: str, actor: str,
                note: str = "") -> MoveResult:
    source = case_by_ref(session, source_ref, for_update=True)
    target = case_by_ref(session, target_ref, for_update=True)
    return merge_case_objects(session, source, target, actor, note)


def unmerge(session: Session, source_ref: str, actor: str, note: str = "") -> MoveResult:
    """Undo the newest merge of ``source_ref``: exactly the messages it moved go back."""
    source = case_by_ref(session, source_ref, for_update=True)
    if source.merged_into_id is None:
        raise WorkflowError(f"not allowed because {source.ref} is not merged into another case")
    target = session.get(Case, source.merged_into_id, with_for_update=True)
    assert target is not None
    event = _last_event(session, source.id, "case_merged")
    if event is None or event.data.get("into") != target.ref:
        raise WorkflowError(f"not allowed because the merge of {source.ref} into {target.ref} "
                            f"has no merge event to undo")
    moved = [int(pk) for pk in event.data.get("messages", [])]
    elsewhere = _messages_not_in(session, moved, target.id)
    if elsewhere:
        raise WorkflowError(f"not allowed because message(s) {elsewhere} have moved out of "
                            f"{target.ref} since the merge; move them back first")
    move_messages(session, moved, source.id)
    source.merged_into_id = None
    source.status = str(event.data.get("status_before") or "open")
    session.execute(delete(CaseLink).where(CaseLink.case_id == source.id,
                                           CaseLink.other_case_id == target.id,
                                           CaseLink.kind == "merged-into"))
    data = {"from": target.ref, "messages": moved, "status": source.status, "note": note}
    record(session, source, "case_unmerged", data, actor=actor)
    record(session, target, "case_unmerged_out", {"to": source.ref, "messages": moved,
                                                  "note": note}, actor=actor)
    return MoveResult("unmerge", target.ref, source.ref, tuple(moved))


def split_case(session: Session, ref: str, message_pks: Sequence[int], actor: str,
               note: str = "", settings: Settings | None = None) -> MoveResult:
    """Move the chosen messages of ``ref`` into a new case linked ``split-from``; with
    ``settings`` the new case gets its owner role and due times like any new case."""
    source = case_by_ref(session, ref, for_update=True)
    if source.merged_into_id is not None:
        raise WorkflowError(f"not allowed because {source.ref} is merged; split "
                            f"{ref_of(session, source.merged_into_id)} instead")
    chosen = sorted(set(int(pk) for pk in message_pks))
    if not chosen:
        raise WorkflowError("not allowed because no message was chosen to split off")
    present = message_ids(session, source.id)
    foreign = [pk for pk in chosen if pk not in present]
    if foreign:
        raise WorkflowError(f"not allowed because message(s) {foreign} are not in {source.ref}")
    if len(chosen) == len(present):
        raise WorkflowError(f"not allowed because splitting every message of {source.ref} "
                            f"would leave it empty")
    first = session.get(Message, chosen[0])
    assert first is not None
    now = utcnow()
    new = Case(ref=_next_ref(session, source.ref), alias=source.alias,
               category=first.category, status="new", scope_change=False,
               subject=first.subject[:1000], customer=first.from_addr,
               customer_domain=domain_of(first.from_addr), opened_at=now, updated_at=now)
    session.add(new)
    session.flush()
    move_messages(session, chosen, new.id)
    session.add(CaseLink(case_id=new.id, other_case_id=source.id, kind="split-from",
                         created_at=now, actor=actor))
    record(session, new, "case_opened", {"rule": "split", "split_from": source.ref,
                                         "category": new.category, "alias": new.alias,
                                         "customer": new.customer, "subject": new.subject},
           actor=actor)
    record(session, new, "case_split_from", {"from": source.ref, "messages": chosen,
                                             "note": note}, actor=actor)
    record(session, source, "case_split", {"to": new.ref, "messages": chosen, "note": note},
           actor=actor)
    if settings is not None:
        apply_targets(session, settings, new, first=True)
    return MoveResult("split", source.ref, new.ref, tuple(chosen))


def unsplit(session: Session, ref: str, actor: str, note: str = "") -> MoveResult:
    """Undo a split by merging the split-off case back into the case it came from."""
    case = case_by_ref(session, ref, for_update=True)
    origin_id = session.scalar(select(CaseLink.other_case_id).where(
        CaseLink.case_id == case.id, CaseLink.kind == "split-from"))
    if origin_id is None:
        raise WorkflowError(f"not allowed because {case.ref} was not split off another case")
    origin = session.get(Case, origin_id, with_for_update=True)
    assert origin is not None
    while origin.merged_into_id is not None:  # the origin was merged since: use the survivor
        survivor = session.get(Case, origin.merged_into_id)
        assert survivor is not None
        origin = survivor
    result = merge_case_objects(session, case, origin, actor, note or "unsplit",
                                reason="unsplit")
    return MoveResult("unsplit", result.source, result.target, result.message_pks)


def link_cases(session: Session, ref: str, other_ref: str, kind: str, actor: str,
               note: str = "") -> LinkResult:
    if kind not in STAFF_LINK_KINDS:
        raise WorkflowError(f"not allowed because staff links are {', '.join(STAFF_LINK_KINDS)}"
                            f" (merges and splits make their own links), not {kind!r}")
    case = case_by_ref(session, ref)
    other = case_by_ref(session, other_ref)
    if case.id == other.id:
        raise WorkflowError(f"not allowed because {case.ref} cannot be linked to itself")
    for each in (case, other):
        if each.merged_into_id is not None:
            raise WorkflowError(f"not allowed because {each.ref} is merged into "
                                f"{ref_of(session, each.merged_into_id)}; link that case")
    if _links(session, case.id, other.id, kind):
        raise WorkflowError(f"not allowed because {case.ref} and {other.ref} are already "
                            f"linked as {kind}")
    session.add(CaseLink(case_id=case.id, other_case_id=other.id, kind=kind,
                         created_at=utcnow(), actor=actor))
    record(session, case, "case_linked", {"other": other.ref, "kind": kind, "role": "from",
                                          "note": note}, actor=actor)
    record(session, other, "case_linked", {"other": case.ref, "kind": kind, "role": "to",
                                           "note": note}, actor=actor)
    return LinkResult("link", case.ref, other.ref, kind)


def unlink_cases(session: Session, ref: str, other_ref: str, actor: str,
                 kind: str | None = None, note: str = "") -> LinkResult:
    """Remove a staff link (either direction), or a possible-follow-up link the threader made."""
    case = case_by_ref(session, ref)
    other = case_by_ref(session, other_ref)
    links = [link for link in _links(session, case.id, other.id, kind)
             if link.kind in UNLINKABLE_KINDS]
    if not links:
        raise WorkflowError(f"not allowed because {case.ref} and {other.ref} have no "
                            f"{kind + ' ' if kind else ''}link to remove (merges and splits "
                            f"are undone with 'cases unmerge')")
    if len(links) > 1:
        kinds = ", ".join(sorted(link.kind for link in links))
        raise WorkflowError(f"not allowed because {case.ref} and {other.ref} have several "
                            f"links ({kinds}): name one with --kind")
    (link,) = links
    session.delete(link)
    record(session, case, "case_unlinked", {"other": other.ref, "kind": link.kind,
                                            "note": note}, actor=actor)
    record(session, other, "case_unlinked", {"other": case.ref, "kind": link.kind,
                                             "note": note}, actor=actor)
    return LinkResult("unlink", case.ref, other.ref, link.kind)


def details_for_case(session: Session, case: Case) -> dict[str, Any]:
    """Links and merge state of a case, for ``cases show``."""
    found = list(session.scalars(select(CaseLink).where(or_(
        CaseLink.case_id == case.id, CaseLink.other_case_id == case.id)).order_by(CaseLink.id)))
    ids = {link.case_id for link in found} | {link.other_case_id for link in found}
    refs = {case_id: ref for case_id, ref in session.execute(
        select(Case.id, Case.ref).where(Case.id.in_(ids)))}
    links = []
    for link in found:
        outgoing = link.case_id == case.id
        links.append({"kind": link.kind, "direction": "to" if outgoing else "from",
                      "case": refs.get(link.other_case_id if outgoing else link.case_id),
                      "actor": link.actor, "at": link.created_at.isoformat()})
    merged_into = ref_of(session, case.merged_into_id) if case.merged_into_id else None
    return {"merged_into": merged_into, "links": links}


# -- helpers -----------------------------------------------------------------------------------

def _messages_not_in(session: Session, pks: list[int], case_id: int) -> list[int]:
    if not pks:
        return []
    found = set(session.scalars(select(Message.id).where(Message.id.in_(pks),
                                                         Message.case_id == case_id)))
    return [pk for pk in pks if pk not in found]


def _last_event(session: Session, case_id: int, kind: str) -> CaseEvent | None:
    return session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id,
                                                   CaseEvent.kind == kind)
                           .order_by(CaseEvent.id.desc()).limit(1)).first()


def _links(session: Session, case_id: int, other_id: int, kind: str | None) -> list[CaseLink]:
    query = select(CaseLink).where(or_(
        (CaseLink.case_id == case_id) & (CaseLink.other_case_id == other_id),
        (CaseLink.case_id == other_id) & (CaseLink.other_case_id == case_id)))
    if kind:
        query = query.where(CaseLink.kind == kind)
    return list(session.scalars(query.order_by(CaseLink.id)))


def _next_ref(session: Session, like_ref: str) -> str:
    """The next case reference from the gapless counter, as the pipeline numbers cases."""
    number = session.execute(update(Counter).where(Counter.name == "case")
                             .values(value=Counter.value + 1).returning(Counter.value)
                             ).scalar_one()
    return case_ref(like_ref.rsplit("-", 1)[0], number)
