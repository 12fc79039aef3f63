"""case aliases: the case tags of earlier systems that name a case

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06

A tag of another system (``[KPS-31207]``, ``[Ticket#4471]``, ``(Case 12345)``) seen in the
subject of a message that was threaded into a case by its headers, or that opened it, names
that case from then on: a later message of a participant carrying only the tag joins it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "case_aliases",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("tag", sa.String(128), nullable=False),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("message_pk", sa.Integer(), sa.ForeignKey("messages.id"), nullable=True),
        sa.Column("rule", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("tag", "case_id", name="case_aliases_unique"),
    )
    op.create_index("ix_case_aliases_tag", "case_aliases", ["tag"])
    op.create_index("ix_case_aliases_case_id", "case_aliases", ["case_id"])


def downgrade() -> None:
    op.drop_index("ix_case_aliases_case_id", table_name="case_aliases")
    op.drop_index("ix_case_aliases_tag", table_name="case_aliases")
    op.drop_table("case_aliases")
