"""Threading tests' helpers: file messages through ``ingest`` and read back where they went."""

from __future__ import annotations

import itertools

from sqlalchemy import select

from gateway.db.models import Case, Message
from gateway.processing.ingest import ingest
from gateway.workflows.cases import list_cases, show_case
from tests.support.mail import write_messages

_folders = itertools.count()


def run(app, tmp_path, messages):
    """Ingest ``messages`` (a fresh folder each call) and return the summary."""
    paths = write_messages(tmp_path / f"in{next(_folders)}", messages)
    return ingest(app, paths)


def cases(app):
    """The installation's cases that were not merged away."""
    with app.db.session() as session:
        return [c for c in list_cases(session) if c["status"] != "merged"]


def rules_of(app, ref):
    """The threading rule of each message filed into case ``ref``, in order."""
    with app.db.session() as session:
        shown = show_case(session, ref)
    return [e["data"]["rule"] for e in shown["events"] if e["kind"] == "message_threaded"]


def case_of(app, message_id):
    """The case reference of the message with this Message-ID."""
    with app.db.session() as session:
        return session.scalar(select(Case.ref).join(Message, Message.case_id == Case.id)
                              .where(Message.message_id == message_id))
