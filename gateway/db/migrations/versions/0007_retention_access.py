"""retention (fixed per message, extend-only), legal holds, non-mail ledger records

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD = "status IN ('pending', 'filed', 'duplicate', 'quarantined')"
_NEW = "status IN ('pending', 'filed', 'duplicate', 'quarantined', 'recorded')"


def upgrade() -> None:
    with op.batch_alter_table("receipts") as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=16), nullable=False,
                                      server_default="receipt"))
        batch_op.drop_constraint("receipts_status_known", type_="check")
        batch_op.create_check_constraint("receipts_status_known", _NEW)
    op.add_column("messages", sa.Column("retain_until", sa.DateTime(timezone=True),
                                        nullable=True))
    op.add_column("messages", sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_messages_retain_until", "messages", ["retain_until"])
    op.create_index("ix_cases_customer", "cases", ["customer"])  # search by customer address
    op.create_table(
        "legal_holds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("released_by", sa.String(length=128), nullable=True),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("scope IN ('case', 'customer', 'alias', 'search')",
                           name="legal_holds_scope"),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("legal_holds")
    op.drop_index("ix_cases_customer", table_name="cases")
    with op.batch_alter_table("messages") as batch_op:
        batch_op.drop_index("ix_messages_retain_until")
        batch_op.drop_column("purged_at")
        batch_op.drop_column("retain_until")
    with op.batch_alter_table("receipts") as batch_op:
        batch_op.drop_constraint("receipts_status_known", type_="check")
        batch_op.create_check_constraint("receipts_status_known", _OLD)
        batch_op.drop_column("kind")
