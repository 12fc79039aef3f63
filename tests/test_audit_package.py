"""Auditor: "prove to me, who does not trust you, that these records are complete and unaltered."

An evidence package is built through the CLI after real enquiry → order and complaint workflows,
then checked in a fresh process with the whole installation (archive and database) deleted,
against the public key the auditor holds. Then every kind of tampering is tried on a package
and each must be reported, naming the file.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from archive.checkpoints import Checkpoint, key_id
from archive.entries import compute_entry_hash
from gateway.cli.main import main as cli_main
from gateway.evidence.verify import MANIFEST, SUMS, verify_package
from gateway.installation import init_home
from tests.support.cli import claimed
from tests.support.mail import make_message, write_messages

REPO = Path(__file__).resolve().parents[1]
RFQ = make_message(subject="Quotation for 200 pump housings PH-40",
                   message_id="<rfq-7731@customer.example>",
                   body="Hello,\nplease send us a quotation for 200 pump housings PH-40.\n\nAnna")
PURCHASE_ORDER = make_message(
    subject="Purchase order 4500871234", message_id="<po-4500871234@customer.example>",
    body="Hello,\nplease find our purchase order 4500871234 for 200 pump housings PH-40 as "
         "quoted.\nDelivery date 15 January 2027.\n\nRegards\nAnna Buyer")
COMPLAINT = make_message(
    subject="Damaged bearings in delivery 4711", to="support@northpoint.example",
    body="Hello,\n\nthis is a formal complaint: the 20 bearings of delivery 4711 arrived "
         "damaged. This is unacceptable.\n\nAnna Buyer")


def run(cli, *args: str) -> str:
    result = cli(*args)
    assert result.code == 0, (args, result.err)
    return result.out


def configure_key(home: Path, keys: Path) -> Path:
    """Create the checkpoint key outside the archive and name it in commgate.toml."""
    keys.mkdir()
    key = keys / "checkpoint.key"
    assert cli_main(["--home", str(home), "archive", "keygen", str(key)]) == 0
    config = home / "commgate.toml"
    config.write_text(config.read_text().replace(
        'path = "archive"', f'path = "archive"\ncheckpoint_key = "{key}"', 1))
    return keys / "checkpoint.key.pub"


def workflows(cli, tmp_path: Path) -> None:
    """An enquiry that became an accepted order, and a complaint acted on and closed."""
    for path in write_messages(tmp_path / "mail", [RFQ, PURCHASE_ORDER, COMPLAINT]):
        run(cli, "ingest", str(path))
    cases = {c["subject"]: c["ref"] for c in json.loads(run(cli, "cases", "list", "--json"))}
    enquiry, order = cases["Quotation for 200 pump housings PH-40"], \
        cases["Purchase order 4500871234"]
    complaint = cases["Damaged bearings in delivery 4711"]
    run(cli, "cases", "link", enquiry, order, "--kind", "enquiry-order", "--as", "sales.ben")
    run(cli, "review", "checklist", order, "--item", "scope=ok:200 x PH-40",
        "--item", "requirements=ok", "--item", "delivery-date=ok:15 Jan 2027",
        "--item", "special-handling=n/a", "--item", "customer-property=n/a", "--as", "qa.lena")
    po = next(m["pk"] for m in json.loads(run(cli, "order", "show", order, "--json"))["messages"]
              if m["message_id"] == "po-4500871234@customer.example")
    run(cli, "order", "accept", order, "--message", str(po), "--note", "accepted as quoted",
        "--as", "sales.ben")
    run(cli, "feedback", "set", complaint, "--type", "complaint", "--severity", "high",
        "--as", "quality.alice")
    run(cli, "feedback", "action", complaint, "--corrective-action", "CAPA-2026-017",
        "--resolution-note", "bearings replaced", "--as", "quality.bob")


def test_a_package_verifies_offline_with_the_installation_deleted(cli, home, tmp_path):
    public = configure_key(home, tmp_path / "keys")
    workflows(cli, tmp_path)
    package = tmp_path / "out" / "evidence.zip"
    package.parent.mkdir()
    made = json.loads(run(cli, "audit", "export", "--customer", "customer.example",
                          "-o", str(package), "--as", "compliance.carl", "--json"))
    assert made["signed"] and made["messages"] == 3 and len(made["cases"]) == 3

    shutil.rmtree(home)  # archive, database (SQLite) and config: all gone
    auditor = tmp_path / "auditor"
    auditor.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMMGATE_")}
    env["PYTHONPATH"] = str(REPO)
    checked = subprocess.run(
        [sys.executable, "-m", "gateway.cli.main", "audit", "verify-package", str(package),
         "--public-key", str(public), "--json"],
        cwd=auditor, env=env, capture_output=True, text=True, timeout=120)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    result = json.loads(checked.stdout)
    assert (result["status"], result["messages"], result["problems"]) == ("verified", 3, [])

    # The checker itself loads nothing of the database side.
    imports = subprocess.run(
        [sys.executable, "-c", "import sys, json; from gateway.evidence.verify import "
         "verify_package as v; r = v(sys.argv[1], sys.argv[2]); print(json.dumps([r.status, "
         "sorted(m for m in sys.modules if m.startswith(('sqlalchemy', 'gateway.db.session', "
         "'gateway.db.models')))]))", str(package), str(public)],
        cwd=auditor, env=env, capture_output=True, text=True, timeout=120)
    assert json.loads(imports.stdout) == ["verified", []], imports.stderr

    unpacked = auditor / "unpacked"
    with zipfile.ZipFile(package) as archive:
        archive.extractall(unpacked)
    sums = subprocess.run(["sha256sum", "-c", SUMS], cwd=unpacked, capture_output=True,
                          text=True)
    assert sums.returncode == 0, sums.stdout + sums.stderr
    files = [p for p in unpacked.rglob("*") if p.is_file()]
    assert sums.stdout.count(": OK") == len(files) - 1 == 13  # all but SHA256SUMS itself
    (unpacked / "events.csv").write_text("edited")
    assert subprocess.run(["sha256sum", "--quiet", "-c", SUMS], cwd=unpacked,
                          capture_output=True).returncode == 1

    # What the auditor reads: each case traced from the events, with who did what.
    report = (unpacked / "index.html").read_text()
    for stage in ("Enquiry → order", "Requirement review", "Acceptance",
                  "Changes and their reviews", "Feedback → corrective action",
                  "Corrective action", "Resolution and closure"):
        assert f">{stage}<" in report.replace("&gt;", ">"), stage
    assert report.index("checklist_updated") < report.index("order_accepted")
    assert "CAPA-2026-017: bearings replaced" in report
    assert all(f"by {claimed(name)}" in report for name in ("qa.lena", "sales.ben", "quality.bob"))


# -- tampering ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def signed(tmp_path_factory) -> dict[str, Path]:
    """One signed package (SQLite) with a normal and a purged-free message set, built once."""
    root = tmp_path_factory.mktemp("signed")
    with pytest.MonkeyPatch.context() as patch:
        for name in [k for k in os.environ if k.startswith("COMMGATE_")]:
            patch.delenv(name)
        home = root / "home"
        init_home(str(home), "NPC", ["sales@northpoint.example"])
        public = configure_key(home, root / "keys")
        paths = write_messages(root / "mail", [RFQ, PURCHASE_ORDER])
        assert cli_main(["--home", str(home), "ingest", *map(str, paths)]) == 0
        package = root / "evidence.zip"
        assert cli_main(["--home", str(home), "audit", "export", "--alias",
                         "sales@northpoint.example", "-o", str(package), "--as", "carl"]) == 0
    return {"package": package, "public": public, "key": root / "keys" / "checkpoint.key"}


def members(package: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(package) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def write_zip(path: Path, files: dict[str, bytes], reseal: bool = False) -> Path:
    """Write a package; with ``reseal`` the tamperer also recomputes SHA256SUMS and the
    manifest's file list, as someone who knows the format would."""
    if reseal:
        manifest = json.loads(files[MANIFEST])
        manifest["files"] = {n: hashlib.sha256(d).hexdigest() for n, d in files.items()
                             if n not in (MANIFEST, SUMS)}
        files[MANIFEST] = json.dumps(manifest).encode()
        files[SUMS] = "".join(f"{hashlib.sha256(d).hexdigest()}  {n}\n"
                              for n, d in files.items() if n != SUMS).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path


