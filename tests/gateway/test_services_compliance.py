"""The compliance services called directly, as the web application will call them, on both
backends: each writes its access record itself, with the actor it is given (never the
environment's), and its view's JSON is what the command line prints with ``--json``."""

from __future__ import annotations

import csv
import inspect
import re
import uuid
from pathlib import Path

import pytest

import gateway.cli.compliance as cli_compliance
import gateway.cli.evidence as cli_evidence
import gateway.cli.lifecycle as cli_lifecycle
import gateway.cli.search as cli_search
from gateway.core.errors import GatewayError
from gateway.processing.ingest import ingest
from gateway.services.archive import show_raw
from gateway.services.compliance import (
    audit_log,
    expire_retention,
    legal_holds,
    place_legal_hold,
    release_legal_hold,
)
from gateway.services.evidence import export_evidence, export_messages, selection
from gateway.services.lifecycle import (
    escalate,
    export_feedback,
    feedback_cases,
    set_case_status,
    set_feedback,
)
from gateway.services.package_check import check_package
from gateway.services.search import search_archive
from gateway.workflows import feedback, search
from gateway.workflows.access_log import AccessNotRecordedError, RecordedAccess, record_access
from tests.support.mail import make_message, write_messages

GATEWAY = Path(__file__).resolve().parents[2] / "gateway"
COMPLAINT = ("Hello,\nthis is a formal complaint: the flange bearings arrived damaged, "
             "unacceptable.\nAnna")


@pytest.fixture
def mail(app, tmp_path, monkeypatch):
    # Whoever the shell says is acting must not leak into a service's records.
    monkeypatch.setenv("COMMGATE_USER", "the-shell-user")
    ingest(app, write_messages(tmp_path / uuid.uuid4().hex, [
        make_message(subject="Damaged bearings", body=COMPLAINT),
        make_message(subject="Flange quotation", body="Please quote 40 flange adapters.",
                     sender="Carla <carla@acme.example>")]))
    return app


def last_record(app):
    return audit_log(app, actor="reader").to_json()[-1]


def test_a_search_is_recorded_with_its_actor_before_the_hits(mail, cli):
    found = search_archive(mail, actor="auditor-7", query="flange", customer="acme.example")

    assert [hit.subject for hit in found.hits] == ["Flange quotation"]
    record = last_record(mail)
    assert (record["seq"], record["action"], record["actor"]) == (
        found.access_seq, "search", "auditor-7")
    assert record["detail"]["query"] == "flange"
    assert record["detail"]["filters"]["customer"] == "acme.example"
    printed = cli("search", "flange", "--customer", "acme.example", "--json", "--as", "x")
    assert printed.code == 0 and printed.json() == found.to_json()


def test_a_raw_view_is_recorded_with_its_actor_and_reason(mail, cli):
    (hit,) = search_archive(mail, actor="auditor-7", query="quotation").hits

    shown = show_raw(mail, actor="auditor-8", sha256=hit.sha256.upper(), reason="ISO audit")

    assert shown.raw == mail.archive.read(hit.sha256)
    record = last_record(mail)
    assert (record["seq"], record["action"], record["actor"], record["detail"]) == (
        shown.access_seq, "view-raw", "auditor-8", {"sha256": hit.sha256, "reason": "ISO audit"})
    printed = cli("archive", "show", hit.sha256, "--as", "auditor-8")
    assert printed.code == 0 and printed.out == shown.raw.decode("utf-8", "replace")


def test_a_malformed_digest_is_refused_without_a_record(mail):
    before = audit_log(mail, actor="reader").to_json()
    with pytest.raises(GatewayError, match="not a sha256 digest"):
        show_raw(mail, actor="auditor-8", sha256="../../etc/passwd")
    assert audit_log(mail, actor="reader").to_json() == before


def test_a_feedback_export_is_recorded_with_its_actor(mail, cli, tmp_path):
    set_feedback(mail, actor="qm-1", ref="NPC-000001", feedback_type="complaint",
                 severity="high")
    out = tmp_path / "feedback.csv"

    exported = export_feedback(mail, actor="qm-2", output=out)

    record = last_record(mail)
    assert (record["seq"], record["action"], record["actor"]) == (
        exported.access_seq, "export", "qm-2")
    assert record["detail"] == {"what": "feedback log", "file": str(out), "since": None,
                                "until": None}
    assert exported.to_json() == {"file": str(out), "rows": 1}
    again = tmp_path / "again.csv"
    printed = cli("feedback", "export", "-o", str(again), "--json", "--as", "qm-2")
    assert printed.json() == {"file": str(again), "rows": 1}
    assert list(csv.reader(out.open())) == list(csv.reader(again.open()))


