"""Auditor questions on audit readiness (ISO 9001 8.2.1), end to end through the command line on
a real database (SQLite and PostgreSQL): "show me your Customer Communication Procedure", "let
us trace a sample of recent orders and complaints", "give me the evidence to take away".
The last assertion of each test is what the auditor is shown."""

from __future__ import annotations

import hashlib
import json
import zipfile

from tests.support.audit_findings import (
    complaint_closed_without_corrective_action,
    order_accepted_over_an_unconfirmed_change,
)
from tests.support.checkpoints import configure_checkpoint_key

OWNERS = {"sales@northpoint.example": "sales", "support@northpoint.example": "service",
          "returns@northpoint.example": "logistics"}
LIFECYCLE = """
[lifecycle]
role_addresses = { quality = "quality-lead@northpoint.example" }

[[lifecycle.targets]]
category = "feedback"
owner_role = "quality"
first_response_hours = 8
resolution_hours = 240

[[lifecycle.targets]]
alias = "support@northpoint.example"
first_response_hours = 4
"""


def configure_owners(home):
    config = home / "commgate.toml"
    text = config.read_text()
    for address, role in OWNERS.items():
        text = text.replace(f'address = "{address}"',
                            f'address = "{address}"\nowner_role = "{role}"', 1)
    config.write_text(text + LIFECYCLE)


def test_the_procedures_lifecycle_map_names_the_configured_aliases_and_owner_roles(
        cli, home, tmp_path):
    configure_owners(home)
    md, page = tmp_path / "procedure.md", tmp_path / "procedure.html"
    done = cli("procedure", "--days", "30", "-o", str(md))
    assert done.code == 0, done.err
    assert done.out.startswith(f"wrote {md}: 18 lifecycle rows, 12 conformance rules")
    assert cli("procedure", "--format", "html", "-o", str(page)).code == 0
    document = cli("procedure", "--json").json()
    rows = {(r["phase"], r["alias"]): (r["owner_role"], r["first_response_hours"],
                                       r["resolution_hours"])
            for r in document["lifecycle_map"]}

    html = page.read_text()
    assert "default-src 'none'" in html and "<script" not in html
    assert all(f"<td>{address}</td>" in html for address in OWNERS)
    assert "Role quality: escalations mailed to quality-lead@northpoint.example" in md.read_text()
    text = md.read_text().splitlines()
    shown = [line for line in text if line.startswith(("| quote, contract and order",
                                                       "| feedback and complaints"))]
    assert rows[("enquiry intake", "support@northpoint.example")] == ("service", 4.0, None)
    assert rows[("feedback and complaints", "returns@northpoint.example")] == (
        "quality", 8.0, 240.0)
    # What the auditor reads: each phase, the channel, who owns it, the record and the targets.
    order_record = ("order case: requirement-review checklist, order decision, scope-change "
                    "reviews")
    feedback_record = "feedback record: type, severity, corrective action, resolution note"
    assert shown == [
        f"| quote, contract and order | sales@northpoint.example | sales | sales | "
        f"{order_record} | none | none |",
        f"| quote, contract and order | support@northpoint.example | support | service | "
        f"{order_record} | 4 h | none |",
        f"| quote, contract and order | returns@northpoint.example | returns | logistics | "
        f"{order_record} | none | none |",
        f"| feedback and complaints | sales@northpoint.example | sales | quality | "
        f"{feedback_record} | 8 h | 240 h |",
        f"| feedback and complaints | support@northpoint.example | support | quality | "
        f"{feedback_record} | 8 h | 240 h |",
        f"| feedback and complaints | returns@northpoint.example | returns | quality | "
        f"{feedback_record} | 8 h | 240 h |",
    ]


