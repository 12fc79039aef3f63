"""The Customer Communication Procedure of this installation (ISO 9001 8.2.1), generated from
its configuration and measured against its records (``commgate procedure``).

Auditors ask for a written procedure, and a top finding is that the "official" process differs
from what sales and support do. So the procedure is not written by hand: the lifecycle map
(phase -> alias -> owner role -> record type -> targets) comes from ``[[aliases]]`` and
``[lifecycle]``, the controls of each element of clause 8.2.1 from what this installation
enforces (published templates, review and acceptance rules, feedback routing, property
handling), the escalation and retention rules from their sections, and the last section
measures from the records how often each rule was kept (``gateway.workflows.conformance``).

What each element says is a :class:`Control` in :data:`CONTROLS` (the element and a function
``fn(session, settings) -> lines``). The templates and the controlled documents in force
(``workflows.documents.documents_in_force``) are tabled with their versions and approvers; the
``[approval]`` matrix is stated with the escalation rules, the feedback review cadence with the
feedback routing, and how a call's outcome reaches the record with the orders.

Two renderings of one :class:`Procedure`: Markdown (table cells with ``|`` and line breaks
neutralised) and a self-contained HTML page in which every value is escaped (no scripts, a
Content-Security-Policy that loads nothing), as the evidence package's report.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.config import REVIEW_TEMPLATE_DEFAULTS
from gateway.core.text import iso
from gateway.db.models import LegalHold
from gateway.db.outbound import Template
from gateway.db.property import PROPERTY_KINDS
from gateway.db.reviews import CHECKLIST_ITEMS
from gateway.evidence.report import e
from gateway.workflows import conformance, documents, feedback, lifecycle

if TYPE_CHECKING:
    from gateway.config import Settings

FORMATS = ("md", "html")


@dataclass(frozen=True)
class Phase:
    """A phase of the customer's lifecycle, the case category that carries it, its record."""

    name: str
    category: str
    record: str


PHASES: tuple[Phase, ...] = (
    Phase("pre-sale information", "enquiry",
          "outbound reply from a published template (name, version, approver) on the case"),
    Phase("enquiry intake", "enquiry",
          "enquiry case: archived message (ledger entry), classification, case events"),
    Phase("quote, contract and order", "order",
          "order case: requirement-review checklist, order decision, scope-change reviews"),
    Phase("delivery and status", "order",
          "order case: replies and confirmations (archived outbound mail), response times"),
    Phase("feedback and complaints", "feedback",
          "feedback record: type, severity, corrective action, resolution note"),
    Phase("customer property", "property",
          "property register item and its append-only chain of custody"),
)


@dataclass(frozen=True)
class MapRow:
    phase: str
    alias: str
    queue: str
    owner_role: str
    record: str
    first_response_hours: float | None
    resolution_hours: float | None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Control:
    """How one element is controlled here: lines of the procedure built from the setup."""

    element: str
    describe: Callable[[Session, Settings], list[str]]


@dataclass(frozen=True)
class Section:
    element: str
    title: str
    lines: tuple[str, ...]


@dataclass(frozen=True)
class Procedure:
    generated_at: datetime
    since: datetime
    days: int
    case_prefix: str
    lifecycle_map: tuple[MapRow, ...]
    elements: tuple[Section, ...]
    templates: tuple[dict[str, Any], ...]
    documents: tuple[dict[str, Any], ...]
    escalation: tuple[str, ...]
    retention: tuple[str, ...]
    conformance: tuple[conformance.ConformanceResult, ...]

    def to_json(self) -> dict[str, Any]:
        return {"generated_at": iso(self.generated_at), "since": iso(self.since),
                "days": self.days, "case_prefix": self.case_prefix,
                "lifecycle_map": [row.to_json() for row in self.lifecycle_map],
                "elements": [{"element": s.element, "title": s.title, "lines": list(s.lines)}
                             for s in self.elements],
                "templates": list(self.templates), "documents": list(self.documents),
                "escalation": list(self.escalation),
                "retention": list(self.retention),
                "conformance": [r.to_json() for r in self.conformance]}


