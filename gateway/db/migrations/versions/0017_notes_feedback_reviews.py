"""feedback reviews: review meetings over feedback items and what each decided

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06

A feedback review (ISO 9001 9.1.2: feedback reviewed on a cadence, the review recorded) is a
meeting with attendees over a set of feedback records, deciding for each a corrective action,
an improvement or no action with the reason. Both tables are evidence: as ``case_events``, the
database refuses updates and deletes. (Calls and meetings on a case, ``cases note``, need no
table: they are archived messages with a case event.)
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_GUARDED = ("feedback_reviews", "feedback_review_items")


def upgrade() -> None:
    op.create_table(
        "feedback_reviews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("held_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attendees", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False, server_default=""),
        sa.Column("recorded_by", sa.String(length=128), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_feedback_reviews_held_at", "feedback_reviews", ["held_at"])
    op.create_table(
        "feedback_review_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("review_id", sa.Integer(), nullable=False),
        sa.Column("feedback_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("decision", sa.String(length=24), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.CheckConstraint("decision IN ('corrective-action', 'improvement', 'no-action')",
                           name="feedback_review_items_decision_known"),
        sa.CheckConstraint("length(text) > 0", name="feedback_review_items_text_given"),
        sa.ForeignKeyConstraint(["review_id"], ["feedback_reviews.id"]),
        sa.ForeignKeyConstraint(["feedback_id"], ["feedback.id"]),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("review_id", "feedback_id", name="feedback_review_items_unique"),
    )
    op.create_index("ix_feedback_review_items_review_id", "feedback_review_items",
                    ["review_id"])
    op.create_index("ix_feedback_review_items_feedback_id", "feedback_review_items",
                    ["feedback_id"])
    for table in _GUARDED:
        _append_only(table)


def downgrade() -> None:
    for table in reversed(_GUARDED):
        _drop_guard(table)
    op.drop_table("feedback_review_items")
    op.drop_table("feedback_reviews")


def _append_only(table: str) -> None:
    """A recorded review is evidence: the database itself refuses to change or delete it."""
    if op.get_bind().dialect.name == "sqlite":
        for action in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                       f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END")
        return
    op.execute(f"CREATE FUNCTION {table}_refuse_change() RETURNS trigger LANGUAGE plpgsql AS "
               f"$$ BEGIN RAISE EXCEPTION '{table} is append-only'; END $$")
    op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
               f"FOR EACH ROW EXECUTE FUNCTION {table}_refuse_change()")


def _drop_guard(table: str) -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
        return
    op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
    op.execute(f"DROP FUNCTION IF EXISTS {table}_refuse_change()")
