"""The audit pack (``commgate audit pack``): what a quality lead hands an auditor, in one zip
that the auditor can check offline.

It is an evidence package (``gateway.evidence.package``) of the cases a mock audit sampled, so
the sampled mail is byte-exact with its ledger entries and inclusion proofs, with these files
added under ``audit/`` (listed in the manifest and SHA256SUMS like every other file, so
``commgate audit verify-package`` checks them too and a changed procedure fails it)::

    audit/index.html        where each kind of evidence lives: in this pack and in commgate
    audit/procedure.html    the Customer Communication Procedure as configured, with its
    audit/procedure.md      measured conformance (gateway.evidence.procedure)
    audit/sample.json       the mock audit: seed, population, traces, readiness
    audit/sample.md         the same, readable
    audit/templates.json    every template version (text included) and its history
    audit/documents/NAME-vN.EXT  the published bytes of each controlled document in force
                            (its sha256 in the manifest equals the version's sha256)
    audit/documents.json    every controlled document: versions, history, who was sent which
    audit/approvals.json    the non-happy-path replies of the sampled cases: held, approved
                            or rejected by whom, and those sent without the approval required
    audit/reviews.json      the feedback reviews of the period, the stretches longer than the
                            cadence without one, and the items never reviewed

Why one package and not a zip of packages: one manifest, one signed checkpoint and one access
record cover everything, and the verifier an auditor already has checks it unchanged.
"""

from __future__ import annotations

import json
import mimetypes
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.core.errors import EvidenceError
from gateway.core.text import iso
from gateway.db.events import case_family
from gateway.db.models import Case
from gateway.db.outbound import OutboundMail, Template, TemplateEvent
from gateway.evidence import procedure
from gateway.evidence.package import PackageReport, export_package
from gateway.evidence.report import e
from gateway.evidence.select import Selection
from gateway.workflows import documents, feedback_reviews
from gateway.workflows.mock_audit import AuditSample, take_sample
from gateway.workflows.outbound import approval

if TYPE_CHECKING:
    from gateway.config import Settings
    from gateway.core.context import Context

PURPOSE = "audit-pack"
FOLDER = "audit/"
INDEX = FOLDER + "index.html"
DOCUMENTS = FOLDER + "documents/"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Where each kind of evidence lives: (kind, in this pack, in commgate).
LOCATIONS: tuple[tuple[str, str, str], ...] = (
    ("The procedure as configured, with measured conformance",
     "audit/procedure.html, audit/procedure.md", "commgate procedure"),
    ("Mock audit: sampled records, evidence present and missing, readiness",
     "audit/sample.md, audit/sample.json", "commgate audit sample --seed SEED"),
    ("Templates in force and every earlier version with its approval history",
     "audit/templates.json", "commgate templates list / templates show NAME"),
    ("Controlled documents in force (the bytes customers are sent, sha256 in manifest.json)",
     "audit/documents/", "commgate documents list; commgate documents get NAME -o FILE"),
    ("Controlled documents: every version, its approval history and who was sent which",
     "audit/documents.json", "commgate documents show NAME"),
    ("Non-happy-path replies: held, approved or rejected, and by whom",
     "audit/approvals.json, events.csv (outbound_held, outbound_approved)",
     "commgate outbound list --pending; commgate cases show REF"),
    ("Feedback reviews: attendees, decisions per item, cadence kept or not",
     "audit/reviews.json", "commgate feedback reviews; commgate procedure"),
    ("Calls, meetings and visits noted on the case (archived like mail)",
     "messages/*.eml, events.csv (note_recorded)", "commgate cases show REF"),
    ("Original mail, byte-exact, with ledger entries and inclusion proofs",
     "messages/*.eml, manifest.json", "commgate audit export; commgate archive verify"),
    ("Case timelines: who did what, when", "index.html, events.csv",
     "commgate cases show REF"),
    ("Requirement reviews and order decisions", "index.html (per case), events.csv",
     "commgate order show REF"),
    ("Scope-change reviews, confirmations and the customer's replies", "reviews.csv",
     "commgate review list"),
    ("Feedback, complaints and corrective action", "feedback-log.csv",
     "commgate feedback list; commgate feedback export"),
    ("Customer property and its chain of custody",
     "property-register.csv, property-custody.csv", "commgate property list"),
    ("The record that this pack was exported", "export-record.json",
     "commgate audit log --action export"),
    ("Integrity of this pack", "SHA256SUMS, manifest.json",
     "commgate audit verify-package FILE.zip --public-key KEY.pem"),
)


