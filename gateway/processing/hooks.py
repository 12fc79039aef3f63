"""What happens once a batch of messages has been filed into cases, inside the same
transaction: lifecycle changes (reopen, first response), reviews opened by scope changes,
property notices proposed for the register, acknowledgements queued.

Each workflow module exposes ``on_filed(session, settings, filed)``; the composition root
(:data:`gateway.bootstrap.HOOKS`, the only list of them) hands them to the worker, they run in
that order, and a failure in one fails the batch (which the worker then files one by one and
quarantines the message that breaks it), so a workflow never silently misses a message.

A hook works per batch, as the pipeline does: one query for what it needs of all the batch's
messages (``WHERE case_id IN (...)``, :func:`gateway.db.events.cases_by_id`), objects added,
at most one flush (for ids that events name). A query or a flush per message costs ~2 ms, as much
as parsing and classifying the message.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from classifiers import Classification
from gateway.processing.parsing import ParsedMessage

if TYPE_CHECKING:
    from gateway.config import Settings


@dataclass(frozen=True)
class FiledMessage:
    """One message as it was just filed."""

    message_pk: int
    case_id: int
    case_ref: str
    new_case: bool
    seq: int
    sha256: str
    alias: str
    direction: str  # "inbound" or "outbound"
    parsed: ParsedMessage
    classification: Classification


Hook = Callable[[Session, "Settings", Sequence[FiledMessage]], None]


def run_hooks(hooks: Sequence[Hook], session: Session, settings: Settings,
              filed: Sequence[FiledMessage]) -> None:
    if filed:
        for hook in hooks:
            hook(session, settings, filed)
