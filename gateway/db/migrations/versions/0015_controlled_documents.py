"""controlled documents: versions with sha256, their bytes, history and what was sent to whom

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06

Spec sheets, service descriptions and terms as controlled documents (issue 15, item 2). The
bytes, the history and the record of sends are evidence: the database refuses to change or
delete them, and a version's content columns never change after it is written.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_APPEND_ONLY = ("document_blobs", "document_events", "document_sends")
_FROZEN_COLUMNS = ("name", "version", "title", "owner_role", "filename", "content_type", "size",
                   "sha256", "author", "created_at")


def upgrade() -> None:
    op.create_table(
        "document_blobs",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("length(sha256) = 64", name="document_blobs_sha256"),
        sa.CheckConstraint("size >= 0", name="document_blobs_size"),
        sa.PrimaryKeyConstraint("sha256"),
    )
    op.create_table(
        "document_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("owner_role", sa.String(length=16), nullable=False),
        sa.Column("filename", sa.String(length=128), nullable=False),
        sa.Column("content_type", sa.String(length=128), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("author", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("approved_by", sa.String(length=128), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("published_by", sa.String(length=128), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_by", sa.String(length=128), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('draft', 'approved', 'published', 'superseded', 'retired')",
            name="document_versions_status"),
        sa.CheckConstraint("version >= 1", name="document_versions_version_positive"),
        sa.ForeignKeyConstraint(["sha256"], ["document_blobs.sha256"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name", "version", name="document_versions_name_version"),
    )
    op.create_index("ix_document_versions_name", "document_versions", ["name"])
    op.create_table(
        "document_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["version_id"], ["document_versions.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_document_events_version_id", "document_events", ["version_id"])
    op.create_index("ix_document_events_name", "document_events", ["name"])
    op.create_table(
        "document_sends",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("outbound_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["version_id"], ["document_versions.id"]),
        sa.ForeignKeyConstraint(["outbound_id"], ["outbound_mail.id"]),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_document_sends_outbound_id", "document_sends", ["outbound_id"])
    op.create_index("ix_document_sends_case_id", "document_sends", ["case_id"])
    op.create_index("document_sends_name_version", "document_sends", ["name", "version"])
    _install_guards()


def downgrade() -> None:
    _drop_guards()
    op.drop_table("document_sends")
    op.drop_table("document_events")
    op.drop_table("document_versions")
    op.drop_table("document_blobs")


def _install_guards() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table in _APPEND_ONLY:
            for action in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END")
        changed = " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in _FROZEN_COLUMNS)
        op.execute(
            "CREATE TRIGGER document_versions_frozen_update BEFORE UPDATE ON document_versions "
            f"WHEN {changed} BEGIN SELECT RAISE(ABORT, "
            "'a document version is immutable: add a new version'); END")
        op.execute(
            "CREATE TRIGGER document_versions_no_delete BEFORE DELETE ON document_versions "
            "BEGIN SELECT RAISE(ABORT, 'a document version cannot be deleted'); END")
        return
    op.execute(
        "CREATE FUNCTION documents_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$")
    for table in _APPEND_ONLY:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION documents_refuse_change()")
    changed = " OR ".join(f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in _FROZEN_COLUMNS)
    op.execute(
        "CREATE FUNCTION document_versions_refuse_change() RETURNS trigger LANGUAGE plpgsql "
        "AS $$ BEGIN "
        "IF TG_OP = 'DELETE' THEN "
        "RAISE EXCEPTION 'a document version cannot be deleted'; END IF; "
        "IF " + changed + " THEN "
        "RAISE EXCEPTION 'a document version is immutable: add a new version'; "
        "END IF; RETURN NEW; END $$")
    op.execute(
        "CREATE TRIGGER document_versions_frozen BEFORE UPDATE OR DELETE ON document_versions "
        "FOR EACH ROW EXECUTE FUNCTION document_versions_refuse_change()")


def _drop_guards() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table in _APPEND_ONLY:
            for action in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{action}")
        op.execute("DROP TRIGGER IF EXISTS document_versions_frozen_update")
        op.execute("DROP TRIGGER IF EXISTS document_versions_no_delete")
        return
    for table in _APPEND_ONLY:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
    op.execute("DROP TRIGGER IF EXISTS document_versions_frozen ON document_versions")
    op.execute("DROP FUNCTION IF EXISTS documents_refuse_change()")
    op.execute("DROP FUNCTION IF EXISTS document_versions_refuse_change()")
