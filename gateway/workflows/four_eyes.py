"""Four eyes across the OS user: an approver must be another staff user than the author, and
must not act through the same linked operating-system login.

Staff identities are compared by each workflow (templates, documents, held outbound mail).
This adds what the OS user knows: the author's OS logins (the ``actor`` of the authoring
event when it was a command-line action, and the login linked to the author's account) and
the approver's (the current command's OS user, and the login linked to the approver's
account). A login in both that is linked to a staff user means one person on both sides,
whatever names the two actions claimed. The same login linked to nobody (root, a service
account) is not refused here: its claims are what the installation accepts for unlinked
logins, and the mock audit reports such an approval as a finding
(gateway/workflows/mock_audit.py).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.core import principal
from gateway.core.errors import WorkflowError
from gateway.db.models import CaseEvent
from gateway.db.users import User


def shared_linked_login(
    session: Session, *, author: str, author_logins: Iterable[str], approver: str
) -> tuple[str, str] | None:
    """The linked login both sides act through and the staff user it is linked to, if any."""
    who = principal.current.get()
    approver_logins = {who.os_user} if who is not None else set()
    author_side = {login for login in author_logins if login}
    linked = {
        user.os_user: user.name
        for user in session.scalars(select(User).where(User.os_user.is_not(None)))
        if user.os_user
    }
    for login, name in linked.items():
        if name.casefold() == author.casefold():
            author_side.add(login)
        if name.casefold() == approver.casefold():
            approver_logins.add(login)
    for login in sorted(author_side & approver_logins):
        if login in linked:
            return login, linked[login]
    return None


def refuse_same_login(
    session: Session, *, author: str, author_logins: Iterable[str], approver: str, what: str
) -> None:
    """Refuse ``approver`` (one line, as every four-eyes refusal) when :func:`shared_linked_login`
    finds one login behind both sides of ``what``."""
    shared = shared_linked_login(
        session, author=author, author_logins=author_logins, approver=approver
    )
    if shared is not None:
        login, staff = shared
        raise WorkflowError(
            f"not allowed because {author} wrote {what} and {approver} "
            f"approves it through the same OS user {login} (linked to "
            f"{staff}): a different person must approve it"
        )


def same_login_under_claims(
    author_event: CaseEvent | None, approver_event: CaseEvent | None
) -> str | None:
    """The OS login behind both the authoring and the approving event of a four-eyes step when
    both were command-line actions of that one login and at least one named a claim: two staff
    names, one person at one keyboard as far as the kernel knows (None otherwise)."""
    if author_event is None or approver_event is None:
        return None
    if author_event.actor != approver_event.actor:
        return None
    if not (author_event.claimed_as or approver_event.claimed_as):
        return None
    return author_event.actor


def outbound_steps(session: Session, case_ids: Iterable[int]) -> dict[int, dict[str, CaseEvent]]:
    """Per held outbound mail id: its ``outbound_held`` and ``outbound_approved`` events."""
    steps: dict[int, dict[str, CaseEvent]] = {}
    for event in session.scalars(
        select(CaseEvent)
        .where(
            CaseEvent.case_id.in_(list(case_ids)),
            CaseEvent.kind.in_(("outbound_held", "outbound_approved")),
        )
        .order_by(CaseEvent.id)
    ):
        outbound_id = (event.data or {}).get("outbound_id")
        if isinstance(outbound_id, int):
            steps.setdefault(outbound_id, {})[event.kind] = event
    return steps
