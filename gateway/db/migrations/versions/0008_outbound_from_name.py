"""outbound mail: the From display name, fixed when a mail is queued

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("outbound_mail", sa.Column("from_name", sa.String(length=200),
                                             nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("outbound_mail") as batch_op:
        batch_op.drop_column("from_name")
