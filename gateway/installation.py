"""``commgate init``: a ready home folder (config, archive, migrated database), and the check
that a database and an archive belong together."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from archive import Archive, ArchiveId, ArchiveIdentityError
from gateway.config import CONFIG_NAME, find_home, load_settings, parse_config, render_config
from gateway.core.clock import utcnow
from gateway.core.errors import ConfigError
from gateway.db.models import IntakeCheckpoint, LedgerReceipt
from gateway.db.session import Database

# The row of ``intake_checkpoints`` naming the archive the database is filed from (the archive
# is where every intake's mail goes; no intake is called "archive": IMAP ones are "imap:NAME").
ARCHIVE_ROW = ("archive", "id")


def init_home(home_arg: str | None, case_prefix: str, aliases: list[str]) -> Path:
    home = find_home(home_arg)
    config_path = home / CONFIG_NAME
    if config_path.exists():
        raise ConfigError(f"{config_path} already exists; this home is initialised")
    text = render_config(case_prefix, [a.lower() for a in aliases])
    parse_config(text, "--case-prefix/--alias")  # the same checks as at start-up
    try:
        home.mkdir(parents=True, exist_ok=True)
        config_path.write_text(text)
    except OSError as exc:
        raise ConfigError(f"cannot create {home}: {exc.strerror}") from exc
    settings = load_settings(home)
    archive = Archive.open(settings.archive_path)
    archive.ensure()  # a new archive gets its id here
    db = Database.open(settings.database_url(), schema="create")
    try:
        claim_archive(archive, db)
    finally:
        archive.close()
        db.close()
    return home


def claim_archive(archive: Archive, db: Database) -> ArchiveId:
    """Check that ``db`` is filed from ``archive``, record the archive's id in it if it has
    none yet, and pin the archive (writes go to no other); the daemon does this at start.

    A database without an id (made before ids existed, or new) adopts the archive only when
    the receipts it already has are that archive's: its first receipt's entry hash must be the
    ledger's at that seq. An archive without an id (made before ids existed) gets one then.
    """
    recorded = recorded_archive_id(db)
    found = archive.read_id()
    if recorded is None:
        _check_filed_from(archive, db)
        found = found or archive.adopt_id()
        recorded = _record(db, found, archive)
    if found is None or found.id != recorded:
        is_what = f"is {found.id}" if found else "has no id"
        raise ArchiveIdentityError(
            f"database {_name(db)} belongs to archive {recorded}, the archive at {archive.root} "
            f"{is_what}: set archive.path to the archive it was filed from, or restore that one")
    pinned = archive.pin()
    if pinned is None or pinned.id != found.id:  # replaced between the read and the pin
        raise ArchiveIdentityError(f"the archive at {archive.root} changed while it was opened")
    return pinned


def recorded_archive_id(db: Database) -> str | None:
    """The id of the archive this database is filed from (None: not recorded yet)."""
    with db.session() as session:
        value = session.scalar(select(IntakeCheckpoint.value).where(
            IntakeCheckpoint.intake == ARCHIVE_ROW[0], IntakeCheckpoint.key == ARCHIVE_ROW[1]))
    return str(value["archive_id"]) if value else None


def _record(db: Database, archive_id: ArchiveId, archive: Archive) -> str:
    """Record the id; returns the one recorded (another process's, had it been first)."""
    value = {"archive_id": archive_id.id, "created": archive_id.created,
             "path": str(archive.root)}
    try:
        with db.session() as session:
            session.add(IntakeCheckpoint(intake=ARCHIVE_ROW[0], key=ARCHIVE_ROW[1], value=value,
                                         updated_at=utcnow()))
    except IntegrityError:
        pass  # another process recorded one first: compared by the caller
    return recorded_archive_id(db) or archive_id.id


def _check_filed_from(archive: Archive, db: Database) -> None:
    with db.session() as session:
        first = session.execute(select(LedgerReceipt.seq, LedgerReceipt.entry_hash)
                                .order_by(LedgerReceipt.seq).limit(1)).first()
    if first is None:
        return
    entry = next(iter(archive.entries(after_seq=first.seq - 1)), None)
    if entry is None or (entry.seq, entry.entry_hash) != (first.seq, first.entry_hash):
        raise ArchiveIdentityError(
            f"database {_name(db)} was filed from another archive: its receipt seq {first.seq} "
            f"is not in the ledger at {archive.root}; set archive.path to the archive it was "
            f"filed from")


def _name(db: Database) -> str:
    return db.engine.url.render_as_string(hide_password=True)
