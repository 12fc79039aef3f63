"""Controlled documents (ISO 9001 7.5.3, 8.2.1 a): spec sheets, service descriptions, terms.

Any file. draft → approved → published → superseded (when a newer version is published) or
retired (withdrawn with no successor). The rules, as for reply templates
(:mod:`gateway.workflows.templates`), plus an owner:

- Every document has an owner role (one of the account roles, ``db.users.ROLES``). Approving,
  publishing and retiring need an enabled account of this installation holding that role, or
  an admin; the command line's actor is a login name with no role of its own, so without an
  account nobody may approve. A version that changes the owner role needs an admin to approve.
- Four eyes: the author of a version never approves it.
- Content is immutable and content-addressed: a version is born with its bytes and their
  sha256; a change is a new version. Superseded and retired versions stay retrievable.
- Every step is a row of the append-only ``document_events`` with actor and time; a version
  attached to outbound mail is a ``document_sends`` row per recipient and a case event.

Where the bytes live, and why: in the database table ``document_blobs`` keyed by sha256, not
in the archive's blob store. The archive's blobs are the ledger's (every blob is a ledger entry,
covered by ``archive verify``, retention expiry and erasure, and the processing queue files
every entry); a document is none of those, and the archive package must not learn about
documents. In the database the bytes commit in the same transaction as the version that names
them (no blob without its version, no version without its blob), on SQLite and PostgreSQL alike,
so several nodes share them. Tamper evidence: triggers refuse UPDATE and DELETE of a blob,
and :func:`content` recomputes the sha256 on every read and refuses bytes that differ. What a
customer actually received is in the archive anyway: the outbound message with the attachment
is archived before it is relayed.

Uploaded file names never become paths: :func:`display_name` keeps a sanitised name for the
attachment's ``filename`` parameter and for people to read, nothing else.
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.config import TEMPLATE_NAME
from gateway.core.clock import utcnow
from gateway.core.errors import WorkflowError
from gateway.core.text import iso
from gateway.db.documents import (
    DocumentBlob,
    DocumentEvent,
    DocumentSend,
    DocumentVersion,
)
from gateway.db.events import record
from gateway.db.models import Case
from gateway.db.outbound import OutboundMail
from gateway.db.users import ROLES, User
from gateway.workflows.four_eyes import refuse_same_login

MAX_DOCUMENT_BYTES = 10 * 1024 * 1024  # base64 makes it ~13.5 MB of mail; most relays take 25
MAX_TITLE_CHARS = 200
MAX_FILENAME_CHARS = 120
ADMIN = "admin"
_UNSAFE_NAME = re.compile(r"[^\w.()+,=@ -]+")
_CONTENT_TYPE = re.compile(r"^[a-z0-9][a-z0-9.+-]*/[a-z0-9][a-z0-9.+-]*$")


@dataclass(frozen=True)
class Attachment:
    """One file to attach to an outbound message: a display name, a MIME type, the bytes."""

    filename: str
    content_type: str
    data: bytes


# -- checks ----------------------------------------------------------------------------------

def check_name(name: str) -> str:
    if not TEMPLATE_NAME.match(name):
        raise WorkflowError(f"not allowed because {name!r} is not a document name (lower-case "
                            f"letters, digits, '.', '_' and '-', at most 64)")
    return name


def display_name(uploaded: str) -> str:
    """A name for people and the attachment's ``filename``, never a path: the last component
    of what the uploader called it, control and path characters replaced, no leading dot."""
    base = re.split(r"[\\/]", unicodedata.normalize("NFC", uploaded or ""))[-1]
    clean = " ".join(_UNSAFE_NAME.sub("_", base).split()).lstrip(".")
    if len(clean) > MAX_FILENAME_CHARS:
        stem, dot, ext = clean.rpartition(".")
        if dot and 0 < len(ext) <= 10:  # keep the extension: it names the type for people
            clean = stem[:MAX_FILENAME_CHARS - len(ext) - 1] + "." + ext
        else:
            clean = clean[:MAX_FILENAME_CHARS]
    return clean.strip() or "document"


def content_type_of(filename: str) -> str:
    """The MIME type a mail client expects for ``filename`` (by its extension). A message or
    multipart type would make the attachment a part of the mail's own structure (base64 is
    not allowed there, RFC 2046 §5): such files go as opaque bytes."""
    guessed, _ = mimetypes.guess_type(filename, strict=False)
    guessed = (guessed or "").lower()
    if not _CONTENT_TYPE.match(guessed) or guessed.startswith(("message/", "multipart/")):
        return "application/octet-stream"
    return guessed


def role_of(session: Session, actor: str) -> str:
    """The role of the enabled account named ``actor`` ("" when there is none)."""
    user = session.scalars(select(User).where(User.name == actor)).one_or_none()
    return "" if user is None or user.disabled else user.role


def _require_owner(session: Session, doc: DocumentVersion, actor: str, what: str,
                   *, admin_only: bool = False) -> str:
    role = role_of(session, actor)
    allowed = (ADMIN,) if admin_only else (doc.owner_role, ADMIN)
    if role not in allowed:
        has = (f"has the role {role}" if role else
               "has no enabled account of this installation ('commgate users add')")
        needs = ("an admin (the version changes the owner role)" if admin_only else
                 f"the owner role {doc.owner_role} or admin")
        raise WorkflowError(f"not allowed because {what} {doc.name} v{doc.version} needs "
                            f"{needs}, and {actor} {has}")
    return role


# -- the life of a document ------------------------------------------------------------------

def add(session: Session, name: str, data: bytes, *, uploaded_name: str, title: str,
        owner_role: str | None, author: str) -> DocumentVersion:
    """A new draft version of ``name`` (version 1 for a new name) holding ``data``.

    ``owner_role`` may be left out for a new version of an existing document (it keeps its
    owner); a new document needs one.
    """
    check_name(name)
    title = " ".join(title.split())
    if not title or len(title) > MAX_TITLE_CHARS:
        raise WorkflowError(f"not allowed because a document needs a one-line title of at "
                            f"most {MAX_TITLE_CHARS} characters")
    if not data:
        raise WorkflowError("not allowed because the file is empty")
    if len(data) > MAX_DOCUMENT_BYTES:
        raise WorkflowError(f"not allowed because the file has {len(data)} bytes, more than "
                            f"{MAX_DOCUMENT_BYTES} (it is sent as a mail attachment)")
    latest = latest_version(session, name)
    role = owner_role or (latest.owner_role if latest else "")
    if role not in ROLES:
        raise WorkflowError(f"not allowed because {role or '(none)'!r} is not an owner role "
                            f"({', '.join(ROLES)}): give --owner-role")
    sha = _store_blob(session, data)
    filename = display_name(uploaded_name)
    doc = DocumentVersion(
        name=name, version=(latest.version if latest else 0) + 1, status="draft", title=title,
        owner_role=role, filename=filename, content_type=content_type_of(filename),
        size=len(data), sha256=sha, author=author, created_at=utcnow())
    session.add(doc)
    session.flush()
    changes = ({"owner_role": {"from": latest.owner_role, "to": role}}
               if latest and latest.owner_role != role else {})
    _history(session, doc, "drafted", author, {"sha256": sha, "size": doc.size,
                                               "filename": filename, **changes})
    return doc


def get(session: Session, name: str, version: int | None = None,
        *, for_update: bool = False) -> DocumentVersion:
    """One version (the newest when ``version`` is None)."""
    query = select(DocumentVersion).where(DocumentVersion.name == name)
    query = (query.where(DocumentVersion.version == version) if version is not None
             else query.order_by(DocumentVersion.version.desc()).limit(1))
    if for_update:
        query = query.with_for_update()
    doc = session.scalars(query).first()
    if doc is None:
        what = f"{name!r} version {version}" if version is not None else repr(name)
        raise WorkflowError(f"not allowed because there is no document {what}: see "
                            f"'commgate documents list'")
    return doc


def latest_version(session: Session, name: str) -> DocumentVersion | None:
    newest = session.scalar(select(func.max(DocumentVersion.version))
                            .where(DocumentVersion.name == name))
    return None if newest is None else get(session, name, newest)


def approve(session: Session, name: str, version: int | None, approver: str
            ) -> DocumentVersion:
    """Four eyes: someone other than the author, holding the owner role (or admin)."""
    doc = _pick(session, name, version, "draft")
    if doc.status != "draft":
        raise WorkflowError(f"not allowed because {name} v{doc.version} is {doc.status}, "
                            f"not a draft")
    if approver.casefold() == doc.author.casefold():
        raise WorkflowError(f"not allowed because {approver} drafted {name} v{doc.version}: "
                            f"a different person must approve it")
    drafted = session.scalars(select(DocumentEvent.actor).where(
        DocumentEvent.version_id == doc.id, DocumentEvent.action == "drafted"))
    refuse_same_login(session, author=doc.author, author_logins=drafted, approver=approver,
                      what=f"{name} v{doc.version}")
    previous = _published(session, name) or _newest_before(session, name, doc.version)
    changes_owner = previous is not None and previous.owner_role != doc.owner_role
    _require_owner(session, doc, approver, "approving", admin_only=changes_owner)
    doc.status, doc.approved_by, doc.approved_at = "approved", approver, utcnow()
    _history(session, doc, "approved", approver, {"sha256": doc.sha256})
    return doc


def publish(session: Session, name: str, version: int | None, actor: str) -> DocumentVersion:
    """Make an approved version the one in force; the one published before is superseded
    (and stays retrievable)."""
    doc = _pick(session, name, version, "approved")
    if doc.status != "approved":
        raise WorkflowError(f"not allowed because {name} v{doc.version} is {doc.status}: only "
                            f"an approved version can be published")
    _require_owner(session, doc, actor, "publishing")
    now = utcnow()
    previous = session.scalars(select(DocumentVersion).where(
        DocumentVersion.name == name, DocumentVersion.status == "published")
        .with_for_update()).all()
    for old in previous:
        old.status, old.ended_by, old.ended_at = "superseded", actor, now
        _history(session, old, "superseded", actor, {"by_version": doc.version})
    doc.status, doc.published_by, doc.published_at = "published", actor, now
    _history(session, doc, "published", actor,
             {"sha256": doc.sha256, "supersedes": [old.version for old in previous]})
    return doc


def retire(session: Session, name: str, version: int | None, actor: str, note: str = ""
           ) -> DocumentVersion:
    """Withdraw a version (by default the published one) without a successor: nothing of
    ``name`` can be sent until another version is published. Its bytes stay retrievable."""
    doc = _pick(session, name, version, "published")
    if doc.status not in ("draft", "approved", "published"):
        raise WorkflowError(f"not allowed because {name} v{doc.version} is already "
                            f"{doc.status}")
    _require_owner(session, doc, actor, "retiring")
    was = doc.status
    doc.status, doc.ended_by, doc.ended_at = "retired", actor, utcnow()
    _history(session, doc, "retired", actor, {"was": was, "note": note.strip()})
    return doc


def _pick(session: Session, name: str, version: int | None, status: str) -> DocumentVersion:
    """The version asked for, or the newest one in ``status`` when none is named."""
    check_name(name)
    if version is not None:
        return get(session, name, version, for_update=True)
    doc = session.scalars(select(DocumentVersion).where(
        DocumentVersion.name == name, DocumentVersion.status == status)
        .order_by(DocumentVersion.version.desc()).limit(1).with_for_update()).first()
    if doc is None:
        get(session, name)  # no such document at all: say so
        raise WorkflowError(f"not allowed because {name} has no {status} version: name one "
                            f"with --version")
    return doc


def _newest_before(session: Session, name: str, version: int) -> DocumentVersion | None:
    return session.scalars(select(DocumentVersion).where(
        DocumentVersion.name == name, DocumentVersion.version < version)
        .order_by(DocumentVersion.version.desc()).limit(1)).first()


def _published(session: Session, name: str) -> DocumentVersion | None:
    return session.scalars(select(DocumentVersion).where(
        DocumentVersion.name == name, DocumentVersion.status == "published")).first()


def published(session: Session, name: str) -> DocumentVersion:
    """The version of ``name`` that may be sent now."""
    check_name(name)
    doc = _published(session, name)
    if doc is None:
        get(session, name)
        raise WorkflowError(f"not allowed because document {name!r} has no published version "
                            f"(add → approve → publish first)")
    return doc


# -- bytes -----------------------------------------------------------------------------------

def _store_blob(session: Session, data: bytes) -> str:
    sha = hashlib.sha256(data).hexdigest()
    if session.get(DocumentBlob, sha) is None:
        session.add(DocumentBlob(sha256=sha, size=len(data), content=data, created_at=utcnow()))
        session.flush()
    return sha


def content(session: Session, doc: DocumentVersion) -> bytes:
    """The bytes of ``doc``, refused unless they still hash to its sha256."""
    blob = session.get(DocumentBlob, doc.sha256)
    if blob is None:
        raise WorkflowError(f"{doc.name} v{doc.version}: its content {doc.sha256} is missing")
    data = bytes(blob.content)
    if hashlib.sha256(data).hexdigest() != doc.sha256 or len(data) != doc.size:
        raise WorkflowError(f"{doc.name} v{doc.version}: the stored content no longer matches "
                            f"its sha256 {doc.sha256} (tampered with or damaged)")
    return data


def attachment(session: Session, doc: DocumentVersion) -> Attachment:
    return Attachment(doc.filename, doc.content_type, content(session, doc))


# -- sending ---------------------------------------------------------------------------------

def attach(session: Session, mail: OutboundMail, case: Case, name: str, actor: str
           ) -> DocumentVersion:
    """Attach the published version of ``name`` to queued ``mail``: one send row per
    recipient and a case event naming name, version, sha256, recipients and the mail."""
    doc = published(session, name)
    content(session, doc)  # refuse to promise bytes that no longer verify
    now = utcnow()
    for recipient in mail.to_addrs:
        session.add(DocumentSend(version_id=doc.id, name=doc.name, version=doc.version,
                                 sha256=doc.sha256, outbound_id=mail.id, case_id=case.id,
                                 recipient=recipient.lower(), actor=actor, at=now))
    session.flush()
    record(session, case, "document_attached", {
        "outbound_id": mail.id, "document": doc.name, "version": doc.version,
        "sha256": doc.sha256, "filename": doc.filename, "to": list(mail.to_addrs)},
        actor=actor, message_pk=mail.in_reply_to_pk)
    return doc


def attachments_for(session: Session, outbound_ids: Iterable[int]
                    ) -> dict[int, list[Attachment]]:
    """The attachments of each outbound mail, in the order they were attached: what
    :func:`gateway.workflows.outbound.queue.compose` adds to the bytes."""
    ids = list(outbound_ids)
    if not ids:
        return {}
    rows = session.execute(select(DocumentSend.outbound_id, DocumentSend.version_id).where(
        DocumentSend.outbound_id.in_(ids)).order_by(DocumentSend.id)).all()
    versions: dict[int, list[int]] = {}
    for outbound_id, version_id in rows:
        chosen = versions.setdefault(outbound_id, [])
        if version_id not in chosen:
            chosen.append(version_id)
    result = {}
    for outbound_id, version_ids in versions.items():
        docs = [session.get(DocumentVersion, v) for v in version_ids]
        result[outbound_id] = [attachment(session, d) for d in docs if d is not None]
    return result


# -- what later features read (the procedure, the audit pack) -------------------------------

@dataclass(frozen=True)
class InForce:
    """A document's published version: what customers are sent now, and who approved it."""

    name: str
    version: int
    title: str
    owner_role: str
    filename: str
    sha256: str
    size: int
    author: str
    approved_by: str | None
    approved_at: str | None
    published_by: str | None
    published_at: str | None