def build(session: Session, settings: Settings, *, days: int, now: datetime) -> Procedure:
    """The procedure as configured now, with conformance measured over the last ``days``."""
    since = now - timedelta(days=days)
    sections = []
    for element, title in conformance.ELEMENTS.items():
        lines = [line for c in CONTROLS if c.element == element
                 for line in c.describe(session, settings)]
        sections.append(Section(element, title, tuple(lines)))
    return Procedure(now, since, days, settings.config.case_prefix,
                     tuple(lifecycle_map(settings)), tuple(sections),
                     tuple(templates_in_force(session)), tuple(controlled_documents(session)),
                     tuple(escalation(settings)),
                     tuple(retention(session, settings)),
                     tuple(conformance.measure_all(session, settings, since)))


def lifecycle_map(settings: Settings) -> list[MapRow]:
    """One row per phase and alias: who owns it there and how fast it must be answered."""
    rows = []
    for phase in PHASES:
        for alias in settings.config.aliases:
            targets = lifecycle.targets_for(settings, alias.address, phase.category)
            rows.append(MapRow(phase.name, alias.address, alias.queue_name, targets.owner_role,
                               phase.record, targets.first_response_hours,
                               targets.resolution_hours))
    return rows


def templates_in_force(session: Session) -> list[dict[str, Any]]:
    """The published version of every template: what may be sent now, who approved it."""
    return [{"name": t.name, "version": t.version, "author": t.author,
             "approved_by": t.approved_by, "approved_at": iso(t.approved_at),
             "published_at": iso(t.published_at), "subject": t.subject}
            for t in session.scalars(select(Template).where(Template.status == "published")
                                     .order_by(Template.name))]


def controlled_documents(session: Session) -> list[dict[str, Any]]:
    """The published version of every controlled document: what customers are sent now, its
    bytes (sha256), who approved and published it, and the role that owns it."""
    return [asdict(doc) for doc in documents.documents_in_force(session)]


# -- controls of each element -----------------------------------------------------------------

def _information(session: Session, settings: Settings) -> list[str]:
    count = len(templates_in_force(session))
    docs = documents.documents_in_force(session)
    acks = settings.config.outbound.acknowledge
    lines = [
        "Customer-facing text is sent from templates: draft -> approved by a person other "
        "than its author -> published; an approved text never changes (a change is a new "
        "version) and every transition is kept with who and when.",
        f"{count} template(s) in force (published); see 'Templates and controlled documents "
        f"in force'.",
        "Product and service information (spec sheets, service descriptions, terms) is kept "
        "as controlled documents: each has an owner role; a version is approved by a holder "
        "of that role other than its author, then published; its bytes never change (sha256) "
        "and superseded versions stay retrievable ('commgate documents').",
        f"{len(docs)} controlled document(s) in force: " + (", ".join(
            f"{d.name} v{d.version} (owner {d.owner_role}, approved by {d.approved_by})"
            for d in docs) if docs else "none") + ".",
        "'commgate reply REF --attach-document NAME' sends the published version and records "
        "which version (sha256) went to which recipient on which case.",
        "Every outbound mail is archived (ledger entry, sha256) before it is relayed, with "
        "the template name and version it was made from.",
    ]
    if acks:
        lines.append("New cases are acknowledged automatically: " + ", ".join(
            f"{alias} with '{name}'" for alias, name in sorted(acks.items())) + ".")
    return lines


def _orders(session: Session, settings: Settings) -> list[str]:
    decisions = ", ".join(f"{key} -> '{settings.config.reviews.template_for(*key.split('/'))}'"
                          for key in REVIEW_TEMPLATE_DEFAULTS if key.startswith("scope"))
    return [
        f"An order is accepted only when the requirement review is complete (each of "
        f"{', '.join(CHECKLIST_ITEMS)} checked ok or n/a) and no review is pending on the "
        f"case, its linked cases or a case naming the same order number; the acceptance names "
        f"who, when and the customer's message, and keeps the checklist as it stood.",
        "A message flagged as a scope change opens a review; the case cannot be accepted or "
        "closed until a reviewer approves or rejects it with a note.",
        f"The decision is confirmed to the customer from a published template ({decisions}); "
        f"the customer's reply quoting it is linked to the review as the confirmation.",
    ]


