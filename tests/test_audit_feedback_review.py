"""Auditor: "is customer feedback reviewed on a cadence, by whom, and what was decided?"
(ISO 9001 9.1.2, 10.2)

Driven through the CLI on a real database: three complaints come in; a review meeting decides
a corrective action for one, an improvement for another and no action (with the reason) for
the third; a no-action decision without a reason, an item left undecided and a decision on a
case that is not feedback are refused whole. The last assertion is what the auditor is shown:
the review with its attendees and decisions, the event on each case, and the cadence read
over a period (a gap longer than ``[feedback] review_every_days``, one item never reviewed).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from gateway.bootstrap import App
from gateway.services.feedback_reviews import review_cadence
from tests.support.cli import claimed, who
from tests.support.mail import make_message, write_messages

SUPPORT = "support@northpoint.example"
COMPLAINT = ("Hello,\n\nthis is a formal complaint: the {what} arrived damaged. This is "
             "unacceptable.\n\nAnna Buyer")


def _complaints(cli, tmp_path, count: int) -> list[str]:
    mails = write_messages(tmp_path / "mail", [
        make_message(subject=f"Damaged delivery {n}", to="support@northpoint.example",
                     message_id=f"<c{n}@customer.example>",
                     body=COMPLAINT.format(what=f"delivery {n}")) for n in range(count)])
    for mail in mails:
        assert cli("ingest", str(mail)).code == 0
    return [row["ref"] for row in cli("feedback", "list", "--json").json()]


def test_a_feedback_review_is_recorded_with_each_decision_and_the_cadence_read(
        cli, home, tmp_path):
    first, second, third, fourth = _complaints(cli, tmp_path, 4)
    other = make_message(subject="Opening hours", to="sales@northpoint.example",
                         body="Hello,\nwhen are you open?\nAnna")
    (path,) = write_messages(tmp_path / "other", [other])
    assert cli("ingest", str(path)).code == 0
    not_feedback = cli("cases", "list", "--json").json()[-1]["ref"]

    base = ["feedback", "review", "--attendees", "quality.alice, ops.bob",
            "--items", f"{first},{second},{third}", "--as", "quality.alice"]
    decisions = ["--decision", f"{first}=corrective-action:CAPA-2026-031 packaging",
                 "--decision", f"{second}=improvement:foam inserts for all bearings"]
    refusals = [
        cli(*base, *decisions, "--decision", f"{third}=no-action"),
        cli(*base, *decisions, "--decision", f"{third}=no-action:   "),
        cli(*base, *decisions),
        cli(*base, *decisions, "--decision", f"{third}=no-action:duplicate",
            "--decision", f"{not_feedback}=no-action:not ours"),
        cli("feedback", "review", "--attendees", "alice", "--items", not_feedback,
            "--decision", f"{not_feedback}=no-action:x", "--as", "quality.alice"),
        cli(*base, *decisions, "--decision", f"{third}=ignore:later"),
    ]
    expected = [
        f"the no-action decision on {third} does not say the reason",
        f"the no-action decision on {third} does not say the reason",
        f"the review decides nothing for {third} ",
        f"{not_feedback} has a decision but is not one of the reviewed items",
        f"{not_feedback} is not a feedback case",
        "'ignore' is not one of corrective-action, improvement, no-action",
    ]
    assert [(r.code, text in r.err) for r, text in zip(refusals, expected, strict=True)] == [
        (1, True)] * len(expected), [r.err for r in refusals]
    assert cli("feedback", "reviews", "--json").json() == []

    held = (datetime.now(UTC) - timedelta(days=10)).replace(microsecond=0)
    done = cli(*base, *decisions, "--decision",
               f"{third}=no-action:duplicate of {first}, same delivery",
               "--held", held.isoformat(), "--note", "quarterly review", "--json")
    assert done.code == 0, done.err
    review = done.json()
    (listed,) = cli("feedback", "reviews", "--json").json()
    events = [e for ref in (first, second, third)
              for e in cli("cases", "show", ref, "--json").json()["events"]
              if e["kind"] == "feedback_reviewed"]
    app = App.open(home)
    try:
        since = held - timedelta(days=200)
        cadence = review_cadence(app, actor="auditor", since=since,
                                 until=held + timedelta(days=20)).to_json()
    finally:
        app.close()

    # What the auditor is shown.
    assert listed == review
    assert {
        "review": (review["attendees"], review["recorded_by"], review["note"],
                   review["held_at"]),
        "decisions": [(i["ref"], i["decision"], i["text"], i["alias"])
                      for i in review["items"]],
        "events": [(who(e), e["data"]["item"], e["data"]["decision"],
                    e["data"]["review_id"]) for e in events],
        "cadence": (cadence["every_days"], cadence["kept"], len(cadence["reviews"]),
                    cadence["gaps"], [i["ref"] for i in cadence["never_reviewed"]]),
    } == {
        "review": (["quality.alice", "ops.bob"], "quality.alice", "quarterly review",
                   held.isoformat().replace("+00:00", "Z")),
        "decisions": [(first, "corrective-action", "CAPA-2026-031 packaging", SUPPORT),
                      (second, "improvement", "foam inserts for all bearings", SUPPORT),
                      (third, "no-action", f"duplicate of {first}, same delivery", SUPPORT)],
        "events": [(claimed("quality.alice"), first, "corrective-action", review["id"]),
                   (claimed("quality.alice"), second, "improvement", review["id"]),
                   (claimed("quality.alice"), third, "no-action", review["id"])],
        # 200 days before the review with none: longer than the 90-day default.
        "cadence": (90, False, 1, [{"from": since.isoformat().replace("+00:00", "Z"),
                                    "to": held.isoformat().replace("+00:00", "Z"),
                                    "days": 200.0}], [fourth]),
    }


def test_a_review_cannot_be_dated_in_the_future(cli, tmp_path):
    (ref,) = _complaints(cli, tmp_path, 1)
    later = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
    refused = cli("feedback", "review", "--attendees", "alice", "--items", ref,
                  "--decision", f"{ref}=improvement:x", "--held", later, "--as", "alice")
    assert refused.code == 1 and "in the future" in refused.err


def test_a_recorded_review_cannot_be_changed_or_deleted(cli, home, tmp_path):
    (ref,) = _complaints(cli, tmp_path, 1)
    assert cli("feedback", "review", "--attendees", "alice", "--items", ref,
               "--decision", f"{ref}=improvement:better packaging", "--as", "alice").code == 0
    app = App.open(home)
    try:
        refused = []
        for statement in ("UPDATE feedback_review_items SET decision = 'no-action'",
                          "DELETE FROM feedback_review_items",
                          "UPDATE feedback_reviews SET attendees = '[]'",
                          "DELETE FROM feedback_reviews"):
            try:
                with app.db.session() as session:
                    session.execute(text(statement))
            except DBAPIError as exc:
                refused.append("append-only" in str(exc))
        with app.db.session() as session:
            kept = session.execute(text("SELECT decision, text FROM feedback_review_items")).all()
    finally:
        app.close()
    assert refused == [True] * 4
    assert [tuple(row) for row in kept] == [("improvement", "better packaging")]
