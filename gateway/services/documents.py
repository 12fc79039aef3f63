"""Controlled documents (spec sheets, service descriptions, terms): add a draft version, approve
it (four eyes, the owner role), publish it, retire it, list, show and get any version. The
rules are gateway/workflows/documents.py's; each function here runs them in one transaction
with the actor recorded in the document history. Handing a version's bytes to a person is
recorded in the access log first (``view-document``), as viewing a raw message is."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from gateway.services.base import View
from gateway.services.rows import Listing, RowView
from gateway.workflows import documents
from gateway.workflows.access_log import record_access

if TYPE_CHECKING:
    from gateway.core.context import Context

Row = Mapping[str, Any]


@dataclasses.dataclass(frozen=True)
class DocumentVersion(RowView):
    """One version of a controlled document (its bytes are had with :func:`get_document`)."""

    name: str
    version: int
    status: str
    title: str
    owner_role: str
    filename: str
    content_type: str
    size: int
    sha256: str
    author: str
    created_at: str | None
    approved_by: str | None
    approved_at: str | None
    published_by: str | None
    published_at: str | None
    ended_by: str | None
    ended_at: str | None


@dataclasses.dataclass(frozen=True)
class DocumentEvent(RowView):
    at: str | None
    actor: str
    claimed_as: str | None
    action: str
    name: str
    version: int
    data: Row | None


@dataclasses.dataclass(frozen=True)
class DocumentSend(RowView):
    """One version sent to one recipient in one outbound mail."""

    at: str | None
    name: str
    version: int
    sha256: str
    recipient: str
    outbound_id: int
    case: str
    actor: str


@dataclasses.dataclass(frozen=True)
class DocumentDetail(View):
    """A document: every version (oldest first), its history and to whom each version went."""

    name: str
    versions: tuple[DocumentVersion, ...]
    history: tuple[DocumentEvent, ...]
    sends: tuple[DocumentSend, ...]

    @property
    def in_force(self) -> DocumentVersion | None:
        return next((v for v in self.versions if v.status == "published"), None)


@dataclasses.dataclass(frozen=True)
class DocumentFile(View):
    """The verified bytes of one version and the ledger seq of the record of this access."""

    version: DocumentVersion
    data: bytes
    access_seq: int

    def to_json(self) -> dict[str, Any]:
        return {**self.version.to_json(), "access_seq": self.access_seq}


def add_document(ctx: Context, *, actor: str, name: str, data: bytes, filename: str,
                 title: str, owner_role: str | None = None) -> DocumentVersion:
    """A new draft version of ``name``; someone else holding its owner role approves it."""
    with ctx.db.session() as session:
        return DocumentVersion.from_row(documents.view(documents.add(
            session, name, data, uploaded_name=filename, title=title, owner_role=owner_role,
            author=actor)))


def approve_document(ctx: Context, *, actor: str, name: str, version: int | None = None
                     ) -> DocumentVersion:
    """Approve a draft (default: the newest draft)."""
    with ctx.db.session() as session:
        return DocumentVersion.from_row(documents.view(
            documents.approve(session, name, version, actor)))


def publish_document(ctx: Context, *, actor: str, name: str, version: int | None = None
                     ) -> DocumentVersion:
    """Publish an approved version (default: the newest approved); the one before is
    superseded."""
    with ctx.db.session() as session:
        return DocumentVersion.from_row(documents.view(
            documents.publish(session, name, version, actor)))


def retire_document(ctx: Context, *, actor: str, name: str, version: int | None = None,
                    note: str = "") -> DocumentVersion:
    """Withdraw a version (default: the published one) with no successor."""
    with ctx.db.session() as session:
        return DocumentVersion.from_row(documents.view(
            documents.retire(session, name, version, actor, note)))


def list_documents(ctx: Context, *, actor: str) -> Listing[DocumentVersion]:
    """Every version of every document, by name and version."""
    del actor  # reading the register is not recorded; its bytes are (get_document)
    with ctx.db.session() as session:
        return Listing(tuple(DocumentVersion.from_row(r) for r in documents.listing(session)))


def show_document(ctx: Context, *, actor: str, name: str) -> DocumentDetail:
    with ctx.db.session() as session:
        documents.get(session, documents.check_name(name))
        versions = [DocumentVersion.from_row(r) for r in documents.listing(session, name)]
        history = [DocumentEvent.from_row(documents.event_view(e))
                   for e in documents.history(session, name)]
        sends = [DocumentSend.from_row(r) for r in documents.sends(session, name)]
    del actor
    return DocumentDetail(name, tuple(versions), tuple(history), tuple(sends))


def documents_in_force(ctx: Context, *, actor: str) -> tuple[documents.InForce, ...]:
    """The published version of every document (for the procedure and the audit pack)."""
    del actor
    with ctx.db.session() as session:
        return tuple(documents.documents_in_force(session))


def get_document(ctx: Context, *, actor: str, name: str, version: int | None = None,
                 purpose: str = "") -> DocumentFile:
    """The bytes of one version (default: the newest), superseded and retired ones included.
    The access is recorded before a byte is read, and the bytes are checked against their
    sha256."""
    with ctx.db.session() as session:
        doc = documents.get(session, documents.check_name(name), version)
        row = documents.view(doc)
    access = record_access(ctx, actor, "view-document", {
        "document": row["name"], "version": row["version"], "sha256": row["sha256"],
        "purpose": purpose})
    with ctx.db.session() as session:
        data = documents.document_bytes(session, row["name"], row["version"])
    return DocumentFile(DocumentVersion.from_row(row), data, access.seq)