def documents_in_force(session: Session) -> list[InForce]:
    """Every document's published version, by name."""
    rows = session.scalars(select(DocumentVersion).where(DocumentVersion.status == "published")
                           .order_by(DocumentVersion.name))
    return [InForce(d.name, d.version, d.title, d.owner_role, d.filename, d.sha256, d.size,
                    d.author, d.approved_by, iso(d.approved_at), d.published_by,
                    iso(d.published_at)) for d in rows]


def document_history(session: Session, name: str) -> list[dict[str, Any]]:
    """Every step of ``name`` (every version), oldest first, as :func:`event_view` rows."""
    return [event_view(e) for e in history(session, name)]


def document_bytes(session: Session, name: str, version: int) -> bytes:
    """The verified bytes of one version (any state, superseded included). Handing them to a
    person is recorded by the caller (``services.documents.get_document`` does)."""
    return content(session, get(session, name, version))


# -- read models -----------------------------------------------------------------------------

def listing(session: Session, name: str | None = None) -> list[dict[str, Any]]:
    """Every version (of ``name`` only, when given), by name and version."""
    query = select(DocumentVersion).order_by(DocumentVersion.name, DocumentVersion.version)
    if name is not None:
        query = query.where(DocumentVersion.name == name)
    return [view(d) for d in session.scalars(query)]


