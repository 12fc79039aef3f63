"""Evidence packages (gateway/evidence/package.py) on both backends against the real archive: what
goes
in, how the selection works, the access record, checkpoints, purged messages, escaping."""

from __future__ import annotations

import csv
import email
import email.policy
import hashlib
import io
import json
import os
import re
import resource
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from archive import (
    BlobNotFoundError,
    generate_key,
    load_checkpoints,
    public_key_path,
    verify_inclusion,
)
from archive.checkpoints import Checkpoint
from gateway.bootstrap import App
from gateway.core.clock import utcnow
from gateway.db.models import Message
from gateway.evidence.package import EvidenceError, export_package
from gateway.evidence.select import Selection, SelectionError, parse_date
from gateway.evidence.verify import MANIFEST, verify_package
from gateway.processing.ingest import ingest
from gateway.workflows.access_log import access_log
from gateway.workflows.retention import expire
from tests.support.cli import OS_USER
from tests.support.mail import make_message, write_messages

HOSTILE = make_message(
    subject='<script>alert("x")</script><img src=http://evil.example/t.png>',
    sender='"<b>Eve</b>" <eve@hostile.example>', to="support@northpoint.example",
    body="=HYPERLINK(\"http://evil.example\")\n")


@pytest.fixture
def signed_app(home, tmp_path):
    key = tmp_path / "keys" / "checkpoint.key"
    key.parent.mkdir()
    generate_key(key)
    config = home / "commgate.toml"
    config.write_text(config.read_text().replace(
        'path = "archive"', f'path = "archive"\ncheckpoint_key = "{key}"', 1))
    application = App.open(home)
    yield application
    application.close()


def file_mail(app, folder: Path, messages: list[bytes]) -> list[bytes]:
    ingest(app, write_messages(folder, messages))
    return messages


def refs_by_subject(app) -> dict[str, str]:
    with app.db.session() as session:
        return {m.subject: m.case.ref for m in session.scalars(select(Message))}


