"""Staff corrections of threading: merge, unmerge, split, unsplit, link, unlink. Each runs in
one transaction and is recorded as case events naming the actor (gateway/workflows/merging.py)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from gateway.processing.case_merge import MoveResult
from gateway.services.base import View
from gateway.workflows import merging

if TYPE_CHECKING:
    from gateway.core.context import Context


@dataclasses.dataclass(frozen=True)
class Moved(View):
    """Messages moved from one case to another by a merge, unmerge, split or unsplit."""

    action: str
    source: str
    target: str
    messages: tuple[int, ...]

    def to_json(self) -> Any:
        return {"action": self.action, "from": self.source, "to": self.target,
                "messages": list(self.messages)}


@dataclasses.dataclass(frozen=True)
class Linked(View):
    """A link between two cases made or removed."""

    action: str
    case: str
    other: str
    kind: str


def _moved(result: MoveResult) -> Moved:
    return Moved(result.action, result.source, result.target, tuple(result.message_pks))


def _linked(result: merging.LinkResult) -> Linked:
    return Linked(result.action, result.case, result.other, result.kind)


def merge(ctx: Context, *, actor: str, source: str, into: str, note: str = "") -> Moved:
    """Move every message of ``source`` into ``into`` (reversible with :func:`unmerge`)."""
    with ctx.db.session() as session:
        return _moved(merging.merge_cases(session, source, into, actor, note))


def unmerge(ctx: Context, *, actor: str, source: str, note: str = "") -> Moved:
    with ctx.db.session() as session:
        return _moved(merging.unmerge(session, source, actor, note))


def split(ctx: Context, *, actor: str, ref: str, messages: Sequence[int], note: str = "") -> Moved:
    """Move the chosen messages of ``ref`` into a new case."""
    with ctx.db.session() as session:
        return _moved(merging.split_case(session, ref, list(messages), actor, note,
                                         ctx.settings))


def unsplit(ctx: Context, *, actor: str, ref: str, note: str = "") -> Moved:
    with ctx.db.session() as session:
        return _moved(merging.unsplit(session, ref, actor, note))


def link(ctx: Context, *, actor: str, ref: str, other: str, kind: str, note: str = "") -> Linked:
    with ctx.db.session() as session:
        return _linked(merging.link_cases(session, ref, other, kind, actor, note))


def unlink(ctx: Context, *, actor: str, ref: str, other: str, kind: str | None = None,
           note: str = "") -> Linked:
    with ctx.db.session() as session:
        return _linked(merging.unlink_cases(session, ref, other, actor, kind, note))
