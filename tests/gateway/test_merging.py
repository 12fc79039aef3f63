"""Staff merge, split and link cases through the CLI; every change is an event and reversible,
and no message is ever lost or duplicated on the way."""

from __future__ import annotations

from sqlalchemy import select

from gateway.core.text import acted_by
from gateway.db.models import Case, CaseEvent, CaseLink, Message
from gateway.processing.ingest import ingest
from tests.support.cli import claimed
from tests.support.mail import make_message, write_messages


def seed(app, tmp_path):
    """Two cases: NPC-000001 with three messages, NPC-000002 with one."""
    first = [make_message(subject="Valve V-20 leaking at flange", message_id=f"<v{n}@c.example>",
                          in_reply_to=f"<v{n - 1}@c.example>" if n else None)
             for n in range(3)]
    other = make_message(subject="Catalogue request 2027", sender="ben@other.example")
    ingest(app, write_messages(tmp_path / "seed", [*first, other]))


def placement(app):
    """message id -> case ref, for every message."""
    with app.db.session() as session:
        return {pk: ref for pk, ref in session.execute(
            select(Message.id, Case.ref).join(Case, Case.id == Message.case_id))}


def case_row(app, ref):
    with app.db.session() as session:
        return session.scalars(select(Case).where(Case.ref == ref)).one()


def events(app, ref, kind):
    with app.db.session() as session:
        case_id = session.scalar(select(Case.id).where(Case.ref == ref))
        return [(acted_by(e.actor, e.claimed_as), e.data) for e in session.scalars(
            select(CaseEvent).where(CaseEvent.case_id == case_id, CaseEvent.kind == kind)
            .order_by(CaseEvent.id))]


def links(app):
    with app.db.session() as session:
        refs = {case_id: ref for case_id, ref in session.execute(select(Case.id, Case.ref))}
        return sorted((refs[link.case_id], refs[link.other_case_id], link.kind)
                      for link in session.scalars(select(CaseLink)))


def test_merge_and_unmerge_round_trip(app, tmp_path, cli):
    seed(app, tmp_path)
    before = placement(app)
    status_before = case_row(app, "NPC-000002").status
    moved = [pk for pk, ref in before.items() if ref == "NPC-000002"]

    result = cli("cases", "merge", "NPC-000002", "--into", "NPC-000001", "--as", "alice",
                 "--note", "same customer issue", "--json")
    assert result.code == 0, result.err
    assert result.json() == {"action": "merge", "from": "NPC-000002", "to": "NPC-000001",
                             "messages": moved}
    assert set(placement(app).values()) == {"NPC-000001"}
    assert len(placement(app)) == len(before)
    source = case_row(app, "NPC-000002")
    assert (source.status, source.merged_into_id) == ("merged", case_row(app, "NPC-000001").id)
    assert links(app) == [("NPC-000002", "NPC-000001", "merged-into")]
    assert events(app, "NPC-000002", "case_merged")[0][0] == claimed("alice")
    assert events(app, "NPC-000002", "case_merged")[0][1]["messages"] == moved
    assert events(app, "NPC-000001", "case_merged_in")[0][1]["messages"] == moved

    result = cli("cases", "unmerge", "NPC-000002", "--as", "bob")
    assert result.code == 0, result.err
    assert placement(app) == before
    assert case_row(app, "NPC-000002").status == status_before
    assert case_row(app, "NPC-000002").merged_into_id is None
    assert links(app) == []
    assert events(app, "NPC-000002", "case_unmerged")[0] == (
        claimed("bob"),
        {"from": "NPC-000001", "messages": moved, "status": status_before, "note": ""})


