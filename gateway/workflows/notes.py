"""Calls, meetings, visits and portal messages on the record: a note is archived like mail.

A staff member's note of a phone call (or a meeting, a visit, a portal message) becomes a
small RFC 5322 message: From is the staff actor at the case's alias, ``X-Commgate-Channel``
names the channel, the summary and outcome are its text and an attached file (minutes, a
photo) a MIME part under a sanitised name. It is archived with direction ``outbound`` and
transport ``note``, so it gets a ledger entry and a blob sha256 and is filed by the worker
into its case through our signed Message-ID, exactly as a sent reply's copy is; the case
timeline, search and evidence packages then show it with no path of their own. Being ours,
the filing hooks treat it as our own words (no acknowledgement, no triage, no reopening).

Its ``on_filed`` hook, in the filing transaction as for mail, records the ``note_recorded``
event (who, which channel, ledger entry) and, when the note carries a scope change (a customer
who phones to raise a quantity), opens the same scope-change review a customer's change mail
opens, with the note as its trigger. The person says whether it is a change; when they do not
say, the classifier's verdict on the note's text decides (the worker classified the filed note
with the installation's rules, as it classifies mail).
"""

from __future__ import annotations

import mimetypes
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from archive import Receipt
from gateway.core import principal
from gateway.core.clock import utcnow
from gateway.core.errors import WorkflowError
from gateway.core.text import iso
from gateway.db.events import SYSTEM, case_by_ref, case_family, cases_by_id, record
from gateway.db.models import Case, CaseEvent, LedgerReceipt, Message
from gateway.processing.signing import make_message_id
from gateway.processing.threader import domain_of
from gateway.workflows import reviews
from gateway.workflows.outbound.queue import header_text, tagged_subject

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from archive import LedgerEntry
    from gateway.config import Settings
    from gateway.core.context import Context
    from gateway.processing.hooks import FiledMessage

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
    text = f"Summary: {summary.strip()}\n"
    if outcome.strip():
        text += f"\nOutcome: {outcome.strip()}\n"
    message.set_content(text)
    if attachment is not None:
        name = safe_filename(attachment.filename)
        kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
        maintype, _, subtype = kind.partition("/")
        message.add_attachment(attachment.data, maintype=maintype, subtype=subtype,
                               filename=name)
    return message.as_bytes()


def archive_note(ctx: Context, *, ref: str, channel: str, summary: str, actor: str,
                 outcome: str = "", attachment: Attachment | None = None,
                 scope_change: bool | None = None) -> LedgerEntry:
    """Archive the note and queue it for filing. The bytes are durable before anything names
    them (the archive's contract); the envelope (in the ledger, so tamper-evident) says who
    recorded it, on which channel and whether the person said it changes the scope. It holds
    no free text: what was said is in the blob, which retention can remove."""
    _check(channel, summary, outcome, attachment)
    with ctx.db.session() as session:
        case = case_by_ref(session, ref)
        if case.merged_into_id is not None:
            raise WorkflowError(f"not allowed because {case.ref} was merged into another case: "
                                f"record the note there")
        raw = compose(ctx.settings, case, actor=actor, channel=channel, summary=summary,
                      outcome=outcome, attachment=attachment)
        envelope: dict[str, str | None] = {
            "alias": case.alias or ctx.settings.default_alias, "case": case.ref,
            "kind": "note", "channel": channel, "actor": actor,
            "scope_change": {None: "classifier", True: "yes", False: "no"}[scope_change]}
        who = principal.current.get()
        if who is not None:  # a command: its events name the OS user, the claim beside it
            envelope |= {"os_user": who.os_user, "claimed_as": who.claim}
    entry = ctx.archive.store(raw, Receipt(transport=TRANSPORT, direction="outbound",
                                           envelope=envelope))
    ctx.queue([entry])
    return entry


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


# -- after filing -----------------------------------------------------------------------------

def on_filed(session: Session, settings: Settings, filed: Sequence[FiledMessage]) -> None:
    """Record each filed note on its case and open the scope-change review it carries.

    Only our own archived notes count: the ledger entry's transport (set by
    :func:`archive_note`, never by a sender) says what is a note, not a header of the mail.
    Filed again (reprocessing), a note already recorded is left alone."""
    del settings
    ours = {item.seq: item for item in filed if item.direction == "outbound"}
    if not ours:
        return
    envelopes: dict[int, Any] = {seq: envelope for seq, envelope in session.execute(
        select(LedgerReceipt.seq, LedgerReceipt.envelope).where(
            LedgerReceipt.seq.in_(sorted(ours)), LedgerReceipt.transport == TRANSPORT))}
    if not envelopes:
        return
    items = [ours[seq] for seq in sorted(envelopes)]
    done = set(session.scalars(select(CaseEvent.message_pk).where(
        CaseEvent.kind == NOTE_EVENT,
        CaseEvent.message_pk.in_([item.message_pk for item in items]))))
    cases = cases_by_id(session, (item.case_id for item in items))
    for item in items:
        case = cases.get(item.case_id)
        if case is not None and item.message_pk not in done:
            _record(session, case, item, envelopes[item.seq])


