"""What a person reads of archived mail in the web application: a case's messages (headers,
text, the list of attachments), one message's HTML part, one attachment's bytes.

Each function writes the access record (who, which blobs, why) *before* it reads a byte, as
``archive show`` does (``services.archive.show_raw``): a case page is one ``view-raw`` record
naming every message shown, an HTML part one more, a download an ``export`` record. ``queues``
are the aliases the reader may see (None: every one); a case outside them is refused before
anything is recorded or read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from gateway.core.errors import AccessDeniedError, CaseNotFoundError, GatewayError
from gateway.db.events import case_by_ref
from gateway.db.models import Message
from gateway.processing.parsing import MessageBody, read_body
from gateway.services.base import View
from gateway.workflows.access_log import record_access

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from gateway.core.context import Context

# Headers a reader is shown (in this order); the rest stay in the raw message.
SHOWN_HEADERS = ("from", "sender", "reply-to", "to", "cc", "date", "subject", "message-id",
                 "in-reply-to")


@dataclass(frozen=True)
class AttachmentInfo(View):
    index: int
    filename: str
    content_type: str
    size: int
    sha256: str


@dataclass(frozen=True)
class MessageContent(View):
    """One message as a person reads it; ``purged``: retention removed its content."""

    id: int
    sha256: str
    direction: str
    headers: tuple[tuple[str, str], ...]
    text: str
    has_html: bool
    attachments: tuple[AttachmentInfo, ...]
    purged: bool


@dataclass(frozen=True)
class CaseContent(View):
    ref: str
    messages: tuple[MessageContent, ...]
    access_seq: int | None  # None when there was nothing to read (no message, all purged)


@dataclass(frozen=True)
class HtmlPart(View):
    """The HTML parts of one message, joined, as received (the caller sanitises them)."""

    ref: str
    message: int
    html: str
    access_seq: int


@dataclass(frozen=True)
class AttachmentFile(View):
    filename: str
    content_type: str
    data: bytes
    access_seq: int

    def to_json(self) -> dict[str, Any]:
        return {"filename": self.filename, "content_type": self.content_type,
                "size": len(self.data), "access_seq": self.access_seq}


@dataclass(frozen=True)
class _Filed:
    id: int
    sha256: str
    direction: str
    purged: bool


def case_content(ctx: Context, *, actor: str, ref: str,
                 queues: frozenset[str] | None = None) -> CaseContent:
    """Every message of a case with its headers and text, recorded as one ``view-raw``."""
    with ctx.db.session() as session:
        case_ref, filed = _case_messages(session, ref, queues)
    readable = [m for m in filed if not m.purged]
    if not readable:
        return CaseContent(case_ref, tuple(_content(m, None) for m in filed), None)
    access = record_access(ctx, actor, "view-raw", {
        "case": case_ref, "sha256s": [m.sha256 for m in readable], "reason": "case page"})
    bodies = {m.sha256: read_body(ctx.archive.read(m.sha256)) for m in readable}
    return CaseContent(case_ref, tuple(_content(m, bodies.get(m.sha256)) for m in filed),
                       access.seq)


def message_html(ctx: Context, *, actor: str, ref: str, message: int,
                 queues: frozenset[str] | None = None) -> HtmlPart:
    """The HTML parts of one message of the case, recorded as a ``view-raw``."""
    filed = _one_message(ctx, ref, message, queues)
    access = record_access(ctx, actor, "view-raw", {
        "case": ref.strip().upper(), "sha256": filed.sha256, "reason": "HTML part"})
    body = read_body(ctx.archive.read(filed.sha256))
    return HtmlPart(ref.strip().upper(), filed.id, "\n".join(body.html), access.seq)


def attachment(ctx: Context, *, actor: str, ref: str, message: int, index: int,
               queues: frozenset[str] | None = None) -> AttachmentFile:
    """One attachment's bytes (its ``index`` in the message's list), recorded as an
    ``export`` of that attachment."""
    filed = _one_message(ctx, ref, message, queues)
    with ctx.db.session() as session:
        listed = session.scalar(select(Message.attachments).where(Message.id == filed.id))
    if not 0 <= index < len(listed or []):
        raise CaseNotFoundError(f"message {message} of {ref} has no attachment {index}")
    item = listed[index]  # type: ignore[index]
    access = record_access(ctx, actor, "export", {
        "what": "attachment", "case": ref.strip().upper(), "sha256": filed.sha256,
        "attachment_sha256": item["sha256"], "filename": item["filename"]})
    body = read_body(ctx.archive.read(filed.sha256))
    found = next((i for i, a in enumerate(body.parsed.attachments)
                  if a.sha256 == item["sha256"]), None)
    if found is None:  # the bytes no longer give what was filed: say so, never hand out other
        raise GatewayError(f"attachment {index} of message {message} is not in its archived "
                           "bytes; run 'commgate archive verify'")
    return AttachmentFile(item["filename"], item["content_type"], body.payloads[found],
                          access.seq)


def _case_messages(session: Session, ref: str, queues: frozenset[str] | None
                   ) -> tuple[str, list[_Filed]]:
    case = case_by_ref(session, ref)
    if queues is not None and case.alias not in queues:
        raise AccessDeniedError(f"{case.ref} is in the queue {case.alias}, which you may not "
                                "see")
    rows = session.execute(select(Message.id, Message.sha256, Message.direction,
                                  Message.purged_at).where(Message.case_id == case.id)
                           .order_by(Message.id))
    return case.ref, [_Filed(pk, sha, direction, purged is not None)
                      for pk, sha, direction, purged in rows]


def _one_message(ctx: Context, ref: str, message: int, queues: frozenset[str] | None) -> _Filed:
    with ctx.db.session() as session:
        _, filed = _case_messages(session, ref, queues)
    found = next((m for m in filed if m.id == message), None)
    if found is None:
        raise CaseNotFoundError(f"no message {message} in case {ref!r}")
    if found.purged:
        raise CaseNotFoundError(f"message {message} of {ref} was removed by retention")
    return found


def _content(filed: _Filed, body: MessageBody | None) -> MessageContent:
    if body is None:
        return MessageContent(filed.id, filed.sha256, filed.direction, (), "", False, (), True)
    parsed = body.parsed
    shown = tuple((name, value) for wanted in SHOWN_HEADERS
                  for name, value in parsed.headers if name.lower() == wanted)
    attachments = tuple(AttachmentInfo(i, a.filename, a.content_type, a.size, a.sha256)
                        for i, a in enumerate(parsed.attachments))
    return MessageContent(filed.id, filed.sha256, filed.direction, shown, parsed.text,
                          bool(body.html), attachments, False)
