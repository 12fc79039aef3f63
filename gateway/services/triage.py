"""What waits for a person besides the triage queue itself (``cases list --triage``, in
:mod:`gateway.services.cases`): the threader's possible follow-ups, a stranger's new case
linked to the case its mail pointed at. A person merges it (``cases merge``), keeps it apart
(``cases unlink``) or classifies it as any case; both through :mod:`gateway.services.threads`.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from gateway.services.rows import Listing, RowView
from gateway.workflows.triage import possible_follow_ups

if TYPE_CHECKING:
    from gateway.core.context import Context


@dataclasses.dataclass(frozen=True)
class FollowUp(RowView):
    """A stranger's new case (``case``) and the case it may follow up (``other``)."""

    case: str
    alias: str
    customer: str
    subject: str
    status: str
    linked_at: str | None
    other: str
    other_alias: str
    other_customer: str
    other_subject: str


def follow_ups(ctx: Context, *, actor: str) -> Listing[FollowUp]:
    """The possible-follow-up links still standing, oldest first (summaries: not recorded)."""
    del actor
    with ctx.db.session() as session:
        return Listing(tuple(FollowUp.from_row(row) for row in possible_follow_ups(session)))
