"""``index.html`` of an evidence package: a readable report that traces each case.

Self-contained (inline CSS, no scripts, no external resources; a Content-Security-Policy that
forbids loading anything) because it is opened on an auditor's machine, possibly offline. Every
value is HTML-escaped: subjects, addresses and notes come from mail, which attackers write.

The trace is built from the case events the workflows record (who, when, what):
enquiry → requirement review → acceptance → changes and their reviews (gateway.workflows.reviews);
complaint → corrective action → closure (gateway.workflows.feedback); property → chain of custody
(gateway.workflows.property).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from gateway.core.text import acted_by

Event = dict[str, Any]

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:72em;color:#222;padding:0 1em}
h1{font-size:1.6em}h2{border-bottom:2px solid #446;padding-bottom:.2em;margin-top:2em}
h3{margin:1.2em 0 .3em}h4{margin:.8em 0 .2em;color:#446}
table{border-collapse:collapse;width:100%;margin:.3em 0 1em}
th,td{border:1px solid #ccd;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#eef}td.when,td.who{white-space:nowrap}
.none{color:#777;font-style:italic}.purged{color:#a40}.warn{color:#a00;font-weight:bold}
code{font-size:.9em;word-break:break-all}
ol.trace>li{margin-bottom:.6em}
"""


# What json.dumps(value, ensure_ascii=False, sort_keys=True) builds on every call, built once.
_JSON = json.JSONEncoder(ensure_ascii=False, sort_keys=True)


def e(value: Any) -> str:
    """HTML-escape any value (quotes too: values also land in attributes)."""
    if type(value) is str:
        return html.escape(value, quote=True)
    if value is None:
        return ""
    if isinstance(value, dict | list):
        value = _JSON.encode(value)
    return html.escape(str(value), quote=True)


def anchor(ref: str) -> str:
    return "case-" + re.sub(r"[^A-Za-z0-9_-]", "-", ref)


# -- describing events ---------------------------------------------------------------------------

def _changes(data: Event) -> str:
    return "; ".join(f"{c.get('item')}: {c.get('from') or '—'} → {c.get('to')}"
                     + (f" ({c['note']})" if c.get("note") else "")
                     for c in data.get("changes", []))


def _from_to(data: Event) -> str:
    note = f" — {data['note']}" if data.get("note") else ""
    return f"{data.get('from') or '—'} → {data.get('to')}{note}"


def _classified(data: Event) -> str:
    return "; ".join(f"{name} {v.get('from') or '—'} → {v.get('to')}"
                     for name, v in data.items() if isinstance(v, dict))


def _property(data: Event) -> str:
    parts = [f"item {data.get('item_id')}", str(data.get("description") or "")]
    for key in ("kind", "status", "condition", "location", "handling", "sha256", "note"):
        if data.get(key):
            parts.append(f"{key}: {data[key]}")
    if data.get("from") or data.get("to"):
        parts.append(f"{data.get('from') or '—'} → {data.get('to')}")
    if data.get("to_location"):
        parts.append(f"moved {data.get('from_location') or '—'} → {data['to_location']}")
    return "; ".join(p for p in parts if p)