def first_message(files: dict[str, bytes]) -> str:
    return sorted(n for n in files if n.startswith("messages/"))[0]


def flip(data: bytes, at: int = -5) -> bytes:
    changed = bytearray(data)
    changed[at] ^= 0x01
    return bytes(changed)


def problems_of(path: Path, public: Path | None) -> dict[str, str]:
    result = verify_package(path, public)
    assert result.status == "failed"
    return {p.file: p.problem for p in result.problems}


def test_the_untouched_package_verifies_against_the_pinned_key(signed):
    result = verify_package(signed["package"], signed["public"])
    assert (result.status, result.messages, result.problems) == ("verified", 2, [])
    assert result.key_id == key_id(serialization.load_pem_public_key(
        signed["public"].read_bytes()))


def test_an_altered_message_byte_is_detected(signed, tmp_path):
    files = members(signed["package"])
    name = first_message(files)
    files[name] = flip(files[name])
    found = problems_of(write_zip(tmp_path / "p.zip", files), signed["public"])
    assert "differs from SHA256SUMS" in found[name]


def test_an_altered_message_is_detected_even_with_the_sums_recomputed(signed, tmp_path):
    files = members(signed["package"])
    name = first_message(files)
    files[name] = flip(files[name])
    found = problems_of(write_zip(tmp_path / "p.zip", files, reseal=True), signed["public"])
    assert "its ledger entry says" in found[name] and "altered" in found[name]