def test_the_domain_hands_out_nothing_without_the_record_of_that_access(mail, tmp_path):
    other = record_access(mail, "auditor-7", "search", {"query": "bearings"})
    with mail.db.session() as session, pytest.raises(AccessNotRecordedError):
        search.search(session, "flange", access=other)
    out = tmp_path / "log.csv"
    with mail.db.session() as session, pytest.raises(AccessNotRecordedError):
        feedback.export_csv(session, out, access=other)
    assert not out.exists()
    with pytest.raises(AccessNotRecordedError, match="record_access only"):
        RecordedAccess(other.entry, "forger", "search", {"query": "flange"})


def test_listings_and_changes_print_as_the_command_line_does(mail, cli, tmp_path):
    changed = set_case_status(mail, actor="alice", ref="npc-000002", status="open",
                              note="on it")
    assert {k: v for k, v in changed.to_json().items() if k != "at"} == {
        "ref": "NPC-000002", "from": "new", "to": "open", "note": "on it", "actor": "alice"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d.*Z", changed.to_json()["at"])
    detail = set_feedback(mail, actor="qm-1", ref="NPC-000001", severity="low")
    assert detail.to_json() == cli("feedback", "set", "NPC-000001", "--severity", "low",
                                   "--json", "--as", "qm-1").json()
    assert escalate(mail, actor="alice").to_json() == []
    assert feedback_cases(mail, actor="qm-1").to_json() == cli(
        "feedback", "list", "--json").json()

    hold = place_legal_hold(mail, actor="legal", scope="case", value="npc-000001",
                            reason="dispute")
    assert hold.to_json() == {"id": hold.id, "scope": "case", "value": "NPC-000001"}
    assert legal_holds(mail, actor="legal").to_json() == cli("hold", "list", "--json").json()
    assert release_legal_hold(mail, actor="legal", hold_id=hold.id,
                              note="settled").to_json() == {
        "id": hold.id, "released_by": "legal"}
    assert legal_holds(mail, actor="legal", include_released=True).to_json() == cli(
        "hold", "list", "--all", "--json").json()
    assert expire_retention(mail, actor="records", dry_run=True).to_json() == cli(
        "retention", "expire", "--dry-run", "--json").json()

    log = audit_log(mail, actor="reader")
    assert [(r["action"], r["actor"]) for r in log.to_json()] == [
        ("hold", "legal"), ("release", "legal")]
    assert log.to_json() == cli("audit", "log", "--json").json()


def test_exports_are_recorded_by_the_service_call_and_check_as_the_cli_does(mail, cli,
                                                                            tmp_path):
    chosen = selection(cases=("NPC-000001",))
    package = export_evidence(mail, actor="auditor-9", selected=chosen,
                              output=tmp_path / "evidence.zip").report
    assert (package.cases, package.messages) == (("NPC-000001",), 1)
    mbox = export_messages(mail, actor="auditor-9", export_format="mbox", selected=chosen,
                           output=tmp_path / "case.mbox")
    assert mbox.to_json()["messages"] == 1
    records = audit_log(mail, actor="reader").to_json()
    assert [(r["seq"], r["action"], r["actor"]) for r in records] == [
        (package.export_seq, "export", "auditor-9"), (mbox.export_seq, "export", "auditor-9")]

    checked = check_package(package=package.path)
    assert checked.status == "unsigned" and checked.ok
    printed = cli("audit", "verify-package", str(package.path), "--json", use_home=False)
    assert printed.json() == checked.to_json()


def test_only_the_command_line_asks_the_environment_who_is_acting():
    readers = sorted(str(path.relative_to(GATEWAY)) for path in GATEWAY.rglob("*.py")
                     if re.search(r"COMMGATE_USER|\bgetpass\b", path.read_text())
                     and path.relative_to(GATEWAY).parts[0] not in ("cli.py", "cli"))
    assert readers == []


@pytest.mark.parametrize("module", [cli_search, cli_compliance, cli_evidence, cli_lifecycle],
                         ids=lambda module: module.__name__)
def test_these_commands_reach_the_domain_only_through_the_services(module):
    source = inspect.getsource(module)
    imported = set(re.findall(r"^\s*from (gateway[\w.]*) import", source, re.MULTILINE))
    assert imported
    assert {name for name in imported if not name.startswith("gateway.services.")} <= {
        "gateway.cli._common", "gateway.core.errors"}
