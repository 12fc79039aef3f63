"""threading fallbacks, case lifecycle and targets, case links (merge, split, follow-ups)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CASE_TIMES = ("first_response_due", "resolution_due", "first_response_at", "resolved_at",
               "closed_at", "escalated_at")


def upgrade() -> None:
    op.add_column("cases", sa.Column("owner_role", sa.String(length=64), nullable=False,
                                     server_default=""))
    for name in _CASE_TIMES:
        op.add_column("cases", sa.Column(name, sa.DateTime(timezone=True), nullable=True))
    op.add_column("cases", sa.Column("review_required", sa.Boolean(), nullable=False,
                                     server_default=sa.false()))
    with op.batch_alter_table("cases") as batch_op:
        batch_op.add_column(sa.Column("merged_into_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key("cases_merged_into_fk", "cases", ["merged_into_id"], ["id"])
    op.add_column("messages", sa.Column("thread_index", sa.String(length=64), nullable=True))
    op.add_column("messages", sa.Column("norm_subject", sa.String(length=255), nullable=False,
                                        server_default=""))
    op.create_index("ix_messages_thread_index", "messages", ["thread_index"])
    op.create_index("ix_messages_norm_subject", "messages", ["norm_subject"])
    op.create_table(
        "case_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("other_case_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.CheckConstraint(
            "kind IN ('possible-follow-up', 'enquiry-order', 'related', 'merged-into', "
            "'split-from')", name="case_links_kind_known"),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.ForeignKeyConstraint(["other_case_id"], ["cases.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id", "other_case_id", "kind", name="case_links_unique"),
    )
    op.create_index("ix_case_links_case_id", "case_links", ["case_id"])
    op.create_index("ix_case_links_other_case_id", "case_links", ["other_case_id"])


def downgrade() -> None:
    op.drop_table("case_links")
    with op.batch_alter_table("messages") as batch_op:
        batch_op.drop_index("ix_messages_norm_subject")
        batch_op.drop_index("ix_messages_thread_index")
        batch_op.drop_column("norm_subject")
        batch_op.drop_column("thread_index")
    with op.batch_alter_table("cases") as batch_op:
        for name in ("merged_into_id", "review_required", *_CASE_TIMES, "owner_role"):
            batch_op.drop_column(name)
