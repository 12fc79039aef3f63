"""dashboard indexes: the web application's dashboard counts from indexes, not table scans

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06

New cases per day (a range over opened_at, covering category and alias), SLA breaches (a range
over each due time within the active statuses), the triage backlog (the few messages waiting
for a person; also the triage page's queue) and the classification confidence of a month's
inbound mail (a range over filed_at, covering what is counted). bench/dashboard.py measures
them with 100,000 cases.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = (
    ("cases_opened_at", "cases", ["opened_at", "category", "alias"]),
    ("cases_status_first_response_due", "cases",
     ["status", "first_response_due", "first_response_at", "alias"]),
    ("cases_status_resolution_due", "cases", ["status", "resolution_due", "alias"]),
    ("messages_needs_triage", "messages", ["needs_triage", "case_id"]),
    ("messages_filed_at", "messages", ["filed_at", "direction", "alias", "confidence"]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
