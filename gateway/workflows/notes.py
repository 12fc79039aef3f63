"""Calls, meetings, visits and portal messages on the record: a note is archived like mail.

A staff member's note of a phone call (or a meeting, a visit, a portal message) becomes a
small RFC 5322 message: From is the staff actor at the case's alias, ``X-Commgate-Channel``
names the channel, the summary and outcome are its text and an attached file (minutes, a
photo) a MIME part under a sanitised name. It is archived with direction ``outbound`` and
transport ``note``, so it gets a ledger entry and a blob sha256 and is filed by the worker
into its case through our signed Message-ID, exactly as a sent reply's copy is; the case
timeline, search and evidence packages then show it with no path of their own. Being ours,
the filing hooks treat it as our own words (no acknowledgement, no triage, no reopening).

A note can carry a scope change (a customer who phones to raise a quantity): the person says
so (``scope_change``), or, when they do not say, the classifier's verdict on the note's text
(the worker classified the filed note with the installation's rules) decides; either way the
same scope-change review opens as for a customer's mail, with the note as its trigger.
"""

from __future__ import annotations

import mimetypes
import re
import unicodedata
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from archive import Receipt
from gateway.core.clock import utcnow
from gateway.core.errors import WorkflowError
from gateway.core.text import iso
from gateway.db.events import case_by_ref, case_family, record
from gateway.db.models import Case, CaseEvent, Message
from gateway.processing.signing import make_message_id
from gateway.processing.threader import domain_of
from gateway.workflows import reviews
from gateway.workflows.outbound.queue import header_text, tagged_subject

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from gateway.config import Settings
    from gateway.processing.context import WorkerContext

CHANNELS = ("phone", "meeting", "visit", "portal")
NOTE_EVENT = "note_recorded"
TRANSPORT = "note"
MAX_TEXT = 20_000
MAX_ATTACHMENT = 25 * 1024 * 1024
_FILENAME_UNSAFE = re.compile(r"[^\w.\- ()+,]+")


@dataclass(frozen=True)
class Attachment:
    """A file given with a note: its name as the person gave it, and its bytes."""

    filename: str
    data: bytes


def safe_filename(name: str) -> str:
    """A file name that is only a name: no folders, no control or shell characters, no
    leading dots, at most 120 characters ("../../etc/passwd" becomes "passwd")."""
    base = unicodedata.normalize("NFC", name.replace("\\", "/").rsplit("/", 1)[-1])
    clean = _FILENAME_UNSAFE.sub("_", base).strip(" ._")[:120]
    return clean or "attachment"


def compose(settings: Settings, case: Case, *, actor: str, channel: str, summary: str,
            outcome: str, attachment: Attachment | None, now: Any = None) -> bytes:
    """The note as message bytes (pure: the same inputs give the same message but for its
    nonce-bearing Message-ID and Date)."""
    alias = case.alias or settings.default_alias
    domain = settings.config.outbound.message_id_domain or domain_of(alias) or "localhost"
    message = EmailMessage(policy=SMTP)
    user, _, host = alias.partition("@")
    message["From"] = Address(display_name=header_text(actor, 120), username=user,
                              domain=host or "localhost")
    if case.customer:
        message["To"] = header_text(case.customer, 320)
    first_line = header_text(summary.splitlines()[0] if summary.strip() else "", 120)
    message["Subject"] = tagged_subject(f"{channel.capitalize()} note: {first_line}", case.ref,
                                        settings.config.case_prefix)
    message["Date"] = format_datetime(now or utcnow().replace(microsecond=0))
    message["Message-ID"] = make_message_id(settings, case.ref, domain)
    message["X-Commgate-Channel"] = channel
    message["X-Commgate-Actor"] = header_text(actor, 120)
    message["X-Commgate-Kind"] = "note"
    text = f"{channel.capitalize()} note recorded by {actor} on {case.ref}.\n\n" \
           f"Summary:\n{summary.strip()}\n"
    if outcome.strip():
        text += f"\nOutcome:\n{outcome.strip()}\n"
    message.set_content(text)
    if attachment is not None:
        name = safe_filename(attachment.filename)
        kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
        maintype, _, subtype = kind.partition("/")
        message.add_attachment(attachment.data, maintype=maintype, subtype=subtype,
                               filename=name)
    return message.as_bytes()