_DESCRIBE: dict[str, Callable[[Event], str]] = {
    "case_opened": lambda d: "case opened" + (f" (rule {d['rule']})" if d.get("rule") else ""),
    "message_threaded": lambda d: f"message seq {d.get('seq')} filed (rule {d.get('rule')})",
    "message_classified": lambda d: f"classified as {d.get('category')}"
                                    + (" with a scope change" if d.get("scope_change") else ""),
    "scope_change_flagged": lambda d: "the message asks for a change of scope",
    "category_changed": _from_to,
    "status_changed": _from_to,
    "checklist_updated": _changes,
    "review_opened": lambda d: f"review {d.get('review_id')} ({d.get('kind')}) opened: "
                               f"{d.get('summary', '')}",
    "review_approved": lambda d: f"review {d.get('review_id')} approved: {d.get('note', '')} "
                                 f"(confirmation {d.get('confirmation', '')})",
    "review_rejected": lambda d: f"review {d.get('review_id')} rejected: {d.get('note', '')} "
                                 f"(confirmation {d.get('confirmation', '')})",
    "review_confirmation_queued": lambda d: (
        f"confirmation of review {d.get('review_id')} to {', '.join(d.get('to') or [])} "
        f"from template {d.get('template')} v{d.get('template_version')}"),
    "review_confirmed": lambda d: f"customer {d.get('from')} confirmed review "
                                  f"{d.get('review_id')} (reply to {d.get('in_reply_to')})",
    "scope_change_not_reopened": lambda d: f"no new review (review {d.get('review_id')}): "
                                           f"{d.get('reason', '')}",
    "order_accepted": lambda d: "order accepted on message "
                                f"{(d.get('message') or {}).get('seq')} "
                                f"“{(d.get('message') or {}).get('subject', '')}”"
                                + (f" — {d['note']}" if d.get("note") else ""),
    "order_declined": lambda d: f"order declined — {d.get('note', '')}",
    "feedback_recorded": lambda d: "feedback recorded"
                                   + (f" (suggested type: {d['suggested_type']})"
                                      if d.get("suggested_type") else ""),
    "feedback_classified": _classified,
    "corrective_action_recorded": lambda d: (
        f"corrective action {d.get('corrective_action_ref')}: {d.get('resolution_note')}"
        + (f"; root cause: {d['root_cause']}" if d.get("root_cause") else "")),
    "case_linked": lambda d: f"linked ({d.get('kind')}) with {d.get('other')}",
    "case_unlinked": lambda d: f"unlinked ({d.get('kind')}) from {d.get('other')}",
    "outbound_queued": lambda d: f"{d.get('kind')} to {', '.join(d.get('to') or [])} queued: "
                                 f"“{d.get('subject', '')}”"
                                 + (f" (template {d['template']} v{d.get('template_version')})"
                                    if d.get("template") else ""),
    "outbound_sent": lambda d: f"{d.get('kind')} sent to {', '.join(d.get('to') or [])}",
    "outbound_held": lambda d: (f"{d.get('reply_kind') or 'reply'} {d.get('outbound_id')} held "
                                f"for approval by the role {d.get('role')} "
                                f"({', '.join(d.get('reasons') or [])})"),
    "outbound_approved": lambda d: (f"outbound {d.get('outbound_id')} approved as "
                                    f"{d.get('approver_role')} (written by {d.get('author')})"
                                    + (f" — {d['note']}" if d.get("note") else "")),
    "outbound_rejected": lambda d: (f"outbound {d.get('outbound_id')} rejected, never sent "
                                    f"(written by {d.get('author')}) — {d.get('note', '')}"),
    "approval_escalated": lambda d: (f"outbound {d.get('outbound_id')} waiting for approval by "
                                     f"{d.get('role')} escalated to "
                                     f"{d.get('address') or d.get('reason', '')}"),
    "message_purged": lambda d: f"content removed under retention (tombstone seq "
                                f"{d.get('tombstone_seq')})",
}
for _kind in ("property_proposed", "property_registered", "property_confirmed",
              "property_received", "property_status_changed", "property_moved",
              "property_incident"):
    _DESCRIBE[_kind] = _property


def describe(event: Event) -> str:
    """One line of plain text (escaped by the caller) saying what the event records."""
    raw = event.get("data")
    data: dict[str, Any] = raw if isinstance(raw, dict) else {}
    try:
        if event["kind"] in _DESCRIBE:
            return _DESCRIBE[event["kind"]](data)
    except (AttributeError, TypeError, KeyError, ValueError):
        pass  # an older event shape: fall back to listing its fields
    return "; ".join(f"{k}: {v if not isinstance(v, dict | list) else json.dumps(v)}"
                     for k, v in data.items() if v not in (None, "", [], {}))


# -- stages of the trace -------------------------------------------------------------------------

def _is(*kinds: str) -> Callable[[Event], bool]:
    return lambda ev: ev["kind"] in kinds


def _closing(ev: Event) -> bool:
    return ev["kind"] == "status_changed" and (ev.get("data") or {}).get("to") in (
        "resolved", "closed")


ORDER_STAGES = (
    ("Enquiry", _is("case_opened", "case_linked", "case_unlinked")),
    ("Requirement review", _is("checklist_updated")),
    ("Acceptance", _is("order_accepted", "order_declined")),
    ("Changes and their reviews", lambda ev: ev["kind"] in (
        "scope_change_flagged", "scope_change_not_reopened", "review_confirmation_queued",
        "review_confirmed") or (ev["kind"].startswith("review_")
                                and (ev.get("data") or {}).get("kind") != "property-incident")),
)
FEEDBACK_STAGES = (
    ("Complaint / feedback", _is("feedback_recorded", "feedback_classified")),
    ("Corrective action", _is("corrective_action_recorded")),
    ("Resolution and closure", _closing),
)


def _stage_html(title: str, events: Iterable[Event]) -> str:
    events = list(events)
    body = "".join(_event_li(ev) for ev in events) if events else (
        '<li class="none">nothing recorded</li>')
    return f"<h4>{e(title)}</h4><ol class=\"trace\">{body}</ol>"


def _who(ev: Mapping[str, Any]) -> str:
    """The actor with its claim beside it ("root (as alice)")."""
    return acted_by(str(ev.get("actor") or ""), ev.get("claimed_as"))