def _record(session: Session, case: Case, item: FiledMessage, envelope: Any) -> None:
    actor = str(envelope.get("actor") or SYSTEM)  # the staff identity
    os_user = envelope.get("os_user")
    if not os_user:  # archived by the web application: its signed-in user is the actor
        _record_as(session, case, item, envelope, actor)
        return
    # Archived by a command: its events name that command's OS user with the claim beside
    # it, whichever process files the note (gateway/db/acted.py stamps them at the flush).
    claim = envelope.get("claimed_as")
    with principal.behind(principal.Principal(str(os_user), claim, staff=actor)):
        _record_as(session, case, item, envelope, actor)
        session.flush()


def _record_as(session: Session, case: Case, item: FiledMessage, envelope: Any,
               actor: str) -> None:
    channel = str(envelope.get("channel", ""))
    said = envelope.get("scope_change", "classifier")
    carries = item.classification.scope_change if said == "classifier" else said == "yes"
    decided_by = "classifier" if said == "classifier" else "staff"
    data: dict[str, Any] = {
        "channel": channel, "subject": item.parsed.subject,
        "attachments": [a.filename for a in item.parsed.attachments],
        "sha256": item.sha256, "seq": item.seq, "message_id": item.parsed.message_id,
        "scope_change": carries, "scope_change_decided_by": decided_by}
    if carries:
        evidence = reviews.scope_evidence(item.classification.to_dict()["evidence"]) or [
            {"rule_id": "staff.note", "field": "note", "text": "scope change stated by "
             f"{actor}"}]
        case.scope_change = True
        record(session, case, "scope_change_flagged",
               {"evidence": evidence, "source": "note", "decided_by": decided_by},
               actor=actor, message_pk=item.message_pk)
        review = reviews.open_review(
            session, case, "scope-change", actor=actor,
            summary=f"{channel} note ({item.parsed.subject})", evidence=evidence,
            trigger_message_pk=item.message_pk)
        data["review_id"] = review.id
    record(session, case, NOTE_EVENT, data, actor=actor, message_pk=item.message_pk)


# -- read models ------------------------------------------------------------------------------

def note_view(event: CaseEvent, ref: str, message: Message | None) -> dict[str, Any]:
    """One note as the case page and ``cases show`` show it; what was said is the archived
    message's text (empty once retention removed it)."""
    data = event.data
    return {"case": ref, "at": iso(event.at), "actor": event.actor,
            "claimed_as": event.claimed_as, "message_pk": event.message_pk,
            "channel": data.get("channel", ""),
            "subject": data.get("subject", ""),
            "text": message.snippet if message and message.purged_at is None else "",
            "attachments": list(data.get("attachments", [])), "sha256": data.get("sha256", ""),
            "seq": data.get("seq"), "scope_change": bool(data.get("scope_change")),
            "review_id": data.get("review_id")}


def find_note(session: Session, sha256: str) -> dict[str, Any] | None:
    """The note recorded for these archived bytes, if they were filed."""
    found = session.execute(select(CaseEvent, Case.ref, Message)
                            .join(Case, Case.id == CaseEvent.case_id)
                            .join(Message, Message.id == CaseEvent.message_pk)
                            .where(CaseEvent.kind == NOTE_EVENT, Message.sha256 == sha256)
                            .order_by(CaseEvent.id)).first()
    return None if found is None else note_view(found[0], found[1], found[2])


def details_for_case(session: Session, case: Case) -> list[dict[str, Any]]:
    """The notes on the case and the cases merged into it, oldest first."""
    family = case_family(session, case)
    rows = session.execute(select(CaseEvent, Case.ref, Message)
                           .join(Case, Case.id == CaseEvent.case_id)
                           .outerjoin(Message, Message.id == CaseEvent.message_pk)
                           .where(CaseEvent.case_id.in_(family), CaseEvent.kind == NOTE_EVENT)
                           .order_by(CaseEvent.id))
    return [note_view(event, ref, message) for event, ref, message in rows]
