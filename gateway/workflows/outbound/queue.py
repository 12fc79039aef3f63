"""Outbound mail: acknowledgements and staff replies, archived before they leave.

``queue_mail`` fixes everything that goes into the bytes (Message-ID with our signed case token,
Date, rendered subject and body) and records an event; nothing is sent inside the caller's
transaction. ``deliver_due`` later composes the bytes, archives them (direction outbound, the
same ledger as inbound mail, so the pipeline files them into their case), and only then hands
them to the relay; each attempt's outcome is a case event. Because the bytes are a pure function
of the stored row (and of the controlled document versions attached to it, which never change),
a crash between archiving and sending repeats the same bytes.

Header values that come from customers (subject, names, message ids) are stripped of line
breaks and control characters before they reach a header: no header injection.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from archive import sha256_hex
from classifiers.subjects import strip_markers
from gateway.core.clock import utcnow
from gateway.core.errors import WorkflowError
from gateway.core.text import iso
from gateway.db.events import SYSTEM, cases_by_id, record
from gateway.db.models import Case, LedgerReceipt, Message, MessageReference
from gateway.db.outbound import MAIL_KINDS, OutboundApproval, OutboundMail
from gateway.processing.signing import make_message_id
from gateway.processing.threader import case_tag_pattern, domain_of
from gateway.workflows import templates
from gateway.workflows.documents import Attachment
from gateway.workflows.outbound import approval, loops

if TYPE_CHECKING:
    from gateway.config import Settings
    from gateway.processing.hooks import FiledMessage

log = logging.getLogger(__name__)

MAX_REFERENCES = 20
_UNSAFE = re.compile(r"[\x00-\x1f\x7f]+")


# -- queueing --------------------------------------------------------------------------------

def header_text(value: str, limit: int = 900) -> str:
    """One line of text that is safe in a header: no CR, LF, NUL or other control characters
    (they would end the header and start a forged one), whitespace collapsed."""
    return " ".join(_UNSAFE.sub(" ", value).split())[:limit]


def reply_subject(case: Case) -> str:
    """``Re: <case subject> [NPC-000123]`` without stacked Re:/AW: prefixes."""
    return "Re: " + strip_markers(header_text(case.subject)).strip()


def tagged_subject(subject: str, ref: str, prefix: str) -> str:
    """The subject with exactly one case tag, ours, at the end (other tags of our prefix go:
    they would thread the customer's answer to the wrong case)."""
    clean = " ".join(case_tag_pattern(prefix).sub(" ", header_text(subject)).split())
    return f"{clean} [{ref}]" if clean else f"[{ref}]"


def queue_mail(session: Session, settings: Settings, case: Case, *, kind: str,
               to: str | Sequence[str], actor: str, template: str | None = None,
               subject: str | None = None, body: str | None = None,
               variables: Mapping[str, str] | None = None, in_reply_to_pk: int | None = None,
               auto: bool = False, withhold_customer_text: bool = False,
               reply_kind: str = "") -> OutboundMail:
    """Queue one message for ``case``; it is archived and relayed by :func:`deliver_due`.

    ``withhold_customer_text``: the recipient was not authenticated, so nothing the sender
    wrote (subject, display name) is repeated to it; the mail carries only the case reference.
    ``reply_kind`` (or the template's declared kind) says what a person's mail is (a delay
    notice ...); when the [approval] matrix says so, by that kind or by the case's state, the
    mail is held as "pending" until a second person approves it
    (:mod:`gateway.workflows.outbound.approval`).
    """
    if kind not in MAIL_KINDS:
        raise WorkflowError(f"not allowed because {kind!r} is not a kind of outbound mail "
                            f"({', '.join(MAIL_KINDS)})")
    recipients = _recipients(to)
    parent = _parent(session, case, in_reply_to_pk)
    now = utcnow().replace(microsecond=0)
    values = _variables(session, settings, case, parent, actor, now) | dict(variables or {})
    if withhold_customer_text:
        values |= {"subject": "", "customer_name": header_text(case.customer, 320)}
    chosen = None
    templates.check_reply_kind(reply_kind)
    if template is not None:
        chosen = templates.published(session, template)
        rendered = templates.render(chosen, values)
        subject, body = rendered.subject or subject, rendered.body
        if reply_kind and chosen.reply_kind and reply_kind != chosen.reply_kind:
            raise WorkflowError(f"not allowed because template {chosen.name} is a "
                                f"{chosen.reply_kind} reply, not {reply_kind}")
        reply_kind = reply_kind or chosen.reply_kind
    if not body or not body.strip():
        raise WorkflowError("not allowed because the message has no text: give a template or "
                            "a body")
    prefix = settings.config.case_prefix
    if withhold_customer_text:
        final_subject = tagged_subject(subject or "", case.ref, prefix)
    else:
        final_subject = tagged_subject(subject or reply_subject(case), case.ref, prefix)
    alias = case.alias or settings.default_alias
    domain = settings.config.outbound.message_id_domain or domain_of(alias) or "localhost"
    in_reply_to, references = _threading_ids(session, parent)
    mail = OutboundMail(
        case_id=case.id, kind=kind, status="queued", auto=auto,
        message_id=make_message_id(settings, case.ref, domain).strip("<>"),
        from_addr=alias, from_name=settings.config.outbound.display_name(alias),
        to_addrs=recipients, recipient=recipients[0].lower(),
        subject=final_subject, body=body, in_reply_to=in_reply_to, reference_ids=references,
        template_id=chosen.id if chosen else None,
        template_name=chosen.name if chosen else None,
        template_version=chosen.version if chosen else None,
        in_reply_to_pk=parent.id if parent else None, actor=actor, created_at=now,
        attempts=0, next_attempt_at=now, last_error="", relay_reply="", reply_kind=reply_kind)
    session.add(mail)
    session.flush()
    # What a person writes is checked against the approval matrix; automatic mail never is.
    states = [] if auto else approval.case_states(session, case)
    needed = None if auto else approval.requirement(settings, reply_kind, states)
    record(session, case, "outbound_queued", {
        "outbound_id": mail.id, "kind": kind, "to": recipients, "subject": final_subject,
        "message_id": mail.message_id, "template": mail.template_name,
        "template_version": mail.template_version, "auto": auto,
        "in_reply_to": in_reply_to, "customer_text_withheld": withhold_customer_text,
        "reply_kind": reply_kind, "case_states": states,
        "approval_required": needed is not None},
        actor=actor, message_pk=mail.in_reply_to_pk)
    if needed is not None:
        approval.hold(session, case, mail, needed)
    return mail


def suppress(session: Session, case: Case, *, kind: str, to: str, reason: str,
             template: str | None = None, in_reply_to_pk: int | None = None) -> OutboundMail:
    """Record that an automatic message was deliberately not sent, and why (auditable)."""
    recipient = header_text(to, 320)
    mail = OutboundMail(
        case_id=case.id, kind=kind, status="suppressed", auto=True, message_id=None,
        from_addr=case.alias, to_addrs=[recipient] if recipient else [],
        recipient=recipient.lower(), subject="", body="", in_reply_to=None, reference_ids=[],
        template_name=template, in_reply_to_pk=in_reply_to_pk, actor=SYSTEM,
        created_at=utcnow(), attempts=0, last_error=reason, relay_reply="")
    session.add(mail)
    session.flush()
    record(session, case, "outbound_suppressed", {
        "outbound_id": mail.id, "kind": kind, "to": recipient, "reason": reason,
        "template": template}, message_pk=in_reply_to_pk)
    return mail


def _recipients(to: str | Sequence[str]) -> list[str]:
    addresses = [to] if isinstance(to, str) else list(to)
    result = []
    for address in addresses:
        text = address.strip()
        if not text or _UNSAFE.search(text):
            raise WorkflowError(f"not allowed because {address!r} is not an e-mail address")
        try:
            parsed = Address(addr_spec=text)
        except (ValueError, IndexError) as exc:
            raise WorkflowError(f"not allowed because {text!r} is not an e-mail address "
                                f"({exc})") from None
        if not parsed.domain or "." not in parsed.domain:
            raise WorkflowError(f"not allowed because {text!r} has no domain")
        result.append(f"{parsed.username}@{parsed.domain.lower()}")
    if not result:
        raise WorkflowError("not allowed because the message has no recipient")
    return list(dict.fromkeys(result))


def _parent(session: Session, case: Case, message_pk: int | None) -> Message | None:
    if message_pk is None:
        return None
    parent = session.get(Message, message_pk)
    if parent is None or parent.case_id != case.id:
        raise WorkflowError(f"not allowed because message {message_pk} is not part of "
                            f"{case.ref}")
    return parent


def latest_customer_message(session: Session, case: Case) -> Message | None:
    """What a staff reply answers by default: the newest inbound message of the case."""
    return session.scalars(select(Message).where(
        Message.case_id == case.id, Message.direction == "inbound")
        .order_by(Message.id.desc()).limit(1)).first()


def _threading_ids(session: Session, parent: Message | None) -> tuple[str | None, list[str]]:
    """In-Reply-To and References for a reply to ``parent`` (RFC 5322 §3.6.4): its own chain,
    then its id. Ids with anything unsafe in them are dropped, never repaired."""
    if parent is None or not _safe_id(parent.message_id):
        return None, []
    chain = list(session.scalars(select(MessageReference.ref).where(
        MessageReference.message_pk == parent.id).order_by(MessageReference.position)))
    assert parent.message_id is not None
    ids = [i for i in dict.fromkeys([*chain, parent.message_id]) if _safe_id(i)]
    if len(ids) > MAX_REFERENCES:  # keep the root and the newest ones
        ids = [ids[0], *ids[-(MAX_REFERENCES - 1):]]
    return parent.message_id, ids


def _safe_id(message_id: str | None) -> bool:
    return bool(message_id) and len(message_id or "") < 500 and re.fullmatch(
        r"[!-;=?-~]+", message_id or "") is not None


def _variables(session: Session, settings: Settings, case: Case, parent: Message | None,
               actor: str, now: datetime) -> dict[str, str]:
    source = parent or session.scalars(select(Message).where(
        Message.case_id == case.id, Message.direction == "inbound")
        .order_by(Message.id).limit(1)).first()
    name = header_text(source.from_name, 200) if source is not None else ""
    alias = case.alias or settings.default_alias
    return {"case_ref": case.ref, "customer": header_text(case.customer, 320),
            "customer_name": name or header_text(case.customer, 320),
            "subject": header_text(case.subject, 500), "alias": alias,
            "company": (settings.config.outbound.company_name
                        or settings.config.outbound.message_id_domain or domain_of(alias)),
            "category": case.category, "actor": header_text(actor, 128),
            "date": now.date().isoformat()}


# -- composing -------------------------------------------------------------------------------

def compose(mail: OutboundMail, attachments: Sequence[Attachment] = ()) -> bytes:
    """The exact bytes of ``mail``: a pure function of the stored row and its attached
    controlled documents (immutable versions, :func:`documents.attachments_for`)."""
    message = EmailMessage(policy=SMTP)
    message["Date"] = format_datetime(mail.dated_at or mail.created_at)
    message["From"] = Address(display_name=mail.from_name or "", addr_spec=mail.from_addr)
    message["To"] = [Address(addr_spec=a) for a in mail.to_addrs]
    message["Subject"] = header_text(mail.subject)
    message["Message-ID"] = f"<{mail.message_id}>"
    if mail.in_reply_to:
        message["In-Reply-To"] = f"<{mail.in_reply_to}>"
    if mail.reference_ids:
        message["References"] = " ".join(f"<{ref}>" for ref in mail.reference_ids)
    if mail.auto:
        # RFC 3834 §5: marks our automatic mail so that well-behaved responders leave it alone;
        # the Microsoft header asks Exchange not to send out-of-office replies to it.
        message["Auto-Submitted"] = "auto-generated" if mail.kind == "escalation" else (
            "auto-replied")
        message["X-Auto-Response-Suppress"] = "All"
    text = mail.body if mail.body.endswith("\n") else mail.body + "\n"
    # Quoted-printable keeps the message 7-bit, so any relay takes it (no 8BITMIME needed).
    message.set_content(text, charset="utf-8", cte=None if text.isascii() else "quoted-printable")
    for item in attachments:
        maintype, _, subtype = item.content_type.partition("/")
        message.add_attachment(item.data, maintype=maintype, subtype=subtype,
                               filename=item.filename)
    if attachments:
        # The generator would pick a random boundary: derive it from what the message holds,
        # so composing again after a crash gives the same bytes. "=_" never occurs in base64
        # or quoted-printable text.
        seed = "\n".join([mail.message_id or "", *(sha256_hex(a.data) for a in attachments)])
        message.set_boundary(f"=_commgate_{sha256_hex(seed.encode())[:32]}")
    return message.as_bytes()


def envelope_sender(mail: OutboundMail) -> str:
    """RFC 3834 §3.3: automatic responses go out with a null return path, so a bounce of an
    acknowledgement can never start another exchange."""
    return "" if mail.auto else mail.from_addr


# -- after filing ----------------------------------------------------------------------------

def on_filed(session: Session, settings: Settings, filed: Sequence[FiledMessage]) -> None:
    """Queue the acknowledgement of each new case whose alias acknowledges, unless RFC 3834,
    the backscatter check (:func:`loops.check_sender`: From must agree with the envelope
    sender and not be failed by our MX) or the per-sender limit says not to answer; a
    suppressed one is recorded with why. An acknowledgement to a From address that was not
    authenticated carries only the case reference, none of the sender's words.

    Our own outbound messages come through here too once filed: they are never answered.
    The batch's cases, the messages answered and the templates are loaded once for the batch
    (one by one they cost ~2.5 ms a message); the rate limit is still checked per message, so
    it counts the acknowledgements queued earlier in the batch.
    """
    config = settings.config.outbound
    acknowledge = {alias.lower(): name for alias, name in config.acknowledge.items()}
    todo = [f for f in filed if f.direction == "inbound" and f.new_case
            and f.alias.lower() in acknowledge]
    if not config.enabled or not todo:
        return
    envelopes: dict[int, dict[str, Any]] = dict(session.execute(
        select(LedgerReceipt.seq, LedgerReceipt.envelope).where(
            LedgerReceipt.seq.in_([f.seq for f in todo]))).all())
    cases = cases_by_id(session, (item.case_id for item in todo))
    # Held here so that queue_mail's session.get finds them (the identity map is weak).
    answered = list(session.scalars(select(Message).where(
        Message.id.in_([item.message_pk for item in todo]))))
    published = {name: templates.published_or_none(session, name)
                 for name in {acknowledge[item.alias.lower()] for item in todo}}
    now = utcnow()
    for item in todo:
        case = cases[item.case_id]
        template = acknowledge[item.alias.lower()]
        envelope = envelopes.get(item.seq) or {}
        allowed, reason = loops.is_automatic_reply_allowed(
            settings, item.parsed, item.classification,
            envelope_from=envelope.get("mail_from"))
        verdict = loops.check_sender(settings, item.parsed, envelope.get("mail_from"))
        if allowed:
            reason = verdict.reason
        if not reason:
            reason = loops.ack_rate_exceeded(session, settings, item.parsed.from_addr, now)
        if not reason and published[template] is None:
            # Never fail the filing of customer mail over a missing template: record it.
            reason = f"template {template!r} has no published version"
        if reason:
            suppress(session, case, kind="ack", to=item.parsed.from_addr, reason=reason,
                     template=template, in_reply_to_pk=item.message_pk)
            continue
        queue_mail(session, settings, case, kind="ack", to=item.parsed.from_addr, actor=SYSTEM,
                   template=template, in_reply_to_pk=item.message_pk, auto=True,
                   withhold_customer_text=not verdict.authenticated)
    del answered


# -- read models -----------------------------------------------------------------------------

def mail_view(mail: OutboundMail, ref: str = "", held: OutboundApproval | None = None
              ) -> dict[str, Any]:
    """One mail's read model; ``held`` is its approval record, if it was held for one."""
    return {"id": mail.id, "case": ref, "kind": mail.kind, "status": mail.status,
            "auto": mail.auto, "message_id": mail.message_id, "from": mail.from_addr,
            "to": mail.to_addrs, "subject": mail.subject, "template_name": mail.template_name,
            "template_version": mail.template_version, "actor": mail.actor,
            "created_at": iso(mail.created_at), "attempts": mail.attempts,
            "next_attempt_at": iso(mail.next_attempt_at),
            "sent_at": iso(mail.sent_at), "last_error": mail.last_error,
            "relay_reply": mail.relay_reply, "sha256": mail.sha256, "seq": mail.seq,
            "in_reply_to_pk": mail.in_reply_to_pk, "reply_kind": mail.reply_kind,
            "approval": None if held is None else approval.approval_view(held)}


def list_outbound(session: Session, status: str | None = None,
                  case_ref: str | None = None) -> list[dict[str, Any]]:
    query = select(OutboundMail, Case.ref).join(Case, Case.id == OutboundMail.case_id)
    if status:
        query = query.where(OutboundMail.status == status)
    if case_ref:
        query = query.where(Case.ref == case_ref.strip().upper())
    rows = session.execute(query.order_by(OutboundMail.id)).all()
    held = approval.approvals_by_mail(session, [mail.id for mail, _ in rows])
    return [mail_view(mail, ref, held.get(mail.id)) for mail, ref in rows]


def details_for_case(session: Session, case: Case) -> dict[str, Any]:
    """For ``cases show``: the outbound mail of a case with its delivery state."""
    return {"outbound": list_outbound(session, case_ref=case.ref)}
