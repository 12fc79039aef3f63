"""``commgate db current`` and ``commgate db upgrade``: the database schema against the code's.

Nothing else upgrades a schema: every other command refuses a database behind the code in one
line (gateway.db.session.require_current), so an upgrade happens when the operator has a backup,
not as a side effect of ``cases list``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gateway.config import load_settings
from gateway.core.errors import SchemaError
from gateway.db.session import Database, migrate, schema_state
from gateway.services.base import View


@dataclass(frozen=True)
class SchemaView(View):
    database: str
    revision: str | None
    head: str
    state: str  # current, behind, empty, unknown
    upgraded_from: str | None = None

    def lines(self) -> list[str]:
        what = {"current": "up to date",
                "behind": "behind: commgate backup DIR && commgate db upgrade",
                "empty": "no schema: commgate init, or commgate restore DIR",
                "unknown": "made by a newer commgate"}[self.state]
        line = f"revision {self.revision or '-'} (head {self.head}): {what}"
        if self.upgraded_from is not None:
            line = f"upgraded {self.database} from revision {self.upgraded_from} to {self.head}"
        return [line]


def current_schema(home: Path) -> SchemaView:
    """The revision the configured database is at, and the code's newest."""
    db = Database.open(load_settings(home).database_url(), schema="unchecked")
    try:
        return _view(db)
    finally:
        db.close()


def upgrade_schema(home: Path) -> SchemaView:
    """Upgrade the configured database to the code's newest revision (a no-op when there).
    An empty database is refused: 'commgate init' makes an installation, not an upgrade."""
    db = Database.open(load_settings(home).database_url(), schema="unchecked")
    try:
        before = _view(db)
        if before.state == "empty":
            raise SchemaError(f"the database {before.database} has no commgate schema: "
                              "'commgate init' creates one, 'commgate restore DIR' restores one")
        if before.state == "unknown":
            raise SchemaError(f"the database {before.database} is at schema revision "
                              f"{before.revision}, which this commgate (newest {before.head}) "
                              "does not know: it was made by a newer commgate")
        if before.state == "current":
            return before
        migrate(db.engine)
        after = _view(db)
        return SchemaView(after.database, after.revision, after.head, after.state,
                          upgraded_from=before.revision)
    finally:
        db.close()


def _view(db: Database) -> SchemaView:
    found = schema_state(db.engine)
    return SchemaView(db.engine.url.render_as_string(hide_password=True), found.current,
                      found.head, found.state)
