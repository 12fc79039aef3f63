"""Was this message written by a machine on someone's behalf: an out-of-office reply, a
calendar answer, a bounce? Such a message joins the case of the mail it answers (by headers,
by our tag) but is no word of the customer: it never reopens the case, never moves its
category, never puts it in the triage queue (RFC 3834 §5: automatic responses are marked so
that software can tell them apart)."""

from __future__ import annotations

from classifiers.subjects import AUTOMATIC_SUBJECT, CALENDAR_SUBJECT
from gateway.processing.parsing import ParsedMessage

# Headers of auto-responders besides Auto-Submitted (Exchange, Zimbra, vacation programs).
_AUTOMATIC_MARKERS = ("x-autoreply", "x-autorespond", "x-auto-response-suppress")
_CALENDAR_PART = "text/calendar"


def automatic_reason(parsed: ParsedMessage, bounced_message_id: str | None = None) -> str:
    """Why this message was not written by a person ("" if it was), one short line."""
    submitted = parsed.header("Auto-Submitted").strip().lower()
    if submitted and submitted != "no":
        return f"automatic message (Auto-Submitted: {submitted[:40]})"
    precedence = parsed.header("Precedence").strip().lower()
    if precedence in ("bulk", "list", "junk", "auto_reply"):
        return f"automatic message (Precedence: {precedence})"
    if any(parsed.header(name) for name in _AUTOMATIC_MARKERS):
        return "automatic message (out-of-office header)"
    if bounced_message_id or parsed.report_type:
        return "delivery report or bounce"
    if is_calendar_answer(parsed):
        return "calendar answer"
    if AUTOMATIC_SUBJECT.match(parsed.subject):
        return "automatic reply (subject)"
    sender = parsed.from_addr.lower()
    local = sender.split("@", 1)[0]
    if not sender or local in ("mailer-daemon", "postmaster") or "noreply" in local.replace(
            "-", "").replace("_", ""):
        return f"automatic sender {sender or '(none)'}"
    return ""


def is_calendar_answer(parsed: ParsedMessage) -> bool:
    """An invitee's answer to a meeting request: a calendar part and "Accepted:",
    "Angenommen:", "Refusé:"... before the meeting's subject."""
    return (any(t.lower() == _CALENDAR_PART for t in parsed.part_types)
            and bool(CALENDAR_SUBJECT.match(parsed.subject)))