def _feedback(session: Session, settings: Settings) -> list[str]:
    owner = {lifecycle.targets_for(settings, a.address, "feedback").owner_role
             for a in settings.config.aliases}
    return [
        "Mail classified as feedback opens a feedback record; the classifier only suggests "
        "a type, a person sets it (complaint, suggestion, praise, survey) before the case can "
        "be closed.",
        f"Feedback cases are owned by: {', '.join(sorted(owner)) or 'staff'}.",
        "A complaint cannot be closed without a corrective-action reference and a "
        "resolution note; taking a record out of 'complaint' needs a note and a quality role "
        f"({', '.join(feedback.QUALITY_ROLES)}), and the feedback log keeps every type change.",
        f"Feedback is reviewed in a recorded meeting at least every "
        f"{settings.config.feedback.review_every_days} days ([feedback] review_every_days; "
        "'commgate feedback review'): attendees, and for each item a decision (corrective "
        "action, improvement, or no action with the reason), on the item's case.",
    ]


def _property(session: Session, settings: Settings) -> list[str]:
    return [
        "Customer property is registered per item with its owner; its chain of custody "
        f"({' -> '.join(('announced', 'received', 'in-use', 'returned'))}, or destroyed / "
        "lost-damaged) is an append-only history.",
        "A receipt needs the condition on receipt and where the item is kept; a return needs "
        "the destination and the shipment reference; destruction, loss or damage need a note.",
        "Loss or damage opens an incident review: the case cannot be closed or accepted until "
        "it is decided and reported to the customer.",
        f"Kinds of property: {', '.join(PROPERTY_KINDS)}.",
    ]


def _response(session: Session, settings: Settings) -> list[str]:
    lines = ["Every case gets an owner role and due times from the most specific "
             "[lifecycle.targets] entry (alias+category, category, alias, catch-all); the "
             "clock runs from the case's opening, also while waiting on the customer.",
             "An automatic acknowledgement is not a first response; a person's reply is."]
    if not settings.config.lifecycle.targets:
        lines.append("No response targets are configured: nothing is measured against a "
                     "target and nothing escalates.")
    return lines


def _calls(session: Session, settings: Settings) -> list[str]:
    return [
        "Calls, meetings, visits and portal messages reach the record as notes: 'commgate "
        "cases note REF --channel phone|meeting|visit|portal --summary TEXT [--outcome TEXT] "
        "[--attach FILE]' (or the case page) archives the note like mail (ledger entry, "
        "sha256) on the case, in its timeline and evidence packages.",
        "A note that carries a scope change (a customer who phones to change a quantity) "
        "opens the same review a change by mail does.",
    ]


CONTROLS: tuple[Control, ...] = (
    Control("information", _information),
    Control("orders", _orders),
    Control("orders", _calls),
    Control("feedback", _feedback),
    Control("property", _property),
    Control("response", _response),
)


def escalation(settings: Settings) -> list[str]:
    config = settings.config.lifecycle
    addresses = config.role_addresses
    lines = [f"Overdue cases are looked for every {config.escalate_every_minutes:g} minutes; "
             f"each breach (first response, resolution) of one due time is escalated once."]
    for role in lifecycle.owner_roles(settings):
        where = addresses.get(role)
        lines.append(f"Role {role}: escalations mailed to {where}" if where else
                     f"Role {role}: no escalation address; breaches are recorded on the case "
                     f"only")
    lines += approval_rules(settings)
    lines += ["Templates are approved by a person other than their author before they can "
              "be published; controlled documents by a holder of their owner role other than "
              "their author.",
              "Review decisions, order declines, property loss/damage/destruction and type "
              "changes out of 'complaint' each need a note saying why."]
    return lines


def approval_rules(settings: Settings) -> list[str]:
    """The [approval] matrix: which non-happy-path replies wait for a second person."""
    config = settings.config.approval
    if not config.kinds and not config.states:
        return ["No [approval] matrix is configured: no reply waits for a second person's "
                "approval before it is sent."]
    lines = [f"Replies of kind {kind} are held until approved by the role {role}."
             for kind, role in config.kinds.items()]
    lines += [f"Any reply on a case in state {state} is held until approved by the role "
              f"{role}." for state, role in config.states.items()]
    lines += ["The approver is a person other than the author holding the role (or an admin); "
              "a rejection needs a note; holding, approval and rejection are case events.",
              f"A reply waiting longer than {config.escalate_after_minutes:g} minutes is "
              f"escalated to the role's address, again after each further interval."]
    return lines


