"""Evidence packages: the selected mail byte-exact, with the proofs an auditor checks offline.

Layout of the zip (checked by :mod:`gateway.evidence.verify`)::

    messages/<seq>-<sha256>.eml   original bytes, named by ledger seq and sha256 (never by mail)
    manifest.json                 selection, cases (with the legal holds covering each),
                                  messages with their ledger entries and inclusion proofs,
                                  the signed checkpoint, public key and key id,
                                  the access-log entry of this export, every file's sha256
    export-record.json            the access-log record of this export (its bytes are in the
                                  ledger: the package proves its own export was logged)
    cases.csv messages.csv events.csv reviews.csv property-register.csv
    property-custody.csv feedback-log.csv
    index.html                    a self-contained report tracing each case
    SHA256SUMS                    every other file; ``sha256sum -c SHA256SUMS`` checks it

Order of work, and why: the database is read in one transaction (a consistent snapshot); the
export is recorded in the access log *before* any message bytes are read (a crash may lose an
export, never leave one unrecorded); then a checkpoint is signed if the ledger grew (so it
covers that record), proofs for every entry come from one pass over the ledger, and the zip is
written beside its destination and linked into place only when complete
(:mod:`gateway.evidence.bundle`: the message bytes are copied while the reports render).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from archive import LedgerEntry, public_key_path
from archive.checkpoints import Checkpoint, key_id, load_public_key
from archive.ledger import utc_now_iso
from archive.proofs import prove_entries
from gateway.core.text import iso
from gateway.db.events import case_families
from gateway.db.models import Case, CaseEvent, CaseLink, Message
from gateway.evidence.bundle import EvidenceError, PackageWriter
from gateway.evidence.report import render_report
from gateway.evidence.select import Selected, Selection, resolve
from gateway.evidence.tables import csv_files
from gateway.evidence.verify import (
    EXPORT_RECORD,
    FORMAT,
    MANIFEST,
    MESSAGES_DIR,
    REPORT,
    SUMS,
    message_path,
)
from gateway.workflows import feedback, retention, reviews
from gateway.workflows import property as property_register
from gateway.workflows.access_log import (
    RecordedAccess,
    export_failure_recorded,
    record_access,
)

if TYPE_CHECKING:
    from gateway.core.context import Context

_IN_CHUNK = 5000


def _in_chunks(ids: Iterable[int]) -> Iterator[list[int]]:
    """``ids`` sorted, a few thousand at a time: one IN list per query stays within what every
    backend takes."""
    ordered = sorted(ids)
    for start in range(0, len(ordered), _IN_CHUNK):
        yield ordered[start:start + _IN_CHUNK]


@dataclass(frozen=True)
class PackageReport:
    path: Path
    sha256: str
    size: int
    cases: tuple[str, ...]
    messages: int
    purged: int
    message_bytes: int
    files: int
    signed: bool
    tree_size: int
    export_seq: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "sha256": self.sha256, "size": self.size,
                "cases": list(self.cases), "messages": self.messages, "purged": self.purged,
                "message_bytes": self.message_bytes, "files": self.files,
                "signed": self.signed, "tree_size": self.tree_size,
                "export_seq": self.export_seq, "seconds": round(self.seconds, 3)}


def export_package(app: Context, selection: Selection, out_path: Path | str, actor: str, *,
                   extra_files: Mapping[str, bytes] | None = None, purpose: str = ""
                   ) -> PackageReport:
    """Build the evidence package for ``selection`` at ``out_path`` (never overwritten).

    ``extra_files`` (name -> bytes) go into the package beside the reports, listed in the
    manifest and SHA256SUMS like every other file, so the offline verify covers them (the
    audit pack's procedure, templates and traces); ``purpose`` is kept in the access record.
    """
    started = time.monotonic()
    out_path = Path(out_path)
    extra = dict(extra_files or {})
    _check_extra_names(extra)
    if out_path.exists():
        raise EvidenceError(f"{out_path} already exists; refusing to overwrite it")
    if not out_path.parent.is_dir():
        raise EvidenceError(f"no such folder: {out_path.parent}")
    with app.db.session() as session:
        selected = resolve(session, selection)
        data = collect(session, selected)
    exported_at = utc_now_iso()
    detail: dict[str, Any] = {
        "format": FORMAT, "selection": selection.to_dict(), "output": out_path.name,
        "cases": [c["ref"] for c in data["cases"]], "messages": len(data["messages"])}
    if purpose:
        detail |= {"purpose": purpose, "files": sorted(extra)}
    record = record_access(app, actor, "export", detail)
    with export_failure_recorded(app, actor, record.seq, out_path.name):
        return _build(app, selection, out_path, actor, data, record, exported_at, started,
                      extra)


def _check_extra_names(extra: Mapping[str, bytes]) -> None:
    """Extra files live in a folder of their own (the package's files are at its top, the
    messages in messages/), with plain relative names the verifier accepts."""
    for name in extra:
        parts = name.split("/")
        if (len(parts) < 2 or parts[0] + "/" == MESSAGES_DIR or not all(parts)
                or ".." in parts or "\\" in name):
            raise EvidenceError(f"{name!r} cannot be added to an evidence package: extra "
                                "files go in a folder of their own")


def _build(app: Context, selection: Selection, out_path: Path, actor: str,
           data: dict[str, Any], record: RecordedAccess, exported_at: str,
           started: float, extra: Mapping[str, bytes]) -> PackageReport:
    """The package of an export already recorded as ``record``."""
    wanted = {m["seq"] for m in data["messages"]}
    wanted |= {m["tombstone_seq"] for m in data["messages"] if m.get("tombstone_seq")}
    wanted.add(record.seq)
    key = app.settings.config.archive.checkpoint_key
    # One pass over the ledger: the entries, their proofs, and a checkpoint signed over them.
    proven = prove_entries(app.archive, wanted, app.settings.resolve(key) if key else None)
    entries, proofs, checkpoint = proven.entries, proven.proofs, proven.checkpoint
    tree_size, root = proven.tree_size, proven.root_hash
    public_pem, signing = _signing(app, checkpoint)

    manifest: dict[str, Any] = {
        "format": FORMAT, "exported_by": actor, "exported_at": exported_at,
        "selection": selection.to_dict(), "signing": signing,
        "checkpoint": checkpoint.to_json() if checkpoint else None,
        "tree_head": {"tree_size": tree_size, "root_hash": root,
                      "signed": checkpoint is not None},
        "public_key": ({"pem": public_pem, "key_id": checkpoint.key_id}
                       if checkpoint else None),
        "export_record": {"file": EXPORT_RECORD, "entry": _entry_json(entries[record.seq]),
                          "proof": proofs[record.seq]},
        "cases": data["cases"], "messages": [], "files": {},
    }
    manifest["messages"], to_copy = _describe_messages(data["messages"], entries, proofs)
    writer = PackageWriter(out_path, exported_at)
    try:
        # The message bytes are copied on a thread of their own while the reports render.
        copying = writer.start_messages(app.archive.read, to_copy)
        data["message_rows"] = _message_rows(manifest["messages"])
        reports = csv_files(data)
        reports[REPORT] = render_report(manifest, data).encode("utf-8")
        message_bytes = copying.result()
        writer.add(EXPORT_RECORD, app.archive.read(record.sha256))
        for name, content in (reports | dict(extra)).items():
            writer.add(name, content)
        manifest["files"] = dict(writer.digests)
        # Compact: the C encoder is ~10x faster than an indented dump; `jq .` pretty-prints.
        writer.add(MANIFEST, json.dumps(manifest, ensure_ascii=False).encode("utf-8"))
        digest, size = writer.finish(SUMS)
    except BaseException:
        writer.abort()
        raise
    purged = sum(1 for m in manifest["messages"] if m["purged"])
    return PackageReport(out_path, digest, size, tuple(c["ref"] for c in data["cases"]),
                         len(manifest["messages"]), purged, message_bytes,
                         len(writer.digests), checkpoint is not None, tree_size,
                         record.seq, time.monotonic() - started)


# -- the database snapshot ---------------------------------------------------------------------

def collect(session: Session, selected: Selected) -> dict[str, Any]:
    """Everything the package needs from the database, as plain JSON-ready values."""
    cases = selected.cases
    refs = {c.id: c.ref for c in cases}
    counts: dict[int, int] = {}
    for m in selected.messages:
        counts[m.case_id] = counts.get(m.case_id, 0) + 1
    events_by_case: dict[str, list[dict[str, Any]]] = {c.ref: [] for c in cases}
    raw_events = list(_chunked_events(session, list(refs)))
    seq_of = _message_seqs(session, {e.message_pk for e in raw_events if e.message_pk})
    for event in raw_events:
        events_by_case[refs[event.case_id]].append({
            "at": iso(event.at), "actor": event.actor, "claimed_as": event.claimed_as,
            "kind": event.kind,
            "message_seq": seq_of.get(event.message_pk) if event.message_pk else None,
            "data": event.data})
    links = _links(session, list(refs))
    merged_ref = _refs(session, {c.merged_into_id for c in cases if c.merged_into_id})
    holds = retention.holds_covering(session, cases)
    data: dict[str, Any] = {
        "cases": [_case_json(c, counts.get(c.id, 0), selected.reasons.get(c.id, ""),
                             links.get(c.id, []),
                             merged_ref.get(c.merged_into_id) if c.merged_into_id else None)
                  | {"holds": holds[c.id]} for c in cases],
        "messages": [_message_json(m, refs, selected) for m in selected.messages],
        "events": events_by_case, "reviews": [], "property": [], "orders": {},
    }
    wanted_refs = set(refs.values())
    data["feedback"] = [row for row in feedback.feedback_log(session)
                        if row["ref"] in wanted_refs]
    # A case's workflow records include those filed on the cases merged into it (its family),
    # whether or not those cases are in the selection themselves.
    families = case_families(session, [case.id for case in cases])
    own_kinds = _event_kinds(session, {i for ids in families.values() for i in ids})
    kinds_of = {case.id: set().union(*(own_kinds.get(i, set()) for i in families[case.id]))
                for case in cases}
    # Property items and their custody for every case that has any: two queries in all.
    items = property_register.details_for_cases(session, [
        case for case in cases if any(k.startswith("property_") for k in kinds_of[case.id])])
    listed: dict[int, dict[str, Any]] = {}
    for case in cases:
        kinds = kinds_of[case.id]
        if any(k.startswith("review_") for k in kinds):
            # Family-wide: a review of a merged case comes with the survivor and with itself.
            listed |= {review["id"]: review
                       for review in reviews.list_reviews(session, case=case)}
        if case.id in items:
            data["property"] += items[case.id]
        if kinds & {"checklist_updated", "order_accepted", "order_declined"}:
            order = reviews.details_for_case(session, case)
            data["orders"][case.ref] = {k: order[k] for k in ("linked", "checklist",
                                                              "checklist_gaps", "decisions")}
    data["reviews"] = sorted(listed.values(), key=lambda review: review["id"])
    return data


def _chunked_events(session: Session, case_ids: list[int]) -> Iterator[Any]:
    """Rows, not ORM objects: an export reads many events and changes none."""
    columns = (CaseEvent.case_id, CaseEvent.at, CaseEvent.actor, CaseEvent.claimed_as,
               CaseEvent.kind, CaseEvent.message_pk, CaseEvent.data)
    for chunk in _in_chunks(case_ids):
        yield from session.execute(select(*columns).where(CaseEvent.case_id.in_(chunk))
                                   .order_by(CaseEvent.id))


def _event_kinds(session: Session, case_ids: set[int]) -> dict[int, set[str]]:
    """The kinds of event each case has had: which workflow records it can have."""
    kinds: dict[int, set[str]] = {}
    for chunk in _in_chunks(case_ids):
        for case_id, kind in session.execute(
                select(CaseEvent.case_id, CaseEvent.kind).distinct()
                .where(CaseEvent.case_id.in_(chunk))):
            kinds.setdefault(case_id, set()).add(kind)
    return kinds


def _message_seqs(session: Session, pks: set[int]) -> dict[int, int]:
    found: dict[int, int] = {}
    for chunk in _in_chunks(pks):
        found.update(session.execute(select(Message.id, Message.first_seq).where(
            Message.id.in_(chunk))).all())
    return found


def _refs(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return dict(session.execute(select(Case.id, Case.ref).where(Case.id.in_(ids))).all())


def _links(session: Session, case_ids: list[int]) -> dict[int, list[dict[str, str]]]:
    links: dict[int, list[dict[str, str]]] = {}
    rows = [row for chunk in _in_chunks(case_ids)
            for row in session.execute(select(CaseLink.case_id, CaseLink.other_case_id,
                                              CaseLink.kind)
                                       .where(CaseLink.case_id.in_(chunk) |
                                              CaseLink.other_case_id.in_(chunk))).all()]
    names = _refs(session, {r[0] for r in rows} | {r[1] for r in rows})
    wanted = set(case_ids)
    for a, b, kind in rows:
        for mine, other in ((a, b), (b, a)):
            if mine in wanted:
                item = {"kind": kind, "case": names.get(other, "")}
                if item not in links.setdefault(mine, []):
                    links[mine].append(item)
    return links


def _case_json(case: Case, messages: int, reason: str, links: list[dict[str, str]],
               merged_into: str | None) -> dict[str, Any]:
    return {"ref": case.ref, "category": case.category, "status": case.status,
            "customer": case.customer, "alias": case.alias, "subject": case.subject,
            "opened_at": iso(case.opened_at), "resolved_at": iso(case.resolved_at),
            "closed_at": iso(case.closed_at), "owner_role": case.owner_role,
            "review_required": case.review_required, "merged_into": merged_into,
            "links": links, "included_because": reason, "messages": messages}


def _message_json(message: Message, refs: dict[int, str], selected: Selected
                  ) -> dict[str, Any]:
    return {"seq": message.first_seq, "sha256": message.sha256,
            "case": refs.get(message.case_id), "direction": message.direction,
            "alias": message.alias, "received_at": iso(selected.received.get(message.id)),
            "date": iso(message.date), "from": message.from_addr, "to": message.to_addrs,
            "subject": message.subject, "message_id": message.message_id,
            "attachments": message.attachments, "purged_at": iso(message.purged_at),
            "tombstone_seq": selected.tombstones.get(message.sha256)
            if message.purged_at else None}


def _describe_messages(messages: list[dict[str, Any]], entries: dict[int, LedgerEntry],
                       proofs: dict[int, dict[str, Any]]
                       ) -> tuple[list[dict[str, Any]], list[tuple[str, int, str]]]:
    """The manifest's message list, and the ``(member, seq, sha256)`` of each message whose
    bytes go into the package (a purged one has only its tombstone)."""
    described, to_copy = [], []
    for item in messages:
        entry = entries[item["seq"]]
        if entry.sha256 != item["sha256"]:
            raise EvidenceError(f"ledger entry seq {entry.seq} names blob {entry.sha256}, "
                                f"the database {item['sha256']}: run 'commgate archive "
                                "verify'")
        about = {**item, "entry": _entry_json(entry), "proof": proofs[entry.seq],
                 "file": None, "purged": None}
        if item["purged_at"] is None:
            about["file"] = message_path(entry.seq, entry.sha256)
            to_copy.append((about["file"], entry.seq, entry.sha256))
        else:
            about["purged"] = _purged(item, entries, proofs)
        about.pop("tombstone_seq", None)
        described.append(about)
    return described, to_copy


def _message_rows(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**m, "tombstone_seq": (m["purged"] or {}).get("tombstone", {}).get("seq")}
            for m in messages]


def _purged(item: dict[str, Any], entries: dict[int, LedgerEntry],
            proofs: dict[int, dict[str, Any]]) -> dict[str, Any]:
    seq = item.get("tombstone_seq")
    if not seq:
        raise EvidenceError(f"message seq {item['seq']} was purged but no tombstone names its "
                            "blob; run 'commgate archive verify'")
    return {"at": item["purged_at"], "tombstone": {"seq": seq,
                                                   "entry": _entry_json(entries[seq]),
                                                   "proof": proofs[seq]}}


def _entry_json(entry: LedgerEntry) -> dict[str, Any]:
    return {**entry.hashed_fields(), "entry_hash": entry.entry_hash}


# -- the archive side --------------------------------------------------------------------------

def _signing(app: Context, checkpoint: Checkpoint | None) -> tuple[str | None, str]:
    """The public key PEM that checks ``checkpoint``, and a line saying how the package is
    signed."""
    if checkpoint is None:
        return None, ("unsigned: archive.checkpoint_key is not set, so no checkpoint vouches "
                      "for these entries; the proofs lead to an unsigned tree head")
    key_path = app.settings.resolve(app.settings.config.archive.checkpoint_key)
    pub_path = public_key_path(key_path)
    public = load_public_key(pub_path)
    if key_id(public) != checkpoint.key_id:
        raise EvidenceError(f"{pub_path} is not the public half of {key_path}")
    return pub_path.read_text(), f"signed with Ed25519 key {checkpoint.key_id}"
