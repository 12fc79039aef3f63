"""the OS user is the actor of a command-line action; ``--as`` is a claim beside it

Revision ID: 0020
Revises: 0018
Create Date: 2026-12-06

Every table that records who did something to a case, an account, a template, a controlled
document or an item of property gets ``claimed_as``: the ``--as NAME`` of a command-line action,
whose ``actor`` is now the operating-system user (gateway/core/principal.py). NULL for web
actions, for the system's and for every row written before this revision (their ``actor``
holds whatever ``--as`` said). ``users.os_user`` links an account to one OS login, so that a
command run by that login acts as that account and cannot claim another.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EVENT_TABLES = (
    "case_events",
    "user_events",
    "template_events",
    "document_events",
    "property_history",
)


def upgrade() -> None:
    # Plain ADD COLUMN (no batch copy): the append-only triggers of these tables stay.
    for table in EVENT_TABLES:
        op.add_column(table, sa.Column("claimed_as", sa.String(length=128), nullable=True))
    op.add_column("users", sa.Column("os_user", sa.String(length=128), nullable=True))
    # A unique index rather than a constraint: SQLite's ALTER TABLE cannot add a constraint.
    op.create_index("users_os_user_unique", "users", ["os_user"], unique=True)


def downgrade() -> None:
    op.drop_index("users_os_user_unique", table_name="users")
    op.drop_column("users", "os_user")
    for table in EVENT_TABLES:
        op.drop_column(table, "claimed_as")
