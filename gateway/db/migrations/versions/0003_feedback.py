"""feedback records and corrective actions

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TYPES = "('', 'complaint', 'suggestion', 'praise', 'survey')"
_SEVERITIES = "('', 'low', 'medium', 'high', 'critical')"


def upgrade() -> None:
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False, server_default=""),
        sa.Column("suggested_type", sa.String(length=16), nullable=False, server_default=""),
        sa.Column("severity", sa.String(length=16), nullable=False, server_default=""),
        sa.Column("corrective_action_ref", sa.String(length=128), nullable=False,
                  server_default=""),
        sa.Column("resolution_note", sa.Text(), nullable=False, server_default=""),
        sa.Column("root_cause", sa.Text(), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False, server_default="system"),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(f"type IN {_TYPES}", name="feedback_type_known"),
        sa.CheckConstraint(f"suggested_type IN {_TYPES}", name="feedback_suggested_type_known"),
        sa.CheckConstraint(f"severity IN {_SEVERITIES}", name="feedback_severity_known"),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id", name="feedback_case_unique"),
    )


def downgrade() -> None:
    op.drop_table("feedback")
