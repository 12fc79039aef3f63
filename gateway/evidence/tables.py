"""The CSV tables of an evidence package, from the data the package collected.

Free text in them comes from mail and from people, and auditors open CSVs in spreadsheets: a
cell starting with ``= + - @``, TAB or CR gets a leading apostrophe so it is never run as a
formula (OWASP "CSV injection"), as the feedback log already does.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from typing import Any

from gateway.workflows import feedback

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


# What json.dumps(value, ensure_ascii=False, sort_keys=True) builds on every call, built once.
_JSON = json.JSONEncoder(ensure_ascii=False, sort_keys=True)


def cell(value: Any) -> str:
    if type(value) is str:  # most cells: straight to the formula guard
        return "'" + value if value.startswith(_FORMULA_START) else value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict | list):
        value = _JSON.encode(value)
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def table(columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> bytes:
    stream = io.StringIO(newline="")
    writer = csv.writer(stream)
    writer.writerow(columns)
    writer.writerows([cell(row.get(c)) for c in columns] for row in rows)
    return stream.getvalue().encode("utf-8")


CASE_COLUMNS = ("ref", "category", "status", "customer", "alias", "subject", "opened_at",
                "resolved_at", "closed_at", "owner_role", "review_required", "merged_into",
                "links", "included_because", "messages")
MESSAGE_COLUMNS = ("seq", "sha256", "case", "direction", "alias", "received_at", "date", "from",
                   "to", "subject", "message_id", "attachments", "file", "purged_at",
                   "tombstone_seq")
# actor: the OS user of a command-line action (the signed-in user of a web one); claimed_as: its
# --as claim (docs/ledger-events.md, "Who acted").
EVENT_COLUMNS = ("case", "at", "actor", "claimed_as", "kind", "message_seq", "data")
REVIEW_COLUMNS = ("id", "case", "kind", "status", "summary", "opened_at", "opened_by",
                  "decided_at", "decided_by", "decision_note", "confirmation_message_id",
                  "confirmed_by_message_pk", "confirmed_at")
PROPERTY_COLUMNS = ("id", "case", "kind", "description", "owner", "identifiers", "status",
                    "received_at", "condition", "location", "handling", "sha256", "filename",
                    "created_at", "created_by", "updated_at")
CUSTODY_COLUMNS = ("item_id", "case", "at", "actor", "claimed_as", "action", "from", "to", "note",
                   "data")


def csv_files(data: dict[str, Any]) -> dict[str, bytes]:
    """File name -> CSV bytes for the package (``data`` as built by gateway.evidence.package)."""
    events = [{"case": ref, **event} for ref, evs in data["events"].items() for event in evs]
    custody = [{"item_id": item["id"], "case": item["case"], **step}
               for item in data["property"] for step in item.get("history", [])]
    feedback_csv = io.StringIO(newline="")
    feedback.write_csv(data["feedback"], feedback_csv)
    return {
        "cases.csv": table(CASE_COLUMNS, data["cases"]),
        "messages.csv": table(MESSAGE_COLUMNS, data["message_rows"]),
        "events.csv": table(EVENT_COLUMNS, events),
        "reviews.csv": table(REVIEW_COLUMNS, data["reviews"]),
        "property-register.csv": table(PROPERTY_COLUMNS, data["property"]),
        "property-custody.csv": table(CUSTODY_COLUMNS, custody),
        "feedback-log.csv": feedback_csv.getvalue().encode("utf-8"),
    }