def retention(session: Session, settings: Settings) -> list[str]:
    config = settings.config.retention
    lines = [f"Mail is kept {config.default_days} days after receipt unless a rule below "
             f"says otherwise; retention is fixed when a message is filed and only ever "
             f"extended."]
    lines += [f"{rule.alias or 'any alias'}, {rule.category or 'any category'}: {rule.days} days"
              for rule in config.rules]
    lines.append("Expired content is removed leaving a tombstone in the ledger (the hash chain "
                 "still verifies); " + (f"the daemon expires every "
                                        f"{config.expire_every_hours:g} hours."
                                        if config.expire_every_hours else
                                        "expiry runs only by 'commgate retention expire'."))
    holds = session.scalar(select(func.count()).select_from(LegalHold).where(
        LegalHold.released_at.is_(None))) or 0
    lines.append(f"A legal hold blocks expiry of what it covers; {holds} hold(s) active now.")
    return lines


# -- rendering --------------------------------------------------------------------------------

def _hours(value: float | None) -> str:
    return f"{value:g} h" if value else "none"


def _rate(result: conformance.ConformanceResult) -> str:
    m = result.measured
    rate = "no records" if m.rate is None else f"{m.numerator}/{m.denominator} ({m.rate:.0%})"
    if m.note and m.rate is None and m.note.startswith("informational"):
        return m.note
    return f"{rate}; {m.note}" if m.note else rate


def md_cell(value: Any) -> str:
    text = " ".join(str("" if value is None else value).split())
    return text.replace("\\", "\\\\").replace("|", "\\|")


def _md_table(head: Iterable[str], rows: Iterable[Iterable[Any]]) -> list[str]:
    head = list(head)
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(md_cell(v) for v in row) + " |" for row in rows]
    return out


MAP_HEAD = ("Phase", "Alias (channel)", "Queue", "Owner role", "Record", "First response",
            "Resolution")
CONFORMANCE_HEAD = ("Element", "Rule", "Kept", "Not kept (case: why)")
DOCUMENT_HEAD = ("Document", "Version", "Title", "Owner role", "Author", "Approved by",
                 "Published", "sha256")


def _document_cells(d: dict[str, Any]) -> tuple[Any, ...]:
    return (d["name"], d["version"], d["title"], d["owner_role"], d["author"],
            d["approved_by"], d["published_at"], d["sha256"])


def _map_cells(row: MapRow) -> tuple[str, ...]:
    return (row.phase, row.alias, row.queue, row.owner_role, row.record,
            _hours(row.first_response_hours), _hours(row.resolution_hours))


def render_markdown(p: Procedure) -> str:
    out = [f"# Customer Communication Procedure ({p.case_prefix})", "",
           f"Generated {iso(p.generated_at)} by commgate from this installation's "
           f"configuration; conformance measured from the records since {iso(p.since)} "
           f"(last {p.days} days).", "", "## 1. Lifecycle map", ""]
    out += _md_table(MAP_HEAD, (_map_cells(row) for row in p.lifecycle_map))
    out += ["", "## 2. Elements and how each is controlled"]
    for section in p.elements:
        out += ["", f"### {section.title}", ""] + [f"- {md_cell(line)}" for line in section.lines]
    out += ["", "## 3. Templates and controlled documents in force", ""]
    out += _md_table(("Template", "Version", "Author", "Approved by", "Published"),
                     ((t["name"], t["version"], t["author"], t["approved_by"],
                       t["published_at"]) for t in p.templates)) if p.templates else [
        "No template is published."]
    out += [""] + (_md_table(DOCUMENT_HEAD, (_document_cells(d) for d in p.documents))
                   if p.documents else ["No controlled document is published."])
    out += ["", "## 4. Escalation and approval", ""] + [f"- {md_cell(x)}" for x in p.escalation]
    out += ["", "## 5. Retention", ""] + [f"- {md_cell(x)}" for x in p.retention]
    out += ["", f"## 6. Measured conformance (last {p.days} days)", ""]
    out += _md_table(CONFORMANCE_HEAD, (
        (r.check.element, f"{r.check.name}: {r.check.measures}", _rate(r),
         "; ".join(f"{f.ref}: {f.reason}" for f in r.measured.failing) or "-")
        for r in p.conformance))
    return "\n".join(out) + "\n"