def history(session: Session, name: str) -> list[DocumentEvent]:
    return list(session.scalars(select(DocumentEvent).where(DocumentEvent.name == name)
                                .order_by(DocumentEvent.id)))


def sends(session: Session, name: str) -> list[dict[str, Any]]:
    """Who was sent which version of ``name``, oldest first."""
    rows = session.execute(select(DocumentSend, Case.ref).join(
        Case, Case.id == DocumentSend.case_id).where(DocumentSend.name == name)
        .order_by(DocumentSend.id))
    return [send_view(send, ref) for send, ref in rows]


def view(doc: DocumentVersion) -> dict[str, Any]:
    return {"name": doc.name, "version": doc.version, "status": doc.status, "title": doc.title,
            "owner_role": doc.owner_role, "filename": doc.filename,
            "content_type": doc.content_type, "size": doc.size, "sha256": doc.sha256,
            "author": doc.author, "created_at": iso(doc.created_at),
            "approved_by": doc.approved_by, "approved_at": iso(doc.approved_at),
            "published_by": doc.published_by, "published_at": iso(doc.published_at),
            "ended_by": doc.ended_by, "ended_at": iso(doc.ended_at)}


def event_view(event: DocumentEvent) -> dict[str, Any]:
    return {"at": iso(event.at), "actor": event.actor, "claimed_as": event.claimed_as,
            "action": event.action,
            "name": event.name, "version": event.version, "data": event.data}


def send_view(send: DocumentSend, ref: str) -> dict[str, Any]:
    return {"at": iso(send.at), "name": send.name, "version": send.version,
            "sha256": send.sha256, "recipient": send.recipient, "outbound_id": send.outbound_id,
            "case": ref, "actor": send.actor}


def _history(session: Session, doc: DocumentVersion, action: str, actor: str,
             data: dict[str, Any]) -> None:
    session.add(DocumentEvent(version_id=doc.id, name=doc.name, version=doc.version,
                              action=action, actor=actor, at=utcnow(), data=data))
    session.flush()

