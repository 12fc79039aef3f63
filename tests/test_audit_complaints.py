"""Auditor question: "where do complaints go and how were they resolved?" (ISO 9001 8.2.1 c,
10.2), answered end to end through the command line on a real database."""

from __future__ import annotations

import csv

from tests.support.cli import claimed, who
from tests.support.mail import make_message

COMPLAINT = ("Hello,\n\nthis is a formal complaint: the 20 bearings of delivery 4711 arrived "
             "damaged. This is unacceptable.\n\nAnna Buyer\nCustomer GmbH")


def test_a_complaint_is_classified_acted_on_and_closed_with_its_evidence(cli, tmp_path):
    mail = tmp_path / "complaint.eml"
    mail.write_bytes(make_message(subject="Damaged bearings in delivery 4711", body=COMPLAINT,
                                  to="support@northpoint.example"))
    assert cli("ingest", str(mail)).code == 0

    # Where it went: a feedback case, waiting for a person to confirm what the rules suggest.
    (entry,) = cli("feedback", "list", "--json").json()
    ref = entry["ref"]
    assert (entry["type"], entry["suggested_type"], entry["status"]) == ("", "complaint", "new")

    set_type = cli("feedback", "set", ref, "--type", "complaint", "--severity", "high",
                   "--as", "quality.alice", "--json")
    assert set_type.code == 0, set_type.err
    assert cli("cases", "status", ref, "open", "--as", "quality.alice").code == 0
    assert cli("cases", "status", ref, "resolved", "--note", "replacement shipped",
               "--as", "quality.alice").code == 0

    refused = cli("cases", "status", ref, "closed", "--as", "quality.alice")
    assert refused.code == 1
    assert ("a complaint needs a corrective-action reference and a resolution note"
            in refused.err)

    action = cli("feedback", "action", ref, "--corrective-action", "CAPA-2026-017",
                 "--resolution-note", "20 bearings replaced; packaging changed to foam inserts",
                 "--root-cause", "loose packaging", "--as", "quality.bob", "--json")
    assert action.code == 0, action.err
    closed = cli("cases", "status", ref, "closed", "--as", "quality.carol", "--json")
    assert closed.code == 0, closed.err

    export = tmp_path / "feedback-log.csv"
    assert cli("feedback", "export", "-o", str(export)).code == 0
    with export.open(newline="", encoding="utf-8") as stream:
        (row,) = list(csv.DictReader(stream))
    history = cli("cases", "show", ref, "--json").json()["events"]
    by_people = [(who(e), e["kind"], {k: e["data"][k] for k in sorted(e["data"])
                                          if k not in ("at", "previous")})
                 for e in history if e["actor"] != "system"]
    system = [e["kind"] for e in history if e["actor"] == "system"]

    assert row["received"] <= row["closed_at"] and float(row["days to close"]) >= 0
    assert {"case_opened", "message_classified", "feedback_recorded"} <= set(system)

    # The evidence an auditor is shown: the log row and who did what on the case.
    evidence = {"log": {k: row[k] for k in ("ref", "customer", "type", "severity", "status",
                                            "corrective action", "resolution", "root cause")},
                "history": by_people}
    assert evidence == {
        "log": {"ref": ref, "customer": "anna@customer.example", "type": "complaint",
                "severity": "high", "status": "closed", "corrective action": "CAPA-2026-017",
                "resolution": "20 bearings replaced; packaging changed to foam inserts",
                "root cause": "loose packaging"},
        "history": [
            (claimed("quality.alice"), "feedback_classified", {
                "severity": {"from": "", "to": "high"}, "type": {"from": "", "to": "complaint"}}),
            (claimed("quality.alice"), "status_changed", {"from": "new", "note": "", "to": "open"}),
            (claimed("quality.alice"), "status_changed", {
                "from": "open", "note": "replacement shipped", "to": "resolved"}),
            (claimed("quality.bob"), "corrective_action_recorded", {
                "corrective_action_ref": "CAPA-2026-017",
                "resolution_note": "20 bearings replaced; packaging changed to foam inserts",
                "root_cause": "loose packaging"}),
            (claimed("quality.carol"), "status_changed", {"from": "resolved", "note": "",
                                                 "to": "closed"}),
        ]}
