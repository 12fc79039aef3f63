"""Templates as controlled documents: who approved which version, only published versions are
sent, approved text cannot change (not even with SQL), and the history is append-only."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from gateway.bootstrap import App
from gateway.core.errors import WorkflowError
from gateway.db.outbound import Template, TemplateEvent
from gateway.workflows import templates


def statuses(app: App, name: str) -> list[tuple[int, str]]:
    with app.db.session() as session:
        return [(t.version, t.status) for t in session.scalars(
            select(Template).where(Template.name == name).order_by(Template.version))]


def test_draft_approved_by_another_person_published_then_replaced(app: App) -> None:
    with app.db.session() as session:
        first = templates.create(session, "ack-sales", "Received: ${subject}", "v1 ${case_ref}\n",
                                 "alice")
        assert (first.version, first.status) == (1, "draft")
        with pytest.raises(WorkflowError, match="only an approved version"):
            templates.publish(session, "ack-sales", 1, "bob")
        with pytest.raises(WorkflowError, match="a different person must approve"):
            templates.approve(session, "ack-sales", 1, "Alice")
        templates.approve(session, "ack-sales", 1, "bob")
        with pytest.raises(WorkflowError, match="not a draft"):
            templates.approve(session, "ack-sales", 1, "carol")
        templates.publish(session, "ack-sales", 1, "bob")
        assert templates.published(session, "ack-sales").version == 1
        second = templates.create(session, "ack-sales", "Received: ${subject}", "v2\n", "alice")
        assert second.version == 2
        # A new draft changes nothing about what is sent.
        assert templates.published(session, "ack-sales").version == 1
        templates.approve(session, "ack-sales", 2, "carol")
        templates.publish(session, "ack-sales", 2, "dora")
        assert templates.published(session, "ack-sales").version == 2
    assert statuses(app, "ack-sales") == [(1, "retired"), (2, "published")]
    with app.db.session() as session:
        trail = [(e.version, e.action, e.actor) for e in templates.history(session, "ack-sales")]
    assert trail == [(1, "created", "alice"), (1, "approved", "bob"), (1, "published", "bob"),
                     (2, "created", "alice"), (2, "approved", "carol"),
                     (1, "retired", "dora"), (2, "published", "dora")]


def test_nothing_is_published_until_someone_publishes(app: App) -> None:
    with app.db.session() as session:
        templates.create(session, "reply", "S", "B\n", "alice")
        templates.approve(session, "reply", 1, "bob")
        with pytest.raises(WorkflowError, match="no published version"):
            templates.published(session, "reply")
        with pytest.raises(WorkflowError, match="no template 'nope'"):
            templates.get(session, "nope")


@pytest.mark.parametrize("name, subject, body, reason", [
    ("Bad Name", "S", "B", "not a template name"),
    ("ok", "two\r\nlines", "B", "must be one line"),
    ("ok", "S", "  ", "needs a body"),
    ("ok", "S", "costs $ 5", "malformed placeholder"),
])
def test_malformed_templates_are_refused(app: App, name, subject, body, reason) -> None:
    with app.db.session() as session, pytest.raises(WorkflowError, match=reason):
        templates.create(session, name, subject, body, "alice")


def test_render_fills_known_variables_and_leaves_others(app: App) -> None:
    with app.db.session() as session:
        template = templates.create(session, "t", "Re: ${subject} [${case_ref}]",
                                    "Dear ${customer_name},\n${unknown} costs $$5\n", "alice")
    rendered = templates.render(template, {"subject": "RFQ", "case_ref": "NPC-000001",
                                           "customer_name": "Anna\r\nBuyer"})
    assert rendered.subject == "Re: RFQ [NPC-000001]"
    assert rendered.body == "Dear Anna\r\nBuyer,\n${unknown} costs $5\n"
    with pytest.raises(WorkflowError, match="line break"):
        templates.render(template, {"subject": "x\nBcc: v@x.example", "case_ref": "NPC-1"})


def _publish_one(app: App) -> None:
    with app.db.session() as session:
        templates.create(session, "frozen", "S ${case_ref}", "original\n", "alice")
        templates.approve(session, "frozen", 1, "bob")


@pytest.mark.parametrize("statement", [
    "UPDATE templates SET body = 'changed' WHERE name = 'frozen'",
    "UPDATE templates SET subject = 'changed' WHERE name = 'frozen'",
    "UPDATE templates SET author = 'mallory' WHERE name = 'frozen'",
    "DELETE FROM templates WHERE name = 'frozen'",
    "UPDATE template_events SET actor = 'mallory'",
    "DELETE FROM template_events",
])
def test_the_database_refuses_to_change_approved_text_or_history(app: App, statement) -> None:
    _publish_one(app)
    with pytest.raises(DBAPIError), app.db.session() as session:
        session.execute(text(statement))
    with app.db.session() as session:
        row = templates.get(session, "frozen", 1)
        assert (row.body, row.author) == ("original\n", "alice")
        assert session.scalar(select(text("count(*)")).select_from(TemplateEvent)) == 2


def test_a_draft_may_still_be_corrected_and_status_moves_are_allowed(app: App) -> None:
    with app.db.session() as session:
        templates.create(session, "draft", "S", "typo\n", "alice")
    with app.db.session() as session:
        session.execute(text("UPDATE templates SET body = 'fixed' WHERE name = 'draft'"))
    with app.db.session() as session:
        templates.approve(session, "draft", 1, "bob")
        templates.publish(session, "draft", 1, "bob")
    assert statuses(app, "draft") == [(1, "published")]


def test_the_cli_walks_a_template_through_its_life(cli, tmp_path: Path) -> None:
    body = tmp_path / "ack.txt"
    body.write_text("Dear ${customer_name},\nwe filed your mail as ${case_ref}. ${review}\n")
    created = cli("templates", "create", "ack-sales", "--subject", "Received: ${subject}",
                  "--body-file", str(body), "--as", "alice", "--json")
    assert created.code == 0, created.err
    assert (created.json()["version"], created.json()["status"]) == (1, "draft")
    refused = cli("templates", "approve", "ack-sales", "--version", "1", "--as", "alice")
    assert refused.code == 1 and "different person" in refused.err
    assert cli("templates", "approve", "ack-sales", "--version", "1", "--as", "bob").code == 0
    published = cli("templates", "publish", "ack-sales", "--version", "1", "--as", "carol",
                    "--json").json()
    assert (published["status"], published["approved_by"]) == ("published", "bob")
    assert [(t["name"], t["version"], t["status"]) for t in
            cli("templates", "list", "--json").json()] == [("ack-sales", 1, "published")]
    shown = cli("templates", "show", "ack-sales", "--json").json()
    assert shown["body"].startswith("Dear ${customer_name}")
    assert "review" in shown["variables"]
    me = pwd.getpwuid(os.geteuid()).pw_name  # the actor; the --as claim beside it
    assert [(h["action"], h["actor"], h["claimed_as"]) for h in shown["history"]] == [
        ("created", me, "alice"), ("approved", me, "bob"), ("published", me, "carol")]
    assert shown["history"][0]["data"]["unknown_variables"] == ["review"]
    plain = cli("templates", "show", "ack-sales")
    assert "published" in plain.out and "approved" in plain.out
