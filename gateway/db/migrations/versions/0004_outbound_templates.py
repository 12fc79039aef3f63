"""controlled reply templates and outbound mail

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "templates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("author", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("approved_by", sa.String(length=128), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('draft', 'approved', 'published', 'retired')",
                           name="templates_status_known"),
        sa.CheckConstraint("version >= 1", name="templates_version_positive"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name", "version", name="templates_name_version"),
    )
    op.create_index("ix_templates_name", "templates", ["name"])
    op.create_table(
        "template_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("template_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["template_id"], ["templates.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_template_events_template_id", "template_events", ["template_id"])
    op.create_table(
        "outbound_mail",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("auto", sa.Boolean(), nullable=False),
        sa.Column("message_id", sa.String(length=998), nullable=True),
        sa.Column("from_addr", sa.String(length=320), nullable=False),
        sa.Column("to_addrs", sa.JSON(), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("in_reply_to", sa.String(length=998), nullable=True),
        sa.Column("reference_ids", sa.JSON(), nullable=False),
        sa.Column("template_id", sa.Integer(), nullable=True),
        sa.Column("template_name", sa.String(length=64), nullable=True),
        sa.Column("template_version", sa.Integer(), nullable=True),
        sa.Column("in_reply_to_pk", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("seq", sa.BigInteger(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("relay_reply", sa.Text(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("kind IN ('ack', 'reply', 'confirmation', 'escalation')",
                           name="outbound_mail_kind_known"),
        sa.CheckConstraint("status IN ('queued', 'sent', 'deferred', 'failed', 'suppressed')",
                           name="outbound_mail_status_known"),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.ForeignKeyConstraint(["template_id"], ["templates.id"]),
        sa.ForeignKeyConstraint(["in_reply_to_pk"], ["messages.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_outbound_mail_case_id", "outbound_mail", ["case_id"])
    op.create_index("ix_outbound_mail_message_id", "outbound_mail", ["message_id"])
    op.create_index("outbound_mail_due", "outbound_mail", ["status", "next_attempt_at"])
    op.create_index("outbound_mail_recipient_kind", "outbound_mail",
                    ["recipient", "kind", "created_at"])
    _install_guards()


def downgrade() -> None:
    _drop_guards()
    op.drop_table("outbound_mail")
    op.drop_table("template_events")
    op.drop_table("templates")


# The template history is evidence, like case events: the database refuses to change it. A
# template version's text, name and author are frozen once it leaves draft; only its status
# (and the who/when columns of that transition) may still change, and it cannot be deleted.
_FROZEN_COLUMNS = ("name", "version", "subject", "body", "author")


def _install_guards() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER template_events_no_{action.lower()} BEFORE {action} "
                f"ON template_events BEGIN SELECT RAISE(ABORT, 'template_events is append-only'); "
                f"END")
        changed = " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in _FROZEN_COLUMNS)
        op.execute(
            "CREATE TRIGGER templates_frozen_update BEFORE UPDATE ON templates "
            f"WHEN OLD.status <> 'draft' AND ({changed}) BEGIN SELECT RAISE(ABORT, "
            "'an approved template version is immutable: create a new version'); END")
        op.execute(
            "CREATE TRIGGER templates_frozen_delete BEFORE DELETE ON templates "
            "WHEN OLD.status <> 'draft' BEGIN SELECT RAISE(ABORT, "
            "'an approved template version cannot be deleted'); END")
        return
    op.execute(
        "CREATE FUNCTION template_events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN RAISE EXCEPTION 'template_events is append-only'; END $$")
    op.execute(
        "CREATE TRIGGER template_events_append_only BEFORE UPDATE OR DELETE ON template_events "
        "FOR EACH ROW EXECUTE FUNCTION template_events_refuse_change()")
    changed = " OR ".join(f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in _FROZEN_COLUMNS)
    op.execute(
        "CREATE FUNCTION templates_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN "
        "IF TG_OP = 'DELETE' THEN "
        "IF OLD.status <> 'draft' THEN "
        "RAISE EXCEPTION 'an approved template version cannot be deleted'; END IF; "
        "RETURN OLD; END IF; "
        "IF OLD.status <> 'draft' AND (" + changed + ") THEN "
        "RAISE EXCEPTION 'an approved template version is immutable: create a new version'; "
        "END IF; RETURN NEW; END $$")
    op.execute(
        "CREATE TRIGGER templates_frozen BEFORE UPDATE OR DELETE ON templates "
        "FOR EACH ROW EXECUTE FUNCTION templates_refuse_change()")


def _drop_guards() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in ("template_events_no_update", "template_events_no_delete",
                     "templates_frozen_update", "templates_frozen_delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        return
    op.execute("DROP TRIGGER IF EXISTS template_events_append_only ON template_events")
    op.execute("DROP FUNCTION IF EXISTS template_events_refuse_change()")
    op.execute("DROP TRIGGER IF EXISTS templates_frozen ON templates")
    op.execute("DROP FUNCTION IF EXISTS templates_refuse_change()")
