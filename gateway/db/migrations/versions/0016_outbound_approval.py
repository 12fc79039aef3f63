"""outbound approval: non-happy-path replies held for a second person (issue 15)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06

A reply the [approval] matrix names (by its kind, or by the state of its case) is queued with
status "pending" and an ``outbound_approvals`` row; delivery never claims it until a person
other than its author, holding the required role, approves it ("queued" again), or it is
rejected with a note ("rejected", never sent). ``reply_kind`` says what a reply (and a
template) is; ``dated_at`` is the Date header of a reply approved after it was written.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD = "status IN ('queued', 'sent', 'deferred', 'failed', 'suppressed')"
_NEW = ("status IN ('queued', 'sent', 'deferred', 'failed', 'suppressed', 'pending', "
        "'rejected')")


def upgrade() -> None:
    op.add_column("templates", sa.Column("reply_kind", sa.String(length=32), nullable=False,
                                         server_default=""))
    with op.batch_alter_table("outbound_mail") as batch_op:
        batch_op.add_column(sa.Column("reply_kind", sa.String(length=32), nullable=False,
                                      server_default=""))
        batch_op.add_column(sa.Column("dated_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_constraint("outbound_mail_status_known", type_="check")
        batch_op.create_check_constraint("outbound_mail_status_known", _NEW)
    op.create_table(
        "outbound_approvals",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("outbound_id", sa.Integer(), sa.ForeignKey("outbound_mail.id"),
                  nullable=False),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("author", sa.String(length=128), nullable=False),
        sa.Column("held_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=128), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("outbound_id", name="outbound_approvals_mail_unique"),
        sa.CheckConstraint("status IN ('pending', 'approved', 'rejected')",
                           name="outbound_approvals_status"),
    )
    op.create_index("ix_outbound_approvals_case_id", "outbound_approvals", ["case_id"])
    op.create_index("outbound_approvals_status_held", "outbound_approvals",
                    ["status", "held_at"])


def downgrade() -> None:
    op.drop_table("outbound_approvals")
    op.execute("UPDATE outbound_mail SET status = 'failed', "
               "last_error = 'rejected or held for approval (migration 0016 downgraded)' "
               "WHERE status IN ('pending', 'rejected')")
    with op.batch_alter_table("outbound_mail") as batch_op:
        batch_op.drop_constraint("outbound_mail_status_known", type_="check")
        batch_op.create_check_constraint("outbound_mail_status_known", _OLD)
        batch_op.drop_column("dated_at")
        batch_op.drop_column("reply_kind")
    # Not a batch: recreating templates on SQLite would drop its immutability triggers.
    op.drop_column("templates", "reply_kind")
