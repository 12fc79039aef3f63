"""requirement and scope-change reviews, order acceptance, customer property register

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CHECK_ITEMS = "('scope', 'requirements', 'delivery-date', 'special-handling', 'customer-property')"
_PROPERTY_KINDS = "('physical-item', 'tooling', 'sample', 'drawing', 'data', 'credentials')"
_PROPERTY_STATUSES = ("('announced', 'received', 'in-use', 'returned', 'destroyed', "
                      "'lost-damaged', 'dismissed')")
_GUARDED = "property_history"


def _ts(name: str, nullable: bool = False) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "requirement_checks",
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("item", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        _ts("at"),
        sa.PrimaryKeyConstraint("case_id", "item"),
        sa.CheckConstraint(f"item IN {_CHECK_ITEMS}", name="requirement_checks_item_known"),
        sa.CheckConstraint("state IN ('ok', 'not-ok', 'n/a')",
                           name="requirement_checks_state_known"),
    )
    op.create_table(
        "reviews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("trigger_message_pk", sa.Integer(), sa.ForeignKey("messages.id"),
                  nullable=True),
        sa.Column("property_item_id", sa.Integer(), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        _ts("opened_at"),
        sa.Column("opened_by", sa.String(length=128), nullable=False),
        _ts("decided_at", nullable=True),
        sa.Column("decided_by", sa.String(length=128), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=False),
        sa.Column("confirmation_mail_id", sa.Integer(), nullable=True),
        sa.Column("confirmation_message_id", sa.String(length=998), nullable=True),
        sa.Column("confirmed_by_message_pk", sa.Integer(), sa.ForeignKey("messages.id"),
                  nullable=True),
        _ts("confirmed_at", nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("trigger_message_pk"),
        sa.CheckConstraint("kind IN ('scope-change', 'property-incident')",
                           name="reviews_kind_known"),
        sa.CheckConstraint("status IN ('pending', 'approved', 'rejected')",
                           name="reviews_status_known"),
    )
    op.create_index("ix_reviews_case_status", "reviews", ["case_id", "status"])
    op.create_index("ix_reviews_confirmation_message_id", "reviews", ["confirmation_message_id"])
    op.create_table(
        "order_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("message_pk", sa.Integer(), sa.ForeignKey("messages.id"), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        _ts("at"),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("checklist", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.CheckConstraint("decision IN ('accepted', 'declined')",
                           name="order_decisions_decision_known"),
    )
    op.create_index("ix_order_decisions_case_id", "order_decisions", ["case_id"])
    op.create_table(
        "property_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("owner", sa.String(length=320), nullable=False),
        sa.Column("identifiers", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("proposed", sa.Boolean(), nullable=False),
        _ts("received_at", nullable=True),
        sa.Column("condition", sa.Text(), nullable=False),
        sa.Column("location", sa.Text(), nullable=False),
        sa.Column("handling", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("filename", sa.Text(), nullable=False),
        sa.Column("source_message_pk", sa.Integer(), sa.ForeignKey("messages.id"),
                  nullable=True),
        _ts("created_at"),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("id"),
        sa.CheckConstraint(f"kind IN {_PROPERTY_KINDS}", name="property_items_kind_known"),
        sa.CheckConstraint(f"status IN {_PROPERTY_STATUSES}",
                           name="property_items_status_known"),
        sa.CheckConstraint("sha256 IS NULL OR length(sha256) = 64",
                           name="property_items_sha256"),
    )
    op.create_index("ix_property_items_case_id", "property_items", ["case_id"])
    op.create_index("ix_property_items_owner", "property_items", ["owner"])
    op.create_index("ix_property_items_sha256", "property_items", ["sha256"])
    op.create_table(
        "property_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), sa.ForeignKey("property_items.id"), nullable=False),
        _ts("at"),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("action", sa.String(length=24), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_property_history_item_id", "property_history", ["item_id"])
    _install_append_only_guard()


def downgrade() -> None:
    _drop_append_only_guard()
    op.drop_table("property_history")
    op.drop_table("property_items")
    op.drop_table("order_decisions")
    op.drop_table("reviews")
    op.drop_table("requirement_checks")


def _install_append_only_guard() -> None:
    """The chain of custody is evidence: the database refuses to change or delete it (the same
    guard migration 0001 puts on case_events)."""
    if op.get_bind().dialect.name == "sqlite":
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {_GUARDED}_no_{action.lower()} BEFORE {action} ON {_GUARDED} "
                f"BEGIN SELECT RAISE(ABORT, '{_GUARDED} is append-only'); END"
            )
        return
    op.execute(
        f"CREATE FUNCTION {_GUARDED}_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN RAISE EXCEPTION '{_GUARDED} is append-only'; END $$"
    )
    op.execute(
        f"CREATE TRIGGER {_GUARDED}_append_only BEFORE UPDATE OR DELETE ON {_GUARDED} "
        f"FOR EACH ROW EXECUTE FUNCTION {_GUARDED}_refuse_change()"
    )


def _drop_append_only_guard() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"DROP TRIGGER IF EXISTS {_GUARDED}_no_update")
        op.execute(f"DROP TRIGGER IF EXISTS {_GUARDED}_no_delete")
        return
    op.execute(f"DROP TRIGGER IF EXISTS {_GUARDED}_append_only ON {_GUARDED}")
    op.execute(f"DROP FUNCTION IF EXISTS {_GUARDED}_refuse_change()")