def test_an_unconfirmed_change_and_a_complaint_without_corrective_action_are_missing_evidence(
        cli, tmp_path):
    order = order_accepted_over_an_unconfirmed_change(cli, tmp_path)
    complaint = complaint_closed_without_corrective_action(cli, tmp_path)

    sampled = cli("audit", "sample", "--seed", "11", "--json")
    assert sampled.code == 0, sampled.err
    again = cli("audit", "sample", "--seed", "11", "--json").json()
    sample = sampled.json()
    assert again["traces"] == sample["traces"]  # the same seed picks and traces the same
    assert sample["population"] == {"order": 1, "scope-change": 1, "complaint": 1,
                                    "property": 0}
    missing = {(t["kind"], t["ref"]): [(e["name"], e["detail"]) for e in t["evidence"]
                                       if e["status"] == "missing"]
               for t in sample["traces"]}
    readiness = sample["readiness"]
    assert readiness["elements"]["feedback"] == {"present": 0, "missing": 1, "score": 0.0}
    assert readiness["overall"]["missing"] == 3

    procedure = cli("procedure", "--json").json()
    failing = {r["name"]: [f["ref"] for f in r["failing"]] for r in procedure["conformance"]}
    assert failing["orders-with-changes-confirmed"] == [order]
    assert failing["complaints-with-corrective-action"] == [complaint]

    text = cli("audit", "sample", "--seed", "11").out
    assert f"complaint {complaint}: complaint (closed): Burrs on pump housings" in text
    assert "  MISSING corrective action: complaint closed without corrective action" in text
    # What the auditor is shown: the accepted order, its change and the complaint, each with
    # the evidence that is not there and why.
    assert missing == {
        ("order", order): [(
            "scope changes confirmed before acceptance",
            "accepted while the customer had not confirmed scope change review 1 (approved by "
            "qa.lena)")],
        ("scope-change", order): [("customer confirmation",
                                   "no customer confirmation of the change")],
        ("complaint", complaint): [(
            "corrective action",
            "complaint closed without corrective action and resolution note after it was "
            "retyped complaint -> suggestion by qm.petra (admin) on "
            + next(e["at"] for e in cli("cases", "show", complaint, "--json").json()["events"]
                   if e["kind"] == "feedback_classified" and e["actor"] == "qm.petra")
            + ": a wish for deburring, not a complaint")],
    }


def test_the_audit_pack_verifies_offline_and_a_tampered_pack_fails(cli, home, tmp_path):
    key = configure_checkpoint_key(home, tmp_path / "keys")
    order = order_accepted_over_an_unconfirmed_change(cli, tmp_path)
    complaint = complaint_closed_without_corrective_action(cli, tmp_path)
    pack = tmp_path / "audit-pack.zip"

    made = cli("audit", "pack", "--seed", "3", "-o", str(pack), "--as", "qm.petra", "--json")
    assert made.code == 0, made.err
    report = made.json()
    assert report["signed"] and report["cases"] == sorted([order, complaint])
    assert cli("audit", "pack", "--seed", "3", "-o", str(pack), "--as", "qm.petra").code == 1
    (logged,) = cli("audit", "log", "--action", "export", "--json").json()
    assert (logged["actor"], logged["detail"]["purpose"], logged["seq"]) == (
        "qm.petra", "audit-pack", report["export_seq"])
    with zipfile.ZipFile(pack) as z:
        names = set(z.namelist())
        sample = json.loads(z.read("audit/sample.json"))
        templates = json.loads(z.read("audit/templates.json"))
        index = z.read("audit/index.html").decode()
    assert {"audit/procedure.md", "audit/procedure.html", "audit/sample.md",
            "audit/index.html", "reviews.csv", "feedback-log.csv"} <= names
    assert sample["seed"] == 3 and {t["ref"] for t in sample["traces"]} == {order, complaint}
    assert [(t["name"], t["version"], [h["action"] for h in t["history"]])
            for t in templates] == [("scope-change-approved", 1,
                                     ["created", "approved", "published"])]
    assert "Where each kind of evidence lives" in index and "feedback-log.csv" in index

    public = key.with_name(key.name + ".pub")
    checked = cli("audit", "verify-package", str(pack), "--public-key", str(public),
                  use_home=False)
    assert checked.code == 0, checked.out

    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(pack) as source, zipfile.ZipFile(tampered, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "audit/procedure.md":
                data = data.replace(b"| sales |", b"| nobody |")
            target.writestr(info, data)
    refused = cli("audit", "verify-package", str(tampered), "--public-key", str(public),
                  use_home=False)
    assert refused.code == 1
    # What the auditor is shown: the genuine pack verified against the pinned key, and the
    # altered procedure named as the one file that no longer matches.
    assert checked.out.startswith("package verified: ")
    assert refused.out.splitlines()[1:] == [
        f"  audit/procedure.md: sha256 {_sha(tampered, 'audit/procedure.md')} differs from "
        f"SHA256SUMS ({_sha(pack, 'audit/procedure.md')}): the file was altered"]


def _sha(package, name):
    with zipfile.ZipFile(package) as z:
        return hashlib.sha256(z.read(name)).hexdigest()