def _event_li(ev: Event) -> str:
    seq = f" [message seq {e(ev['message_seq'])}]" if ev.get("message_seq") else ""
    return (f"<li><b>{e(ev['kind'])}</b> — {e(describe(ev))}{seq}<br>"
            f"<small>by {e(_who(ev))} at {e(ev.get('at'))}</small></li>")


def _trace(case: dict[str, Any], events: list[Event], data: dict[str, Any]) -> str:
    parts = []
    kinds = {ev["kind"] for ev in events}
    if case["category"] in ("order", "enquiry") or kinds & {"checklist_updated",
                                                            "order_accepted"}:
        enquiries = [link for link in case.get("links", []) if link["kind"] == "enquiry-order"]
        parts.append("<h3>Enquiry → order</h3>")
        if enquiries:
            parts.append("<p>Linked enquiry/order cases: " + ", ".join(
                f'<a href="#{e(anchor(link["case"]))}">{e(link["case"])}</a>'
                for link in enquiries) + "</p>")
        for title, wanted in ORDER_STAGES:
            parts.append(_stage_html(title, filter(wanted, events)))
        order = data.get("orders", {}).get(case["ref"])
        if order:
            parts.append(_checklist_table(order["checklist"], order["checklist_gaps"]))
    if case["category"] == "feedback" or any(k.startswith(("feedback_", "corrective_"))
                                              for k in kinds):
        parts.append("<h3>Feedback → corrective action</h3>")
        for title, wanted in FEEDBACK_STAGES:
            parts.append(_stage_html(title, filter(wanted, events)))
    items = [i for i in data.get("property", []) if i.get("case") == case["ref"]]
    if case["category"] == "property" or items:
        parts.append("<h3>Customer property → chain of custody</h3>")
        if not items:
            parts.append('<p class="none">no property item registered</p>')
        for item in items:
            parts.append(_custody(item))
        parts.append(_stage_html("Incidents (loss or damage) and their reviews", (
            ev for ev in events if ev["kind"] == "property_incident" or (
                ev["kind"].startswith("review_")
                and (ev.get("data") or {}).get("kind") == "property-incident"))))
    return "".join(parts)


def _checklist_table(checklist: dict[str, Any], gaps: list[str]) -> str:
    rows = "".join(
        f"<tr><td>{e(item)}</td><td>{e(v['state']) if v else ''}</td>"
        f"<td>{e(v['note']) if v else ''}</td><td class=who>{e(v['by']) if v else ''}</td>"
        f"<td class=when>{e(v['at']) if v else ''}</td></tr>"
        for item, v in checklist.items())
    gap = (f'<p class="warn">Incomplete: {e("; ".join(gaps))}</p>' if gaps else "")
    return ("<h4>Requirement review checklist as it stands</h4><table><tr><th>item</th>"
            f"<th>state</th><th>note</th><th>by</th><th>at</th></tr>{rows}</table>{gap}")


def _custody(item: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><td class=when>{e(h.get('at'))}</td><td class=who>{e(_who(h))}</td>"
        f"<td>{e(h.get('action'))}</td><td>{e(h.get('from') or '—')} → {e(h.get('to'))}</td>"
        f"<td>{e(h.get('note'))}</td></tr>" for h in item.get("history", []))
    return (f"<h4>Item {e(item['id'])}: {e(item.get('kind'))} — {e(item.get('description'))}"
            f"</h4><p>owner {e(item.get('owner'))}; status <b>{e(item.get('status'))}</b>; "
            f"location {e(item.get('location') or '—')}; condition "
            f"{e(item.get('condition') or '—')}"
            + (f"; sha256 <code>{e(item['sha256'])}</code>" if item.get("sha256") else "")
            + "</p><table><tr><th>at</th><th>by</th><th>action</th><th>status</th><th>note</th>"
            f"</tr>{rows}</table>")


# -- the page ------------------------------------------------------------------------------------

def _messages_table(messages: list[dict[str, Any]]) -> str:
    if not messages:
        return '<p class="none">no messages of this case are in the selection</p>'
    rows = []
    for m in messages:
        if m.get("purged"):
            tomb = m["purged"]["tombstone"]
            content = (f'<span class="purged">removed under retention at '
                       f'{e(m["purged"]["at"])}; tombstone ledger seq {e(tomb["seq"])}</span>')
        else:
            content = f'<a href="{e(m["file"])}">{e(m["file"])}</a>'
        rows.append(f"<tr><td>{e(m['seq'])}</td><td class=when>{e(m.get('received_at'))}</td>"
                    f"<td class=when>{e(m.get('date'))}</td><td>{e(m.get('direction'))}</td>"
                    f"<td>{e(m.get('from'))}</td>"
                    f"<td>{e(m.get('subject'))}</td><td>{content}</td></tr>")
    return ("<table><tr><th>seq</th><th>received</th><th>sent (Date:)</th><th>direction</th>"
            f"<th>from</th><th>subject</th><th>content</th></tr>{''.join(rows)}</table>")


