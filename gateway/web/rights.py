"""Who may do what in the web application: roles for kinds of work, queue rights for cases.

Every role reads cases; staff, reviewers and admins change them (compliance reads and audits,
it does not work cases). Staff and reviewers see the queues (aliases) they were given;
compliance and admins see every queue (``UserView.queues``).
"""

from __future__ import annotations

from gateway.services.users import UserView

READ_CASES = frozenset({"staff", "reviewer", "compliance", "admin"})
WORK_CASES = frozenset({"staff", "reviewer", "admin"})
# Recording a feedback review meeting (gateway/workflows/feedback_reviews.py): the quality roles
# (those that may also take a record out of "complaint", gateway/workflows/feedback.py).
RECORD_REVIEWS = frozenset({"reviewer", "compliance", "admin"})


class Forbidden(Exception):
    """Raised by a page when the signed-in person lacks the right; answered with 403."""


def require(user: UserView, roles: frozenset[str]) -> None:
    if user.role not in roles:
        raise Forbidden(f"your role ({user.role}) may not do this")


def require_queue(user: UserView, alias: str) -> None:
    if not user.may_see(alias):
        raise Forbidden(f"you have no right to the queue {alias}")
