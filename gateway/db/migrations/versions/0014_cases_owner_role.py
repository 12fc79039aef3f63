"""cases by owner role: the web case list's owner filter pages by an index

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06

The case list filters by owner role and pages newest first (keyset on id). Without an index a
role that owns few cases costs a scan of every case (about 25-40 ms over 100,000 on SQLite and
PostgreSQL), and with the overdue filter and a person's queues SQLite sorted the queues' active
cases (130 ms); (owner_role, id) answers both from the index.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("cases_owner_role_id", "cases", ["owner_role", "id"])


def downgrade() -> None:
    op.drop_index("cases_owner_role_id", table_name="cases")