def test_merges_that_make_no_sense_are_refused(app, tmp_path, cli):
    seed(app, tmp_path)
    refused = cli("cases", "merge", "NPC-000001", "--into", "NPC-000001", "--as", "a")
    assert refused.code == 1 and "into itself" in refused.err
    assert cli("cases", "merge", "NPC-000002", "--into", "NPC-000001", "--as", "a").code == 0
    refused = cli("cases", "merge", "NPC-000001", "--into", "NPC-000002", "--as", "a")
    assert refused.code == 1 and "merge into that case" in refused.err
    refused = cli("cases", "merge", "NPC-000002", "--into", "NPC-000001", "--as", "a")
    assert refused.code == 1 and "already merged" in refused.err
    refused = cli("cases", "unmerge", "NPC-000001", "--as", "a")
    assert refused.code == 1 and "not merged" in refused.err
    refused = cli("cases", "merge", "NPC-000404", "--into", "NPC-000001", "--as", "a")
    assert refused.code == 1 and "no case" in refused.err


def test_split_and_unsplit_round_trip(app, tmp_path, cli):
    seed(app, tmp_path)
    before = placement(app)
    first_case = sorted(pk for pk, ref in before.items() if ref == "NPC-000001")
    chosen = first_case[1:]

    args = [arg for pk in chosen for arg in ("--message", str(pk))]
    result = cli("cases", "split", "NPC-000001", *args, "--as", "carol", "--json")
    assert result.code == 0, result.err
    assert result.json()["to"] == "NPC-000003"
    after = placement(app)
    assert {pk: after[pk] for pk in chosen} == dict.fromkeys(chosen, "NPC-000003")
    assert len(after) == len(before)
    assert links(app) == [("NPC-000003", "NPC-000001", "split-from")]
    assert events(app, "NPC-000001", "case_split")[0] == (
        claimed("carol"), {"to": "NPC-000003", "messages": chosen, "note": ""})
    assert events(app, "NPC-000003", "case_opened")[0][1]["split_from"] == "NPC-000001"

    result = cli("cases", "unsplit", "NPC-000003", "--as", "carol", "--json")
    assert result.code == 0, result.err
    assert placement(app) == before
    assert case_row(app, "NPC-000003").status == "merged"
    # The undo is an ordinary merge, so it can itself be undone.
    assert cli("cases", "unmerge", "NPC-000003", "--as", "carol").code == 0
    assert {pk: placement(app)[pk] for pk in chosen} == dict.fromkeys(chosen, "NPC-000003")


def test_splits_that_make_no_sense_are_refused(app, tmp_path, cli):
    seed(app, tmp_path)
    before = placement(app)
    everything = [arg for pk, ref in before.items() if ref == "NPC-000001"
                  for arg in ("--message", str(pk))]
    refused = cli("cases", "split", "NPC-000001", *everything, "--as", "a")
    assert refused.code == 1 and "leave it empty" in refused.err
    foreign = next(pk for pk, ref in before.items() if ref == "NPC-000002")
    refused = cli("cases", "split", "NPC-000001", "--message", str(foreign), "--as", "a")
    assert refused.code == 1 and "not in NPC-000001" in refused.err
    refused = cli("cases", "unsplit", "NPC-000001", "--as", "a")
    assert refused.code == 1 and "was not split" in refused.err
    assert placement(app) == before


def test_link_and_unlink(app, tmp_path, cli):
    seed(app, tmp_path)
    result = cli("cases", "link", "NPC-000002", "NPC-000001", "--kind", "enquiry-order",
                 "--as", "dora", "--json")
    assert result.code == 0, result.err
    assert links(app) == [("NPC-000002", "NPC-000001", "enquiry-order")]
    again = cli("cases", "link", "NPC-000002", "NPC-000001", "--kind", "enquiry-order",
                "--as", "dora")
    assert again.code == 1 and "already linked" in again.err
    assert cli("cases", "link", "NPC-000001", "NPC-000001", "--kind", "related",
               "--as", "dora").code == 1
    assert events(app, "NPC-000001", "case_linked")[0] == (
        claimed("dora"), {"other": "NPC-000002", "kind": "enquiry-order", "role": "to", "note": ""})

    result = cli("cases", "unlink", "NPC-000001", "NPC-000002", "--as", "dora")
    assert result.code == 0, result.err
    assert links(app) == []
    assert [d["kind"] for _, d in events(app, "NPC-000002", "case_unlinked")] == [
        "enquiry-order"]
    assert cli("cases", "unlink", "NPC-000001", "NPC-000002", "--as", "dora").code == 1