@dataclass(frozen=True)
class AuditPack:
    package: PackageReport
    sample: AuditSample


def build_pack(app: Context, *, actor: str, output: Path, days: int, per_kind: int,
               seed: int | None, now: datetime) -> AuditPack:
    """Sample, render the procedure and templates, and export the pack of the sampled cases."""
    with app.db.session() as session:
        sample = take_sample(session, app.settings, since=now - timedelta(days=days),
                             per_kind=per_kind, seed=seed)
        written = procedure.build(session, app.settings, days=days, now=now)
        templates = template_history(session)
        document_files = documents_in_force_files(session)
        document_records = document_history(session)
        approvals = approval_records(session, app.settings, sample.refs)
        reviews = feedback_reviews.review_cadence(session, app.settings,
                                                  now - timedelta(days=days), now)
    if not sample.refs:
        raise EvidenceError(f"nothing to sample: no accepted order, scope change, complaint "
                            f"or property item in the last {days} days (try --days)")
    files = {
        FOLDER + "procedure.md": procedure.render_markdown(written).encode(),
        FOLDER + "procedure.html": procedure.render_html(written).encode(),
        FOLDER + "sample.json": _json(sample.to_json()),
        FOLDER + "sample.md": render_sample_markdown(sample).encode(),
        FOLDER + "templates.json": _json(templates),
        FOLDER + "documents.json": _json(document_records),
        FOLDER + "approvals.json": _json(approvals),
        FOLDER + "reviews.json": _json(reviews),
        INDEX: render_index(sample, written).encode(),
    } | document_files
    report = export_package(app, Selection(cases=sample.refs), output, actor,
                            extra_files=files, purpose=PURPOSE)
    return AuditPack(report, sample)


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, indent=1, sort_keys=True).encode()


def template_history(session: Session) -> list[dict[str, Any]]:
    """Every version of every template with its text, status and transitions."""
    events: dict[int, list[dict[str, Any]]] = {}
    for ev in session.scalars(select(TemplateEvent).order_by(TemplateEvent.id)):
        events.setdefault(ev.template_id, []).append(
            {"at": iso(ev.at), "actor": ev.actor, "claimed_as": ev.claimed_as,
             "action": ev.action, "data": ev.data})
    return [{"name": t.name, "version": t.version, "status": t.status, "author": t.author,
             "approved_by": t.approved_by, "approved_at": iso(t.approved_at),
             "published_at": iso(t.published_at), "retired_at": iso(t.retired_at),
             "subject": t.subject, "body": t.body, "history": events.get(t.id, [])}
            for t in session.scalars(select(Template).order_by(Template.name,
                                                               Template.version))]


def document_file_name(name: str, version: int, content_type: str) -> str:
    """``audit/documents/NAME-vN.EXT``: the name is a checked document name, the extension
    follows the content type; the uploaded file name never becomes a path."""
    ext = mimetypes.guess_extension(content_type) or ".bin"
    return f"{DOCUMENTS}{name}-v{version}{ext}"


def documents_in_force_files(session: Session) -> dict[str, bytes]:
    """The published bytes of every controlled document in force (verified on read)."""
    files = {}
    for doc in documents.documents_in_force(session):
        version = documents.get(session, doc.name, doc.version)
        files[document_file_name(doc.name, doc.version, version.content_type)] = \
            documents.document_bytes(session, doc.name, doc.version)
    return files


def document_history(session: Session) -> list[dict[str, Any]]:
    """Every controlled document: each version, every step, and who was sent which."""
    names = sorted({row["name"] for row in documents.listing(session)})
    return [{"name": name, "versions": documents.listing(session, name),
             "history": documents.document_history(session, name),
             "sends": documents.sends(session, name)} for name in names]


