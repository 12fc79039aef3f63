"""A person's classification drives the workflows as the pipeline's does, through the CLI on
SQLite and PostgreSQL: a case classified property gets the register's proposed item, one
classified feedback its feedback record; classified away, nothing is deleted."""

from __future__ import annotations

from sqlalchemy import select

from gateway.db.feedback import FeedbackRecord
from gateway.db.models import CaseEvent, Message
from gateway.db.property import PropertyHistory, PropertyItem
from tests.support.cli import OS_USER
from tests.support.triage import UNDECIDED, configure, ingest, triage


def classify(cli, ref: str, category: str, actor: str) -> dict:
    result = cli("cases", "classify", ref, "--category", category, "--as", actor, "--json")
    assert result.code == 0, result.err
    return result.json()


def events(session, kind: str) -> list[CaseEvent]:
    return list(session.scalars(select(CaseEvent).where(CaseEvent.kind == kind)
                                .order_by(CaseEvent.id)))


def waiting_case(home, cli, tmp_path) -> str:
    configure(home)
    ingest(cli, tmp_path, UNDECIDED)
    return triage(cli)[0]["ref"]


def test_classified_as_property_the_case_gets_the_proposed_item_the_pipeline_makes(
        home, cli, tmp_path, app):
    ref = waiting_case(home, cli, tmp_path)
    data = classify(cli, ref, "property", "alice")
    with app.db.session() as session:
        item = session.scalars(select(PropertyItem)).one()
        message = session.scalars(select(Message)).one()
        assert (item.status, item.proposed, item.created_by) == ("announced", True, "alice")
        assert item.source_message_pk == message.id and item.description == "Hello"
        assert data["records"] == {"property": {"proposed": [item.id]}}
        proposed = events(session, "property_proposed")
        assert [(e.actor, e.claimed_as, e.message_pk) for e in proposed] == [
            (OS_USER, "alice", message.id)]
        history = session.scalars(select(PropertyHistory)).one()
        assert (history.actor, history.claimed_as, history.action) == (OS_USER, "alice",
                                                                       "proposed")
    # The register's own workflow takes it from there.
    confirmed = cli("property", "confirm", str(item.id), "--as", "alice")
    assert confirmed.code == 0, confirmed.err
    text = cli("cases", "classify", ref, "--category", "property", "--as", "bob")
    assert text.code == 0 and f"property item {item.id} kept" in text.out
    with app.db.session() as session:
        assert len(session.scalars(select(PropertyItem)).all()) == 1


def test_a_pipeline_proposal_is_not_doubled_by_a_confirmation(home, cli, tmp_path, app):
    configure(home)
    ingest(cli, tmp_path, dict(UNDECIDED, to="returns@northpoint.example"))  # prior: property
    ref = triage(cli)[0]["ref"]
    with app.db.session() as session:
        pipeline_item = session.scalars(select(PropertyItem)).one()
        assert pipeline_item.created_by == "system"
    data = classify(cli, ref, "property", "alice")
    assert data["records"] == {"property": {"kept": [pipeline_item.id]}}
    with app.db.session() as session:
        assert len(session.scalars(select(PropertyItem)).all()) == 1


def test_classified_away_from_property_a_proposal_is_dismissed_not_deleted(
        home, cli, tmp_path, app):
    ref = waiting_case(home, cli, tmp_path)
    first = classify(cli, ref, "property", "alice")["records"]["property"]["proposed"][0]
    data = classify(cli, ref, "order", "bob")
    assert data["records"] == {"property": {"dismissed": [first]}}
    with app.db.session() as session:
        item = session.get(PropertyItem, first)
        assert item.status == "dismissed"
        change = events(session, "property_status_changed")[-1]
        assert (change.actor, change.claimed_as, change.data["to"]) == (OS_USER, "bob",
                                                                        "dismissed")
        assert "classified as order by bob" in change.data["note"]
        classified = events(session, "case_classified")[-1]
        assert classified.data["records"]["property"]["dismissed"] == [first]
    # Said to be property again: a new proposal, the dismissed one stays as it was.
    again = classify(cli, ref, "property", "carol")["records"]["property"]["proposed"]
    assert len(again) == 1 and again[0] != first
    with app.db.session() as session:
        assert sorted(session.scalars(select(PropertyItem.status))) == ["announced",
                                                                        "dismissed"]


def test_classified_away_from_property_a_confirmed_item_is_kept(home, cli, tmp_path, app):
    ref = waiting_case(home, cli, tmp_path)
    item = classify(cli, ref, "property", "alice")["records"]["property"]["proposed"][0]
    assert cli("property", "confirm", str(item), "--as", "alice").code == 0
    result = cli("cases", "classify", ref, "--category", "enquiry", "--as", "bob")
    assert result.code == 0, result.err
    assert f"property item {item} kept" in result.out
    with app.db.session() as session:
        stored = session.get(PropertyItem, item)
        assert (stored.status, stored.proposed) == ("announced", False)


def test_classified_as_feedback_the_case_gets_its_feedback_record(home, cli, tmp_path, app):
    ref = waiting_case(home, cli, tmp_path)
    data = classify(cli, ref, "feedback", "alice")
    with app.db.session() as session:
        row = session.scalars(select(FeedbackRecord)).one()
        assert (row.created_by, row.type) == ("alice", "")
        assert data["records"] == {"feedback": {"opened": row.id, "suggested_type": ""}}
        recorded = events(session, "feedback_recorded")
        assert [(e.actor, e.claimed_as) for e in recorded] == [(OS_USER, "alice")]
    # The record's workflow holds: the case does not close before its type is set.
    assert cli("cases", "status", ref, "resolved", "--as", "alice").code == 0
    closed = cli("cases", "status", ref, "closed", "--as", "alice")
    assert closed.code != 0 and "feedback type is not set" in closed.err
    assert classify(cli, ref, "feedback", "bob")["records"] == {"feedback": {"kept": row.id}}


def test_classified_away_from_feedback_the_record_is_kept_and_the_event_says_so(
        home, cli, tmp_path, app):
    ref = waiting_case(home, cli, tmp_path)
    record = classify(cli, ref, "feedback", "alice")["records"]["feedback"]["opened"]
    result = cli("cases", "classify", ref, "--category", "enquiry", "--as", "bob")
    assert result.code == 0, result.err
    assert f"feedback record {record} kept" in result.out
    with app.db.session() as session:
        assert session.scalars(select(FeedbackRecord.id)).all() == [record]
        classified = events(session, "case_classified")[-1]
        assert (classified.actor, classified.claimed_as) == (OS_USER, "bob")
        kept = classified.data["records"]["feedback"]
        assert kept["kept"] == record and "evidence" in kept["reason"]