def unzip(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


def test_a_package_holds_the_original_bytes_with_proofs_of_their_ledger_entries(
        signed_app, tmp_path):
    mails = file_mail(signed_app, tmp_path / "in", [
        make_message(subject="Question about part 1234"),
        make_message(subject="Unrelated", sender="bob@other.example")])
    ref = refs_by_subject(signed_app)["Question about part 1234"]
    before = len(load_checkpoints(signed_app.archive))
    report = export_package(signed_app, Selection(cases=(ref,)), tmp_path / "p.zip", "carl")

    files = unzip(report.path)
    manifest = json.loads(files[MANIFEST])
    (message,) = manifest["messages"]
    assert files[message["file"]] == mails[0]  # byte-exact
    assert message["file"] == f"messages/{message['seq']:09d}-{message['sha256']}.eml"
    ledger = {e.seq: e for e in signed_app.archive.entries()}
    assert message["entry"] == {**ledger[message["seq"]].hashed_fields(),
                                "entry_hash": ledger[message["seq"]].entry_hash}
    # The ledger grew (this export's own access record), so a new checkpoint was signed.
    checkpoints = load_checkpoints(signed_app.archive)
    assert len(checkpoints) == before + 1
    checkpoint = Checkpoint.from_json(manifest["checkpoint"])
    assert checkpoint == checkpoints[-1] and checkpoint.tree_size == report.export_seq
    public = public_key_path(signed_app.settings.resolve(
        signed_app.settings.config.archive.checkpoint_key))
    assert manifest["public_key"]["pem"] == public.read_text()
    assert verify_inclusion(message["entry"]["entry_hash"], message["proof"], checkpoint,
                            public)
    assert (manifest["exported_by"], manifest["cases"][0]["ref"]) == ("carl", ref)
    assert verify_package(report.path, public).status == "verified"


def test_the_export_is_in_the_access_log_and_the_package_proves_it(signed_app, tmp_path):
    file_mail(signed_app, tmp_path / "in", [make_message()])
    (ref,) = refs_by_subject(signed_app).values()
    report = export_package(signed_app, Selection(cases=(ref,)), tmp_path / "p.zip", "carl")
    with signed_app.db.session() as session:
        (logged,) = access_log(signed_app, session, action="export")
    assert (logged["seq"], logged["actor"]) == (report.export_seq, "carl")
    assert logged["detail"]["cases"] == [ref] and logged["detail"]["messages"] == 1
    files = unzip(report.path)
    assert json.loads(files["export-record.json"]) == {
        k: v for k, v in logged.items() if k not in ("seq", "entry_hash")}
    manifest = json.loads(files[MANIFEST])
    assert manifest["export_record"]["entry"]["seq"] == report.export_seq


def test_the_export_is_recorded_before_any_message_is_read(signed_app, tmp_path):
    file_mail(signed_app, tmp_path / "in", [make_message()])
    (ref,) = refs_by_subject(signed_app).values()
    with signed_app.db.session() as session:
        sha = session.scalars(select(Message.sha256)).one()
    blob = signed_app.archive.blobs.path_of(sha)
    away = tmp_path / "away"
    blob.rename(away)  # reading the bytes fails
    try:
        with pytest.raises(BlobNotFoundError):
            export_package(signed_app, Selection(cases=(ref,)), tmp_path / "p.zip", "carl")
    finally:
        away.rename(blob)
    with signed_app.db.session() as session:
        assert len(access_log(signed_app, session, action="export")) == 1
    assert list(tmp_path.glob("*p.zip*")) == []  # no package and no partial file


def test_blob_bytes_that_do_not_match_their_ledger_hash_are_refused(signed_app, tmp_path):
    file_mail(signed_app, tmp_path / "in", [make_message()])
    (ref,) = refs_by_subject(signed_app).values()
    with signed_app.db.session() as session:
        sha = session.scalars(select(Message.sha256)).one()
    blob = signed_app.archive.blobs.path_of(sha)
    blob.chmod(0o644)
    blob.write_bytes(blob.read_bytes().replace(b"20 pieces", b"90 pieces"))
    with pytest.raises(EvidenceError, match=r"do not match|hash to"):
        export_package(signed_app, Selection(cases=(ref,)), tmp_path / "p.zip", "carl")
    assert not (tmp_path / "p.zip").exists()
    assert not list(tmp_path.glob(".p.zip.*"))  # nor any half-written package


def with_attachment(raw: bytes, size: int) -> bytes:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    message.make_mixed()
    message.add_attachment(os.urandom(size), maintype="application", subtype="pdf",
                           filename="drawing.pdf")
    return message.as_bytes()


def test_large_and_small_messages_go_in_byte_exact_and_the_package_digest_is_right(
        signed_app, tmp_path):
    big = with_attachment(make_message(subject="Drawing attached"), 3_000_000)
    small = [make_message(subject=f"Question {n}") for n in range(30)]
    mails = file_mail(signed_app, tmp_path / "in", [*small[:15], big, *small[15:]])
    report = export_package(signed_app, Selection(
        date_from=parse_date("2000-01-01"), date_to=parse_date("2100-01-01")),
        tmp_path / "p.zip", "carl")

    files = unzip(report.path)
    manifest = json.loads(files[MANIFEST])
    assert sorted(files[m["file"]] for m in manifest["messages"]) == sorted(mails)
    package = report.path.read_bytes()
    assert (report.sha256, report.size) == (hashlib.sha256(package).hexdigest(), len(package))
    assert report.message_bytes == sum(len(m) for m in mails)
    assert verify_package(report.path).status == "verified"


@pytest.fixture
def file_size_limit():
    """A real write failure: the kernel refuses writes past RLIMIT_FSIZE with EFBIG (Python
    ignores SIGXFSZ), as it refuses them on a full disk with ENOSPC."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)

    def limit(size: int) -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, hard))

    yield limit
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


def test_a_package_that_cannot_be_written_fails_with_one_clear_line_and_leaves_nothing(
        signed_app, tmp_path, file_size_limit):
    file_mail(signed_app, tmp_path / "in", [
        make_message(subject="Small one"),
        with_attachment(make_message(subject="Drawing attached"), 3_000_000)])
    selection = Selection(date_from=parse_date("2000-01-01"), date_to=parse_date("2100-01-01"))
    out = tmp_path / "out"
    out.mkdir()
    file_size_limit(2_000_000)
    with pytest.raises(EvidenceError, match=r"file size limit reached writing the evidence "
                                            r"package in .*out; free space or export to"):
        export_package(signed_app, selection, out / "p.zip", "carl")
    file_size_limit(resource.RLIM_INFINITY)
    assert list(out.iterdir()) == []
    # Nothing was left in a state that stops the next export.
    report = export_package(signed_app, selection, out / "p.zip", "carl")
    assert verify_package(report.path).status == "verified"


def test_without_a_key_the_package_is_marked_unsigned(app, tmp_path):
    file_mail(app, tmp_path / "in", [make_message()])
    (ref,) = refs_by_subject(app).values()
    report = export_package(app, Selection(cases=(ref,)), tmp_path / "p.zip", "carl")
    manifest = json.loads(unzip(report.path)[MANIFEST])
    assert manifest["checkpoint"] is None and manifest["public_key"] is None
    assert manifest["signing"].startswith("unsigned: archive.checkpoint_key is not set")
    assert not report.signed
    result = verify_package(report.path)
    assert (result.status, result.problems) == ("unsigned", [])


def test_an_order_case_brings_its_linked_enquiry(signed_app, cli, tmp_path):
    file_mail(signed_app, tmp_path / "in", [
        make_message(subject="Quotation for 200 pump housings", message_id="<rfq@c.example>"),
        make_message(subject="Purchase order 4500871234", message_id="<po@c.example>",
                     body="please find our purchase order 4500871234 for 200 housings")])
    refs = refs_by_subject(signed_app)
    enquiry, order = refs["Quotation for 200 pump housings"], refs["Purchase order 4500871234"]
    assert cli("cases", "link", enquiry, order, "--kind", "enquiry-order",
               "--as", "ben").code == 0
    report = export_package(signed_app, Selection(cases=(order,)), tmp_path / "p.zip", "carl")
    manifest = json.loads(unzip(report.path)[MANIFEST])
    assert {c["ref"]: c["included_because"] for c in manifest["cases"]} == {
        enquiry: f"enquiry/order linked to {order}", order: "selected"}
    assert len(manifest["messages"]) == 2


def test_selection_by_alias_customer_and_dates(signed_app, tmp_path):
    file_mail(signed_app, tmp_path / "in", [
        make_message(subject="Sales question"),
        make_message(subject="Support question", to="support@northpoint.example"),
        make_message(subject="Other customer", sender="bob@other.example")])

    def subjects(selection: Selection, name: str) -> set[str]:
        report = export_package(signed_app, selection, tmp_path / name, "carl")
        return {m["subject"] for m in json.loads(unzip(report.path)[MANIFEST])["messages"]}

    assert subjects(Selection(alias="SUPPORT@northpoint.example"), "a.zip") == {
        "Support question"}
    assert subjects(Selection(customer="customer.example"), "c.zip") == {
        "Sales question", "Support question"}
    assert subjects(Selection(customer="bob@other.example"), "b.zip") == {"Other customer"}
    today = utcnow().date().isoformat()
    assert len(subjects(Selection(date_from=parse_date(today),
                                  date_to=parse_date(today, end=True)), "d.zip")) == 3
    tomorrow = (utcnow() + timedelta(days=1)).date().isoformat()
    with pytest.raises(SelectionError, match="nothing matches"):
        export_package(signed_app, Selection(date_from=parse_date(tomorrow)),
                       tmp_path / "e.zip", "carl")


def test_a_selection_must_name_one_scope():
    with pytest.raises(SelectionError, match="nothing selected"):
        Selection()
    with pytest.raises(SelectionError, match="choose one of"):
        Selection(cases=("NPC-000001",), alias="sales@northpoint.example")


def test_an_existing_file_is_never_overwritten(signed_app, tmp_path):
    file_mail(signed_app, tmp_path / "in", [make_message()])
    (ref,) = refs_by_subject(signed_app).values()
    (tmp_path / "p.zip").write_text("keep me")
    with pytest.raises(EvidenceError, match="refusing to overwrite"):
        export_package(signed_app, Selection(cases=(ref,)), tmp_path / "p.zip", "carl")
    assert (tmp_path / "p.zip").read_text() == "keep me"


def test_purged_messages_are_listed_with_their_tombstone_and_still_verify(home, tmp_path):
    with open(home / "commgate.toml", "a") as config:
        config.write("\n[retention]\ndefault_days = 1\n")
    app = App.open(home)
    try:
        file_mail(app, tmp_path / "in", [make_message(subject="Old enquiry")])
        file_mail(app, tmp_path / "in2", [make_message(subject="Re: Old enquiry",
                                                       body="a later note")])
        assert expire(app, now=utcnow() + timedelta(days=2)).removed_blobs == 2
        (ref,) = set(refs_by_subject(app).values())
        report = export_package(app, Selection(cases=(ref,)), tmp_path / "p.zip", "carl")
    finally:
        app.close()
    files = unzip(report.path)
    manifest = json.loads(files[MANIFEST])
    assert report.purged == 2 and not any(n.startswith("messages/") for n in files)
    for message in manifest["messages"]:
        tomb = message["purged"]["tombstone"]
        assert message["file"] is None
        assert (tomb["entry"]["kind"], tomb["entry"]["sha256"]) == ("tombstone",
                                                                    message["sha256"])
    report_html = files["index.html"].decode()
    assert "removed under retention" in report_html and "tombstone ledger seq" in report_html
    assert {r["tombstone_seq"] for r in rows(files["messages.csv"])} == {
        str(m["purged"]["tombstone"]["seq"]) for m in manifest["messages"]}
    assert verify_package(report.path).status == "unsigned"


def test_mail_cannot_inject_markup_or_formulas(signed_app, tmp_path):
    file_mail(signed_app, tmp_path / "in", [HOSTILE])
    (ref,) = refs_by_subject(signed_app).values()
    files = unzip(export_package(signed_app, Selection(cases=(ref,)), tmp_path / "p.zip",
                                 "carl").path)
    page = files["index.html"].decode()
    assert "<script" not in page and "<img" not in page and "<b>Eve" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    assert not re.search(r"<[a-z]+[^>]*\s(src|href)=\"?https?:", page)  # nothing external
    assert "<link" not in page
    (case_row,) = rows(files["cases.csv"])
    assert case_row["subject"] == HOSTILE.split(b"Subject: ")[1].split(b"\r\n")[0].decode()
    spreadsheet = [*rows(files["cases.csv"]), *rows(files["messages.csv"]),
                   *rows(files["events.csv"])]
    assert not any(v.startswith(("=", "+", "-", "@")) for r in spreadsheet for v in r.values())


def test_the_csvs_come_from_the_workflow_modules(signed_app, cli, tmp_path):
    file_mail(signed_app, tmp_path / "in", [make_message(
        subject="Damaged bearings", to="support@northpoint.example",
        body="this is a formal complaint: the bearings arrived damaged. Unacceptable.")])
    (ref,) = refs_by_subject(signed_app).values()
    assert cli("feedback", "set", ref, "--type", "complaint", "--as", "alice").code == 0
    assert cli("feedback", "action", ref, "--corrective-action", "=CAPA-1",
               "--resolution-note", "replaced", "--as", "bob").code == 0
    assert cli("property", "add", ref, "--kind", "sample", "--description", "broken bearing",
               "--as", "alice").code == 0
    files = unzip(export_package(signed_app, Selection(cases=(ref,)), tmp_path / "p.zip",
                                 "carl").path)
    (feedback_row,) = rows(files["feedback-log.csv"])
    assert (feedback_row["type"], feedback_row["corrective action"]) == ("complaint", "'=CAPA-1")
    (item,) = rows(files["property-register.csv"])
    assert (item["case"], item["description"], item["status"]) == (ref, "broken bearing",
                                                                   "announced")
    custody = rows(files["property-custody.csv"])
    assert custody and (custody[0]["actor"], custody[0]["claimed_as"]) == (OS_USER, "alice")
    kinds = [r["kind"] for r in rows(files["events.csv"])]
    assert {"case_opened", "feedback_classified", "corrective_action_recorded",
            "property_registered"} <= set(kinds)
    page = files["index.html"].decode()
    assert "Customer property → chain of custody" in page and "broken bearing" in page
