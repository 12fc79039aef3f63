"""users: the accounts of the web application and their append-only history

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06

An account has a role (staff, reviewer, compliance, admin), the alias queues it may work and an
argon2 password hash. Every change (added, password set, disabled) is a ``user_events`` row
with its actor; like the case events, the database refuses to change or delete them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ROLES = ("staff", "reviewer", "compliance", "admin")


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False, unique=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("aliases", sa.JSON(), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.CheckConstraint(f"role IN {_ROLES!r}", name="users_role_known"),
    )
    op.create_table(
        "user_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
    )
    op.create_index("ix_user_events_user_id", "user_events", ["user_id"])
    # The case list of the web application pages newest first within a queue or a status.
    op.create_index("cases_alias_id", "cases", ["alias", "id"])
    op.create_index("cases_status_id", "cases", ["status", "id"])
    op.create_index("cases_status_alias", "cases", ["status", "alias"])
    # case_family() looks cases up by merged_into_id on every case page: no full scan.
    op.create_index("cases_merged_into_id", "cases", ["merged_into_id"])
    _install_guard()


def downgrade() -> None:
    _drop_guard()
    op.drop_index("cases_merged_into_id", table_name="cases")
    op.drop_index("cases_status_alias", table_name="cases")
    op.drop_index("cases_status_id", table_name="cases")
    op.drop_index("cases_alias_id", table_name="cases")
    op.drop_index("ix_user_events_user_id", table_name="user_events")
    op.drop_table("user_events")
    op.drop_table("users")


def _install_guard() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER user_events_no_{action.lower()} BEFORE {action} ON user_events "
                f"BEGIN SELECT RAISE(ABORT, 'user_events is append-only'); END")
        return
    op.execute(
        "CREATE FUNCTION user_events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN RAISE EXCEPTION 'user_events is append-only'; END $$")
    op.execute(
        "CREATE TRIGGER user_events_append_only BEFORE UPDATE OR DELETE ON user_events "
        "FOR EACH ROW EXECUTE FUNCTION user_events_refuse_change()")


def _drop_guard() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for action in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS user_events_no_{action}")
        return
    op.execute("DROP TRIGGER IF EXISTS user_events_append_only ON user_events")
    op.execute("DROP FUNCTION IF EXISTS user_events_refuse_change()")
