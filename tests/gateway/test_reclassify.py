"""Reclassification after a rules change: changes are applied and recorded, nothing else moves."""

from __future__ import annotations

from sqlalchemy import update

from gateway.db.models import Message
from tests.support.mail import make_message, write_messages


def test_reclassify_records_each_change_as_an_event(cli, app, tmp_path):
    write_messages(tmp_path / "in", [
        make_message(subject="Purchase order 4500012345",
                     body="Please find attached our purchase order 4500012345 for 10 valves."),
        make_message(subject="Question", body="Could you send us a datasheet?"),
    ])
    cli("ingest", str(tmp_path / "in"))
    assert cli("reclassify", "--json").json()["changed"] == []
    # Pretend an older rules version had filed the order as an enquiry.
    with app.db.session() as session:
        session.execute(update(Message).where(Message.subject.like("Purchase%"))
                        .values(category="enquiry", rules_version="old-rules"))
    dry = cli("reclassify", "--dry-run", "--json").json()
    assert [(c["from"]["category"], c["to"]["category"]) for c in dry["changed"]] == [
        ("enquiry", "order")]
    assert cli("reclassify", "--json").json()["changed"] == dry["changed"]
    shown = cli("cases", "show", "NPC-000001", "--json").json()
    assert shown["messages"][0]["category"] == "order"
    (event,) = [e for e in shown["events"] if e["kind"] == "message_reclassified"]
    assert event["data"]["from"]["rules_version"] == "old-rules"
    assert event["data"]["to"]["category"] == "order"
    assert cli("reclassify", "--json").json()["changed"] == []