def record_note(app: WorkerContext, *, ref: str, channel: str, summary: str, actor: str,
                outcome: str = "", attachment: Attachment | None = None,
                scope_change: bool | None = None) -> dict[str, Any]:
    """Archive the note, file it into its case, record who and which channel, and open the
    scope-change review when the note carries a change. The bytes are durable before any
    event names them (the archive's contract), and filing is the worker's own code."""
    _check(channel, summary, outcome, attachment)
    with app.db.session() as session:
        case = case_by_ref(session, ref)
        if case.merged_into_id is not None:
            raise WorkflowError(f"not allowed because {case.ref} was merged into another case: "
                                f"record the note there")
        raw = compose(app.settings, case, actor=actor, channel=channel, summary=summary,
                      outcome=outcome, attachment=attachment)
        envelope = {"alias": case.alias or app.settings.default_alias, "case": case.ref,
                    "kind": "note", "channel": channel, "actor": actor}
    entry = app.archive.store(raw, Receipt(transport=TRANSPORT, direction="outbound",
                                           envelope=envelope))
    app.queue([entry])
    app.processor.process_pending()
    with app.db.session() as session:
        case = case_by_ref(session, ref, for_update=True)
        message = session.scalars(select(Message).where(
            Message.sha256 == entry.sha256,
            Message.case_id.in_(case_family(session, case)))).first()
        if message is None:
            raise WorkflowError(f"the note was archived (ledger entry {entry.seq}, sha256 "
                                f"{entry.sha256}) but not filed into {case.ref}: "
                                f"'commgate quarantine list' says why")
        return _record(session, case, message, channel=channel, summary=summary,
                       outcome=outcome, actor=actor, attachment=attachment,
                       scope_change=scope_change)


def _check(channel: str, summary: str, outcome: str, attachment: Attachment | None) -> None:
    if channel not in CHANNELS:
        raise WorkflowError(f"not allowed because {channel!r} is not a channel "
                            f"({', '.join(CHANNELS)})")
    if not summary.strip():
        raise WorkflowError("not allowed because a note needs a summary of what was said")
    if len(summary) + len(outcome) > MAX_TEXT:
        raise WorkflowError(f"not allowed because the note is longer than {MAX_TEXT} "
                            f"characters: attach the minutes as a file")
    if attachment is not None and len(attachment.data) > MAX_ATTACHMENT:
        raise WorkflowError(f"not allowed because the attachment is larger than "
                            f"{MAX_ATTACHMENT // (1024 * 1024)} MiB")


def _record(session: Session, case: Case, message: Message, *, channel: str, summary: str,
            outcome: str, actor: str, attachment: Attachment | None,
            scope_change: bool | None) -> dict[str, Any]:
    carries = message.scope_change if scope_change is None else scope_change
    decided_by = "classifier" if scope_change is None else "staff"
    data: dict[str, Any] = {
        "channel": channel, "summary": summary.strip(), "outcome": outcome.strip(),
        "attachment": safe_filename(attachment.filename) if attachment else None,
        "sha256": message.sha256, "seq": message.first_seq, "message_id": message.message_id,
        "scope_change": carries, "scope_change_decided_by": decided_by}
    review = None
    if carries:
        evidence = reviews.scope_evidence(message.evidence) or [
            {"rule_id": "staff.note", "field": "note", "text": summary.strip()[:200]}]
        case.scope_change = True
        record(session, case, "scope_change_flagged",
               {"evidence": evidence, "source": "note", "decided_by": decided_by},
               actor=actor, message_pk=message.id)
        review = reviews.open_review(
            session, case, "scope-change", actor=actor,
            summary=f"{channel} note: {header_text(summary, 300)}", evidence=evidence,
            trigger_message_pk=message.id)
        data["review_id"] = review.id
    event = record(session, case, NOTE_EVENT, data, actor=actor, message_pk=message.id)
    session.flush()
    return note_view(event, case.ref)


def note_view(event: CaseEvent, ref: str) -> dict[str, Any]:
    """One note as the case page and ``cases show`` show it."""
    data = event.data
    return {"case": ref, "at": iso(event.at), "actor": event.actor, "message_pk": event.message_pk,
            "channel": data.get("channel"), "summary": data.get("summary", ""),
            "outcome": data.get("outcome", ""), "attachment": data.get("attachment"),
            "sha256": data.get("sha256"), "seq": data.get("seq"),
            "scope_change": bool(data.get("scope_change")),
            "review_id": data.get("review_id")}


def details_for_case(session: Session, case: Case) -> list[dict[str, Any]]:
    """The notes on the case and the cases merged into it, oldest first."""
    events = session.scalars(select(CaseEvent).where(
        CaseEvent.case_id.in_(case_family(session, case)), CaseEvent.kind == NOTE_EVENT)
        .order_by(CaseEvent.id))
    refs: dict[int, str] = {case_id: ref for case_id, ref in session.execute(
        select(Case.id, Case.ref).where(Case.id.in_(case_family(session, case))))}
    return [note_view(event, refs.get(event.case_id, case.ref)) for event in events]