@pytest.mark.parametrize("name", ["manifest.json", "cases.csv", "feedback-log.csv",
                                  "index.html", "export-record.json"])
def test_any_altered_file_is_detected(signed, tmp_path, name):
    files = members(signed["package"])
    files[name] = files[name].replace(b"carl", b"mallory", 1) if b"carl" in files[name] \
        else files[name] + b" "
    found = problems_of(write_zip(tmp_path / "p.zip", files), signed["public"])
    assert "differs from SHA256SUMS" in found[name]


def test_an_edited_ledger_entry_in_the_manifest_is_detected(signed, tmp_path):
    files = members(signed["package"])
    manifest = json.loads(files[MANIFEST])
    entry = manifest["messages"][0]["entry"]
    entry["envelope"]["alias"] = "support@northpoint.example"
    files[MANIFEST] = json.dumps(manifest).encode()
    found = problems_of(write_zip(tmp_path / "p.zip", files, reseal=True), signed["public"])
    assert "was altered: its fields hash to" in found[manifest["messages"][0]["file"]]


def test_an_entry_rehashed_after_editing_fails_its_inclusion_proof(signed, tmp_path):
    files = members(signed["package"])
    manifest = json.loads(files[MANIFEST])
    item = manifest["messages"][0]
    item["entry"]["envelope"]["alias"] = "support@northpoint.example"
    item["entry"]["entry_hash"] = item["proof"]["entry_hash"] = compute_entry_hash(
        {k: v for k, v in item["entry"].items() if k != "entry_hash"})
    files[MANIFEST] = json.dumps(manifest).encode()
    found = problems_of(write_zip(tmp_path / "p.zip", files, reseal=True), signed["public"])
    assert "does not lead to the checkpoint's root" in found[item["file"]]


def test_a_removed_message_is_detected(signed, tmp_path):
    files = members(signed["package"])
    name = first_message(files)
    del files[name]
    found = problems_of(write_zip(tmp_path / "p.zip", files), signed["public"])
    assert "missing" in found[name]


def test_a_message_removed_from_zip_and_manifest_disagrees_with_the_logged_export(signed,
                                                                                  tmp_path):
    files = members(signed["package"])
    manifest = json.loads(files[MANIFEST])
    removed = manifest["messages"].pop(0)
    del files[removed["file"]]
    files[MANIFEST] = json.dumps(manifest).encode()
    found = problems_of(write_zip(tmp_path / "p.zip", files, reseal=True), signed["public"])
    assert "the logged export had 2 message(s), the manifest lists 1" in \
        found["export-record.json"]


