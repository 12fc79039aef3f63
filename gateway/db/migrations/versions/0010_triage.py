"""triage: messages and cases that wait for a person; a scope-change review can be withdrawn

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06

``needs_triage`` on messages: no rule decided the customer's message, or with a low
confidence; a case holding one is in ``commgate cases list --triage`` (the flag is on the
message, so it moves with it when cases are merged or split).
A review that staff find was no change at all is ``withdrawn`` with a reason
(``commgate cases classify REF --scope-change no``).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD = "status IN ('pending', 'approved', 'rejected')"
_NEW = "status IN ('pending', 'approved', 'rejected', 'withdrawn')"


def upgrade() -> None:
    # Plain ADD COLUMN on both backends: a batch (copy-and-move) alteration of messages would
    # drop the full-text triggers on SQLite.
    op.add_column("messages", sa.Column("needs_triage", sa.Boolean(), nullable=False,
                                        server_default=sa.false()))
    with op.batch_alter_table("reviews") as batch_op:
        batch_op.drop_constraint("reviews_status_known", type_="check")
        batch_op.create_check_constraint("reviews_status_known", _NEW)


def downgrade() -> None:
    op.execute("UPDATE reviews SET status = 'rejected' WHERE status = 'withdrawn'")
    with op.batch_alter_table("reviews") as batch_op:
        batch_op.drop_constraint("reviews_status_known", type_="check")
        batch_op.create_check_constraint("reviews_status_known", _OLD)
    with op.batch_alter_table("messages") as batch_op:
        batch_op.drop_column("needs_triage")
