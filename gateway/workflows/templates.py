"""Reply and acknowledgement templates as controlled documents (ISO 9001 7.5.3, 8.2.1 a).

draft → approved (by a named approver who is not the author) → published → retired. A version's
text never changes once approved (the database refuses it too); a change is a new version.
Only the published version of a name can be sent, and publishing a version retires the one
before it. Every transition is a row in the append-only template history with who and when.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.config import REPLY_KINDS, TEMPLATE_NAME
from gateway.core.clock import utcnow
from gateway.core.errors import WorkflowError
from gateway.core.text import iso
from gateway.db.outbound import Template, TemplateEvent
from gateway.workflows.four_eyes import refuse_same_login

# What queue_mail provides to every template; callers may add their own (a review note ...).
KNOWN_VARIABLES = ("case_ref", "customer", "customer_name", "subject", "alias", "company",
                   "category", "actor", "date")
_NAME = TEMPLATE_NAME  # one rule, also checked where the config names templates
_LINE_BREAK = re.compile(r"[\r\n\x00]")
MAX_SUBJECT_CHARS = 500
MAX_BODY_CHARS = 200_000


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise WorkflowError(f"not allowed because {name!r} is not a template name (lower-case "
                            f"letters, digits, '.', '_' and '-', at most 64)")
    return name


def placeholders(text: str) -> set[str]:
    """The ``${name}``/``$name`` placeholders a template text uses."""
    found = set()
    for match in string.Template.pattern.finditer(text):
        name = match.group("named") or match.group("braced")
        if name:
            found.add(name)
    return found


def create(session: Session, name: str, subject: str, body: str, author: str,
           reply_kind: str = "") -> Template:
    """A new draft version of ``name`` (version 1 for a new name). ``reply_kind`` declares what
    a reply from it is (a delay notice ...), which the [approval] matrix may hold for a second
    person."""
    check_name(name)
    check_reply_kind(reply_kind)
    if _LINE_BREAK.search(subject):
        raise WorkflowError("not allowed because a template subject must be one line")
    if not body.strip():
        raise WorkflowError("not allowed because a template needs a body (an empty subject "
                            "means 'Re: <case subject>')")
    if len(subject) > MAX_SUBJECT_CHARS or len(body) > MAX_BODY_CHARS:
        raise WorkflowError("not allowed because the subject or body is too long")
    for text in (subject, body):
        try:
            string.Template(text).substitute({n: "" for n in placeholders(text)})
        except ValueError as exc:
            raise WorkflowError(f"not allowed because the template has a malformed placeholder "
                                f"({exc}); write a literal $ as $$") from None
    latest = session.scalar(select(func.max(Template.version)).where(Template.name == name))
    template = Template(name=name, version=(latest or 0) + 1, status="draft",
                        subject=subject.strip(), body=body, author=author, created_at=utcnow(),
                        reply_kind=reply_kind)
    session.add(template)
    session.flush()
    _history(session, template, "created", author,
             {"unknown_variables": sorted(placeholders(subject + body) - set(KNOWN_VARIABLES)),
              "reply_kind": reply_kind})
    return template


def check_reply_kind(reply_kind: str) -> str:
    """``reply_kind`` when it is "" or one of REPLY_KINDS; else a WorkflowError that lists them."""
    if reply_kind and reply_kind not in REPLY_KINDS:
        raise WorkflowError(f"not allowed because {reply_kind!r} is not a kind of reply; "
                            f"expected one of {', '.join(REPLY_KINDS)}")
    return reply_kind


def get(session: Session, name: str, version: int | None = None,
        *, for_update: bool = False) -> Template:
    """One version (the newest when ``version`` is None)."""
    query = select(Template).where(Template.name == name)
    query = (query.where(Template.version == version) if version is not None
             else query.order_by(Template.version.desc()).limit(1))
    if for_update:
        query = query.with_for_update()
    template = session.scalars(query).first()
    if template is None:
        what = f"{name!r} version {version}" if version is not None else repr(name)
        raise WorkflowError(f"not allowed because there is no template {what}: see "
                            f"'commgate templates list'")
    return template


def approve(session: Session, name: str, version: int, approver: str) -> Template:
    template = get(session, name, version, for_update=True)
    if template.status != "draft":
        raise WorkflowError(f"not allowed because {name} v{version} is {template.status}, "
                            f"not a draft")
    if approver.casefold() == template.author.casefold():
        raise WorkflowError(f"not allowed because {approver} wrote {name} v{version}: a "
                            f"different person must approve it")
    written = session.scalars(select(TemplateEvent.actor).where(
        TemplateEvent.template_id == template.id, TemplateEvent.action == "created"))
    refuse_same_login(session, author=template.author, author_logins=written,
                      approver=approver, what=f"{name} v{version}")
    now = utcnow()
    template.status, template.approved_by, template.approved_at = "approved", approver, now
    _history(session, template, "approved", approver, {})
    return template


def publish(session: Session, name: str, version: int, actor: str) -> Template:
    """Make an approved version the one that is sent; the previously published one retires."""
    template = get(session, name, version, for_update=True)
    if template.status != "approved":
        raise WorkflowError(f"not allowed because {name} v{version} is {template.status}: only "
                            f"an approved version can be published")
    now = utcnow()
    previous = session.scalars(select(Template).where(
        Template.name == name, Template.status == "published").with_for_update()).all()
    for old in previous:
        old.status, old.retired_at = "retired", now
        _history(session, old, "retired", actor, {"replaced_by": version})
    template.status, template.published_at = "published", now
    _history(session, template, "published", actor,
             {"retired": [old.version for old in previous]})
    return template


def published(session: Session, name: str) -> Template:
    """The version of ``name`` that may be sent now."""
    template = published_or_none(session, name)
    if template is None:
        raise WorkflowError(f"not allowed because template {name!r} has no published version "
                            f"(draft → approve → publish first)")
    return template


def published_or_none(session: Session, name: str) -> Template | None:
    return session.scalars(select(Template).where(
        Template.name == name, Template.status == "published")).first()


def render(template: Template, variables: Mapping[str, str]) -> Rendered:
    """Fill the placeholders; unknown ones stay as written (``safe_substitute``).

    A value with a line break could smuggle header fields into the subject, so it is refused
    there; callers strip customer text (subjects, names) before passing it in.
    """
    values = {k: str(v) for k, v in variables.items()}
    for name in placeholders(template.subject):
        if name in values and _LINE_BREAK.search(values[name]):
            raise WorkflowError(f"not allowed because variable {name!r} contains a line break "
                                f"and the template uses it in the subject")
    return Rendered(string.Template(template.subject).safe_substitute(values),
                    string.Template(template.body).safe_substitute(values))


def history(session: Session, name: str) -> list[TemplateEvent]:
    return list(session.scalars(select(TemplateEvent).where(TemplateEvent.name == name)
                                .order_by(TemplateEvent.id)))


def listing(session: Session) -> list[dict[str, Any]]:
    rows = session.scalars(select(Template).order_by(Template.name, Template.version))
    return [view(t, with_text=False) for t in rows]


def view(template: Template, *, with_text: bool = True) -> dict[str, Any]:
    result: dict[str, Any] = {
        "id": template.id, "name": template.name, "version": template.version,
        "status": template.status, "subject": template.subject, "author": template.author,
        "created_at": iso(template.created_at), "approved_by": template.approved_by,
        "approved_at": iso(template.approved_at), "published_at": iso(template.published_at),
        "retired_at": iso(template.retired_at), "reply_kind": template.reply_kind}
    if with_text:
        result["body"] = template.body
        result["variables"] = sorted(placeholders(template.subject + template.body))
    return result


def event_view(event: TemplateEvent) -> dict[str, Any]:
    return {"at": iso(event.at), "actor": event.actor, "claimed_as": event.claimed_as,
            "action": event.action,
            "name": event.name, "version": event.version, "data": event.data}


def _history(session: Session, template: Template, action: str, actor: str,
             data: dict[str, Any]) -> None:
    session.add(TemplateEvent(template_id=template.id, name=template.name,
                              version=template.version, action=action, actor=actor,
                              at=utcnow(), data=data))
    session.flush()