@pytest.mark.parametrize("reseal", [False, True])
def test_an_added_file_is_detected(signed, tmp_path, reseal):
    files = members(signed["package"])
    files["messages/000000099-" + "ab" * 32 + ".eml"] = b"Subject: planted\r\n\r\nhi\r\n"
    found = problems_of(write_zip(tmp_path / "p.zip", files, reseal=reseal), signed["public"])
    problem = found["messages/000000099-" + "ab" * 32 + ".eml"]
    assert ("a message file the manifest does not list" if reseal
            else "not listed in SHA256SUMS") in problem


def test_a_duplicate_member_name_is_detected(signed, tmp_path):
    path = tmp_path / "p.zip"
    shutil.copy(signed["package"], path)
    files = members(path)
    name = first_message(files)
    with pytest.warns(UserWarning), zipfile.ZipFile(path, "a") as archive:
        archive.writestr(name, b"Subject: other\r\n\r\n")
    assert "appears twice" in problems_of(path, signed["public"])[name]


def swap_checkpoint(files: dict[str, bytes], change) -> dict[str, bytes]:  # type: ignore
    manifest = json.loads(files[MANIFEST])
    change(manifest)
    files[MANIFEST] = json.dumps(manifest).encode()
    return files


def test_a_swapped_signature_is_detected(signed, tmp_path):
    other = Ed25519PrivateKey.generate()

    def resign(manifest):  # type: ignore[no-untyped-def]
        cp = Checkpoint.from_json(manifest["checkpoint"])
        manifest["checkpoint"]["signature"] = base64.b64encode(
            other.sign(cp.signed_bytes())).decode()

    files = swap_checkpoint(members(signed["package"]), resign)
    found = problems_of(write_zip(tmp_path / "p.zip", files, reseal=True), None)
    assert "signature does not verify" in found[MANIFEST]


def test_a_package_resigned_with_another_key_fails_against_the_pinned_key(signed, tmp_path):
    other = Ed25519PrivateKey.generate()
    pem = other.public_key().public_bytes(serialization.Encoding.PEM,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)

    def resign(manifest):  # type: ignore[no-untyped-def]
        cp = Checkpoint.from_json(manifest["checkpoint"])
        forged = Checkpoint(cp.tree_size, cp.root_hash, cp.time, key_id(other.public_key()), "")
        manifest["checkpoint"]["key_id"] = forged.key_id
        manifest["checkpoint"]["signature"] = base64.b64encode(
            other.sign(forged.signed_bytes())).decode()
        manifest["public_key"] = {"pem": pem.decode(), "key_id": forged.key_id}

    path = write_zip(tmp_path / "p.zip", swap_checkpoint(members(signed["package"]), resign),
                     reseal=True)
    assert "not with the pinned key" in problems_of(path, signed["public"])[MANIFEST]
    # Unpinned, a forger's own key vouches for the forgery: which is why auditors pin theirs.
    assert verify_package(path).status == "verified"


def test_a_file_that_is_not_a_zip_is_reported(tmp_path):
    path = tmp_path / "p.zip"
    path.write_bytes(b"not a zip")
    assert "not a readable zip file" in problems_of(path, None)["(package)"]


def test_the_cli_prints_one_line_per_damaged_file_and_exits_1(signed, tmp_path, capsys):
    files = members(signed["package"])
    name = first_message(files)
    files[name] = flip(files[name])
    files["index.html"] += b"<!-- -->"
    path = write_zip(tmp_path / "p.zip", files)
    code = cli_main(["audit", "verify-package", str(path), "--public-key",
                     str(signed["public"])])
    out = capsys.readouterr().out.splitlines()
    assert code == 1
    assert out[0] == "package FAILED verification: 2 problem(s)"
    assert sorted(line.split(":")[0].strip() for line in out[1:]) == sorted([name,
                                                                              "index.html"])


def test_a_zip_rewritten_by_a_tool_still_verifies(signed, tmp_path):
    """Re-zipping (another compression, another order) changes no member: still verified."""
    files = members(signed["package"])
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files, reverse=True):
            archive.writestr(name, files[name])
    path = tmp_path / "p.zip"
    path.write_bytes(buffer.getvalue())
    assert verify_package(path, signed["public"]).status == "verified"
