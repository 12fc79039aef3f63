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

Why one package and not a zip of packages: one manifest, one signed checkpoint and one access
record cover everything, and the verifier an auditor already has checks it unchanged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.core.errors import EvidenceError
from gateway.core.text import iso
from gateway.db.outbound import Template, TemplateEvent
from gateway.evidence import procedure
from gateway.evidence.package import PackageReport, export_package
from gateway.evidence.report import e
from gateway.evidence.select import Selection
from gateway.workflows.mock_audit import AuditSample, take_sample

if TYPE_CHECKING:
    from gateway.core.context import Context

PURPOSE = "audit-pack"
FOLDER = "audit/"
INDEX = FOLDER + "index.html"

# Where each kind of evidence lives: (kind, in this pack, in commgate).
LOCATIONS: tuple[tuple[str, str, str], ...] = (
    ("The procedure as configured, with measured conformance",
     "audit/procedure.html, audit/procedure.md", "commgate procedure"),
    ("Mock audit: sampled records, evidence present and missing, readiness",
     "audit/sample.md, audit/sample.json", "commgate audit sample --seed SEED"),
    ("Templates in force and every earlier version with its approval history",
     "audit/templates.json", "commgate templates list / templates show NAME"),
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
    if not sample.refs:
        raise EvidenceError(f"nothing to sample: no accepted order, scope change, complaint "
                            f"or property item in the last {days} days (try --days)")
    files = {
        FOLDER + "procedure.md": procedure.render_markdown(written).encode(),
        FOLDER + "procedure.html": procedure.render_html(written).encode(),
        FOLDER + "sample.json": _json(sample.to_json()),
        FOLDER + "sample.md": render_sample_markdown(sample).encode(),
        FOLDER + "templates.json": _json(templates),
        INDEX: render_index(sample, written).encode(),
    }
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
            {"at": iso(ev.at), "actor": ev.actor, "action": ev.action, "data": ev.data})
    return [{"name": t.name, "version": t.version, "status": t.status, "author": t.author,
             "approved_by": t.approved_by, "approved_at": iso(t.approved_at),
             "published_at": iso(t.published_at), "retired_at": iso(t.retired_at),
             "subject": t.subject, "body": t.body, "history": events.get(t.id, [])}
            for t in session.scalars(select(Template).order_by(Template.name,
                                                               Template.version))]


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