_CSS = ("body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:72em;color:#222;"
        "padding:0 1em}table{border-collapse:collapse;width:100%;margin:.3em 0 1em}"
        "th,td{border:1px solid #ccd;padding:.25em .5em;text-align:left;vertical-align:top}"
        "th{background:#eef}.fail{color:#a00}")


def _html_table(head: Iterable[str], rows: Iterable[Iterable[Any]]) -> str:
    body = "".join("<tr>" + "".join(f"<td>{e(v)}</td>" for v in row) + "</tr>" for row in rows)
    return ("<table><thead><tr>" + "".join(f"<th>{e(h)}</th>" for h in head) +
            f"</tr></thead><tbody>{body}</tbody></table>")


def _html_list(lines: Iterable[str]) -> str:
    return "<ul>" + "".join(f"<li>{e(line)}</li>" for line in lines) + "</ul>"


def render_html_body(p: Procedure) -> str:
    """The procedure as an HTML fragment (every value escaped): the web page embeds it."""
    parts = [f"<h1>Customer Communication Procedure ({e(p.case_prefix)})</h1>",
             f"<p>Generated {e(iso(p.generated_at))} by commgate from this installation's "
             f"configuration; conformance measured from the records since {e(iso(p.since))} "
             f"(last {e(p.days)} days).</p>",
             "<h2>1. Lifecycle map</h2>",
             _html_table(MAP_HEAD, (_map_cells(row) for row in p.lifecycle_map)),
             "<h2>2. Elements and how each is controlled</h2>"]
    for section in p.elements:
        parts += [f"<h3>{e(section.title)}</h3>", _html_list(section.lines)]
    parts.append("<h2>3. Templates and controlled documents in force</h2>")
    parts.append(_html_table(("Template", "Version", "Author", "Approved by", "Published"),
                             ((t["name"], t["version"], t["author"], t["approved_by"],
                               t["published_at"]) for t in p.templates))
                 if p.templates else "<p>No template is published.</p>")
    parts.append(_html_table(DOCUMENT_HEAD, (_document_cells(d) for d in p.documents))
                 if p.documents else "<p>No controlled document is published.</p>")
    parts += ["<h2>4. Escalation and approval</h2>", _html_list(p.escalation),
              "<h2>5. Retention</h2>", _html_list(p.retention),
              f"<h2>6. Measured conformance (last {e(p.days)} days)</h2>"]
    rows = []
    for r in p.conformance:
        failing = "".join(f"<li>{e(f.ref)}: {e(f.reason)}</li>" for f in r.measured.failing)
        rows.append(f"<tr><td>{e(r.check.element)}</td><td><b>{e(r.check.name)}</b>: "
                    f"{e(r.check.measures)}</td><td>{e(_rate(r))}</td><td class=\"fail\">"
                    f"{'<ul>' + failing + '</ul>' if failing else '-'}</td></tr>")
    parts.append("<table><thead><tr>" + "".join(f"<th>{e(h)}</th>" for h in CONFORMANCE_HEAD)
                 + "</tr></thead><tbody>" + "".join(rows) + "</tbody></table>")
    return "\n".join(parts)


def render_html(p: Procedure) -> str:
    """A self-contained page: opened on an auditor's machine, it loads and runs nothing."""
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
            "style-src 'unsafe-inline'\"><title>Customer Communication Procedure</title>"
            f"<style>{_CSS}</style></head><body>\n{render_html_body(p)}\n</body></html>\n")


def render(p: Procedure, fmt: str) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"unknown procedure format {fmt!r} (one of {', '.join(FORMATS)})")
    return render_markdown(p) if fmt == "md" else render_html(p)
