"""receipt leases: worker processes claim batches of the processing queue on SQLite

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06

Worker processes (``[worker] processes``) parse and classify a batch outside the filing
transaction, so they need to own it meanwhile. PostgreSQL holds the rows with ``SELECT ... FOR
UPDATE SKIP LOCKED`` in the batch's transaction and needs nothing here; SQLite has no row
locks, so a worker writes its name and a lease end into the rows it takes (a short ``BEGIN
IMMEDIATE``), and a lease that ran out (a killed worker the daemon did not see die) may be
taken by another. Both columns are NULL when no worker holds the row.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN (no batch copy): the receipts table keeps its high-water trigger.
    op.add_column("receipts", sa.Column("claimed_by", sa.String(length=200), nullable=True))
    op.add_column("receipts", sa.Column("lease_until", sa.DateTime(timezone=True),
                                        nullable=True))


def downgrade() -> None:
    op.drop_column("receipts", "lease_until")
    op.drop_column("receipts", "claimed_by")
