"""``archive verify``'s comparison of the case events in the database with the ledger.

Every transaction that adds events appends an ``events`` entry (gateway/db/event_ledger.py)
whose blob lists them as they were committed. The walk of the chain has already proved each
entry and blob untouched; here each listed event is looked up in ``case_events``: a row that is
gone is *missing*, a row that differs is *altered*, a row no entry lists is *added*. Each finding
names the case, the event id and the ledger seq that recorded it.

Rows older than the first event the ledger recorded date from before events were ledgered (an
installation upgraded from an earlier version): they are counted as ``unledgered``, not
reported as added, since nothing recorded them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

from sqlalchemy import select

from gateway.core.context import Context
from gateway.db.event_ledger import KIND, canonical, event_record
from gateway.db.models import Case, CaseEvent, LedgerReceipt

# Findings listed per kind before the report says "and N more".
SHOWN = 20


def ledgered_events(app: Context) -> Iterator[tuple[int, dict[str, Any]]]:
    """(seq, event record with ``case_ref``) for every event the ledger holds, in ledger
    order, voided entries left out. The entries are read from the ledger itself (found by the
    seqs the database mirrored; a removed mirror row is reported by the chain comparison)."""
    with app.db.session() as session:
        seqs = list(session.scalars(select(LedgerReceipt.seq)
                                    .where(LedgerReceipt.kind == KIND).order_by(LedgerReceipt.seq)))
    bodies: list[tuple[int, dict[str, Any]]] = []
    void: set[int] = set()
    for seq in seqs:
        entry = next(iter(app.archive.entries(after_seq=seq - 1, until_seq=seq)), None)
        if entry is None or entry.kind != KIND:
            continue
        raw = app.archive.read(entry.sha256)
        if hashlib.sha256(raw).hexdigest() != entry.sha256:
            continue  # the chain walk reports the damaged blob
        body = json.loads(raw)
        if "void" in body:
            void.add(int(body["void"]))
        else:
            bodies.append((seq, body))
    for seq, body in bodies:
        if seq in void:
            continue
        for record in body.get("events", []):
            yield seq, record


def check_events(app: Context) -> dict[str, Any]:
    """Missing, altered and added event rows (each with case ref, event id, ledger seq)."""
    expected: dict[int, tuple[int, dict[str, Any]]] = {}
    for seq, record in ledgered_events(app):
        expected[int(record["id"])] = (seq, record)
    first = min(expected, default=None)
    missing: list[dict[str, Any]] = []
    altered: list[dict[str, Any]] = []
    added: list[dict[str, Any]] = []
    unledgered = checked = 0
    with app.db.session() as session:
        refs = {case_id: ref for case_id, ref in session.execute(select(Case.id, Case.ref))}
        rows = session.execute(select(CaseEvent.id, CaseEvent.case_id, CaseEvent.at,
                                      CaseEvent.actor, CaseEvent.kind, CaseEvent.message_pk,
                                      CaseEvent.data, CaseEvent.claimed_as)
                               .order_by(CaseEvent.id))
        for row in rows:
            found = expected.pop(row.id, None)
            if found is None:
                if first is None or row.id < first:
                    unledgered += 1
                else:
                    added.append({"id": row.id, "case_ref": refs.get(row.case_id, ""),
                                  "seq": None, "kind": row.kind})
                continue
            checked += 1
            seq, record = found
            ledgered = {key: value for key, value in record.items() if key != "case_ref"}
            if canonical(event_record(row)) != canonical(ledgered):
                altered.append({"id": row.id, "case_ref": record.get("case_ref", ""),
                                "seq": seq, "kind": record["kind"],
                                "fields": _differing(event_record(row), ledgered)})
    for event_id, (seq, record) in sorted(expected.items()):
        missing.append({"id": event_id, "case_ref": record.get("case_ref", ""), "seq": seq,
                        "kind": record["kind"]})
    return {"ok": not (missing or altered or added), "checked": checked,
            "unledgered": unledgered, "missing": missing, "altered": altered, "added": added}


def _differing(row: dict[str, Any], ledgered: dict[str, Any]) -> list[str]:
    return sorted(key for key in set(row) | set(ledgered)
                  if canonical({"v": row.get(key)}) != canonical({"v": ledgered.get(key)}))


def describe_events(report: dict[str, Any], shown: int = SHOWN) -> list[str]:
    """One line per finding (the first ``shown`` of each kind), for a person."""
    lines: list[str] = []
    for key, what in (("missing", "in the ledger but deleted from the database"),
                      ("altered", "altered in the database"),
                      ("added", "in the database but in no ledger entry")):
        found = report.get(key, [])
        for item in found[:shown]:
            where = f"ledger seq {item['seq']}" if item["seq"] is not None else "no ledger seq"
            fields = f" (fields: {', '.join(item['fields'])})" if item.get("fields") else ""
            lines.append(f"archive INCONSISTENT: case event {item['id']} ({item['kind']}) of "
                         f"case {item['case_ref'] or '?'} {what}{fields}; {where}")
        if len(found) > shown:
            lines.append(f"archive INCONSISTENT: and {len(found) - shown} more case events "
                         f"{what}")
    return lines