def approval_records(session: Session, settings: Settings, refs: tuple[str, ...]
                     ) -> dict[str, Any]:
    """The sampled cases' replies that were held for approval, with the record of each, and
    those sent without the approval the matrix asks for."""
    cases = list(session.scalars(select(Case).where(Case.ref.in_(refs))))
    family = {case_id for case in cases for case_id in case_family(session, case)}
    mails = list(session.scalars(select(OutboundMail).where(
        OutboundMail.case_id.in_(sorted(family))).order_by(OutboundMail.id))) if family else []
    held = approval.approvals_by_mail(session, [m.id for m in mails])
    return {"held": [{"outbound_id": m.id, "case": ref_of(session, m.case_id),
                      "reply_kind": m.reply_kind, "status": m.status,
                      "approval": approval.approval_of(session, m.id)}
                     for m in mails if m.id in held],
            "sent_without_approval": [
                n.to_json() for n in approval.sent_needing_approval(
                    session, settings, EPOCH, family) if not n.approved]}


def ref_of(session: Session, case_id: int) -> str:
    case = session.get(Case, case_id)
    return case.ref if case is not None else ""


def _score(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def render_sample_markdown(sample: AuditSample) -> str:
    """The mock audit as a quality lead reads it: readiness first, then each trace."""
    out = [f"# Mock audit (seed {sample.seed})", "",
           f"Taken {iso(sample.taken_at)} over records since {iso(sample.since)}; up to "
           f"{sample.per_kind} per kind (population: " + ", ".join(
               f"{k} {n}" for k, n in sample.population.items()) + ").", "",
           f"Overall readiness: {_score(sample.overall.rate)} ({sample.overall.present} "
           f"present, {sample.overall.missing} missing)", ""]
    out += [f"- {name}: {_score(s.rate)} ({s.present} present, {s.missing} missing)"
            for name, s in sample.elements.items()]
    for trace in sample.traces:
        out += ["", f"## {trace.kind} {trace.ref}: {procedure.md_cell(trace.label)}", ""]
        out += [f"- [{item.status}] {item.name}: {procedure.md_cell(item.detail)}"
                for item in trace.evidence]
    return "\n".join(out) + "\n"


def render_index(sample: AuditSample, written: procedure.Procedure) -> str:
    """The pack's front page: where each kind of evidence lives, and the readiness."""
    rows = "".join(f"<tr><td>{e(kind)}</td><td><code>{e(here)}</code></td>"
                   f"<td><code>{e(there)}</code></td></tr>" for kind, here, there in LOCATIONS)
    scores = "".join(f"<tr><td>{e(name)}</td><td>{e(_score(s.rate))}</td><td>{s.present}</td>"
                     f"<td>{s.missing}</td></tr>" for name, s in sample.elements.items())
    missing = "".join(f"<li>{e(t.kind)} {e(t.ref)}: {e(item.name)}: {e(item.detail)}</li>"
                      for t in sample.traces for item in t.missing)
    return (
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
        "style-src 'unsafe-inline'\"><title>Audit pack</title><style>"
        "body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:72em;padding:0 1em}"
        "table{border-collapse:collapse;width:100%}th,td{border:1px solid #ccd;"
        "padding:.25em .5em;text-align:left;vertical-align:top}th{background:#eef}</style>"
        f"</head><body><h1>Audit pack ({e(written.case_prefix)})</h1>"
        f"<p>Made {e(iso(written.generated_at))}. Mock audit seed {e(sample.seed)} over the "
        f"last {e(written.days)} days; cases sampled: {e(', '.join(sample.refs))}.</p>"
        "<p>Check this pack offline: <code>commgate audit verify-package FILE.zip "
        "--public-key KEY.pem</code> (or <code>sha256sum -c SHA256SUMS</code> for the files "
        "alone).</p><h2>Where each kind of evidence lives</h2><table><thead><tr><th>Evidence"
        "</th><th>In this pack</th><th>In commgate</th></tr></thead><tbody>" + rows +
        "</tbody></table><h2>Readiness</h2><table><thead><tr><th>Element</th><th>Score</th>"
        "<th>Present</th><th>Missing</th></tr></thead><tbody>" + scores +
        f"<tr><th>overall</th><th>{e(_score(sample.overall.rate))}</th>"
        f"<th>{sample.overall.present}</th><th>{sample.overall.missing}</th></tr>"
        "</tbody></table><h2>Missing evidence</h2>" +
        (f"<ul>{missing}</ul>" if missing else "<p>None in this sample.</p>") +
        "</body></html>\n")