def _holds_html(holds: list[dict[str, Any]]) -> str:
    """The active legal holds of any scope (case, customer, alias, search) covering the case."""
    if not holds:
        return ""
    rows = "".join(f"<tr><td>{e(h['id'])}</td><td>{e(h['scope'])}</td><td>{e(h['value'])}</td>"
                   f"<td>{e(h['reason'])}</td><td class=who>{e(h['created_by'])}</td>"
                   f"<td class=when>{e(h['created_at'])}</td></tr>" for h in holds)
    return ('<h3>Legal holds</h3><table class="holds"><tr><th>hold</th><th>covers</th>'
            f"<th>which</th><th>reason</th><th>placed by</th><th>at</th></tr>{rows}</table>")


def _case_section(case: dict[str, Any], events: list[Event], messages: list[dict[str, Any]],
                  data: dict[str, Any]) -> str:
    links = ", ".join(f'{e(link["kind"])} <a href="#{e(anchor(link["case"]))}">'
                      f'{e(link["case"])}</a>' for link in case.get("links", [])) or "—"
    facts = [("category", case["category"]), ("status", case["status"]),
             ("customer", case["customer"]), ("alias", case["alias"]),
             ("subject", case["subject"]), ("opened", case["opened_at"]),
             ("resolved", case["resolved_at"]), ("closed", case["closed_at"]),
             ("owner role", case["owner_role"]), ("merged into", case["merged_into"]),
             ("included because", case["included_because"])]
    rows = "".join(f"<tr><th>{e(k)}</th><td>{e(v) if v not in (None, '') else '—'}</td></tr>"
                   for k, v in facts)
    timeline = "".join(
        f"<tr><td class=when>{e(ev.get('at'))}</td><td class=who>{e(_who(ev))}</td>"
        f"<td>{e(ev['kind'])}</td><td>{e(describe(ev))}</td>"
        f"<td>{e(ev.get('message_seq'))}</td></tr>" for ev in events)
    return (f'<section id="{e(anchor(case["ref"]))}"><h2>{e(case["ref"])}: '
            f"{e(case['subject'])}</h2><table>{rows}<tr><th>links</th><td>{links}</td></tr>"
            f"</table>{_holds_html(case.get('holds') or [])}{_trace(case, events, data)}"
            "<h3>Messages</h3>"
            f"{_messages_table(messages)}<h3>All events</h3><table><tr><th>at</th><th>by</th>"
            f"<th>event</th><th>what</th><th>message seq</th></tr>{timeline}</table></section>")


def render_report(manifest: dict[str, Any], data: dict[str, Any]) -> str:
    """The whole page as a string."""
    cp = manifest.get("checkpoint")
    signing = (f"Signed checkpoint: {cp['tree_size']} ledger entries, root "
               f"<code>{e(cp['root_hash'])}</code>, signed {e(cp['time'])} by key "
               f"<code>{e(cp['key_id'])}</code>." if cp else
               f'<span class="warn">{e(manifest.get("signing"))}</span>')
    by_case: dict[str, list[dict[str, Any]]] = {}
    for message in manifest["messages"]:
        by_case.setdefault(message.get("case") or "", []).append(message)
    toc = "".join(f'<li><a href="#{e(anchor(c["ref"]))}">{e(c["ref"])}</a> '
                  f"({e(c['category'])}, {e(c['status'])}): {e(c['subject'])}</li>"
                  for c in manifest["cases"])
    sections = "".join(_case_section(c, data["events"].get(c["ref"], []),
                                     by_case.get(c["ref"], []), data)
                       for c in manifest["cases"])
    purged = sum(1 for m in manifest["messages"] if m.get("purged"))
    return (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
        "style-src 'unsafe-inline'\"><title>Evidence package</title>"
        f"<style>{_CSS}</style></head><body><h1>Evidence package</h1>"
        f"<p>Exported by <b>{e(manifest['exported_by'])}</b> at {e(manifest['exported_at'])}; "
        f"selection <code>{e(manifest['selection'])}</code>.</p>"
        f"<p>{len(manifest['cases'])} case(s), {len(manifest['messages'])} message(s)"
        f"{f', {purged} of them removed under retention' if purged else ''}. {signing} "
        f"This export is itself recorded in the access log as ledger seq "
        f"{e(manifest['export_record']['entry']['seq'])}.</p>"
        "<p>Check the package with <code>commgate audit verify-package FILE.zip "
        "--public-key KEY.pub</code> (offline), or the files alone with "
        "<code>sha256sum -c SHA256SUMS</code>.</p>"
        f"<h2>Cases</h2><ul>{toc}</ul>{sections}</body></html>\n")
