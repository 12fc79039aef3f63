"""verify: the ledger's high-water mark, which the database only ever raises

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06

One row: the greatest seq (and its entry hash) ever inserted into ``receipts``. A trigger on
``receipts`` raises it; triggers on the table itself refuse to lower or delete it. So a ledger
cut at its end together with the cut entries' ``receipts`` rows still disagrees with the
database, and ``archive verify`` says so. Note for later migrations: on SQLite, a batch
(copy-and-move) alteration of ``receipts`` drops its triggers; re-create the one here
(``_install_raise``) after such an alteration.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLE = "ledger_high_water"
_RAISE = "receipts_raise_high_water"
_REFUSED = f"{_TABLE} only rises"


def upgrade() -> None:
    op.create_table(
        _TABLE,
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.CheckConstraint("id = 1", name="ledger_high_water_one_row"),
        sa.PrimaryKeyConstraint("id"),
    )
    # Where an existing database stands now: its greatest receipts row.
    op.execute(f"INSERT INTO {_TABLE} (id, seq, entry_hash) "
               f"SELECT 1, coalesce(max(seq), 0), coalesce((SELECT entry_hash FROM receipts "
               f"ORDER BY seq DESC LIMIT 1), '') FROM receipts")
    _install_guard()
    _install_raise()


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in (_RAISE, f"{_TABLE}_no_delete", f"{_TABLE}_no_lowering"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    else:
        op.execute(f"DROP TRIGGER IF EXISTS {_RAISE} ON receipts")
        op.execute(f"DROP FUNCTION IF EXISTS {_RAISE}()")
        op.execute(f"DROP TRIGGER IF EXISTS {_TABLE}_only_rises ON {_TABLE}")
        op.execute(f"DROP TRIGGER IF EXISTS {_TABLE}_no_truncate ON {_TABLE}")
        op.execute(f"DROP FUNCTION IF EXISTS {_TABLE}_refuse_change()")
    op.drop_table(_TABLE)


def _install_guard() -> None:
    """The mark is evidence: the database refuses to delete it or to move it down (or to
    another entry at the same seq), as it refuses to change case events (migration 0001)."""
    if op.get_bind().dialect.name == "sqlite":
        # A DELETE without WHERE is not optimised into a truncation while a trigger exists.
        op.execute(f"CREATE TRIGGER {_TABLE}_no_delete BEFORE DELETE ON {_TABLE} "
                   f"BEGIN SELECT RAISE(ABORT, '{_REFUSED}'); END")
        op.execute(f"CREATE TRIGGER {_TABLE}_no_lowering BEFORE UPDATE ON {_TABLE} "
                   f"WHEN NEW.seq <= OLD.seq OR NEW.id <> OLD.id "
                   f"BEGIN SELECT RAISE(ABORT, '{_REFUSED}'); END")
        return
    op.execute(
        f"CREATE FUNCTION {_TABLE}_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN IF TG_OP = 'UPDATE' AND NEW.seq > OLD.seq AND NEW.id = OLD.id THEN "
        f"RETURN NEW; END IF; RAISE EXCEPTION '{_REFUSED}'; END $$")
    op.execute(f"CREATE TRIGGER {_TABLE}_only_rises BEFORE UPDATE OR DELETE ON {_TABLE} "
               f"FOR EACH ROW EXECUTE FUNCTION {_TABLE}_refuse_change()")
    # TRUNCATE skips row triggers.
    op.execute(f"CREATE TRIGGER {_TABLE}_no_truncate BEFORE TRUNCATE ON {_TABLE} "
               f"FOR EACH STATEMENT EXECUTE FUNCTION {_TABLE}_refuse_change()")


def _install_raise() -> None:
    """Every receipts insert raises the mark to the greatest seq the database holds."""
    if op.get_bind().dialect.name == "sqlite":
        # One writer at a time: raising the one row per inserted row costs next to nothing.
        op.execute(f"CREATE TRIGGER {_RAISE} AFTER INSERT ON receipts "
                   f"WHEN NEW.seq > (SELECT seq FROM {_TABLE} WHERE id = 1) "
                   f"BEGIN UPDATE {_TABLE} SET seq = NEW.seq, entry_hash = NEW.entry_hash "
                   f"WHERE id = 1; END")
        return
    # PostgreSQL: the row lock an UPDATE takes is held to the end of the transaction. Taken
    # at each insert, a recorder holding it could wait for a row another writer (catch-up
    # queuing the same entries) inserted, while that writer waits for the lock: a deadlock.
    # So the trigger is deferred to COMMIT, when the transaction's rows are all in, and does
    # its work once per transaction (a transaction-local flag): the mark is raised to the
    # greatest row then visible, in one UPDATE, instead of one row version per insert.
    op.execute(
        f"CREATE FUNCTION {_RAISE}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"IF current_setting('commgate.high_water_raised', true) = 'yes' THEN "
        f"RETURN NULL; END IF; "
        f"PERFORM set_config('commgate.high_water_raised', 'yes', true); "
        f"UPDATE {_TABLE} h SET seq = r.seq, entry_hash = r.entry_hash "
        f"FROM (SELECT seq, entry_hash FROM receipts ORDER BY seq DESC LIMIT 1) r "
        f"WHERE h.id = 1 AND h.seq < r.seq; "
        f"RETURN NULL; END $$")
    op.execute(f"CREATE CONSTRAINT TRIGGER {_RAISE} AFTER INSERT ON receipts "
               f"DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION {_RAISE}()")
