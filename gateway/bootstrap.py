"""The composition root: one installation built from its home folder and passed on explicitly.

The only module that knows every part: it opens the settings, the database and the archive,
and builds the worker with the workflows that run after filing (:data:`HOOKS`, the only list
of them; the worker and the workflows do not import each other for it). Command line, daemon
and (later) web application start here; everything below takes the narrow
:class:`gateway.core.context.Context` or what it needs.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from archive import Archive, LedgerEntry
from gateway.config import Settings, load_settings
from gateway.db.event_ledger import record_events_to
from gateway.db.session import Database
from gateway.db.session import SchemaUse as SchemaUse  # for the command line
from gateway.processing.classification import rules_for
from gateway.processing.hooks import Hook
from gateway.processing.pipeline import Processor
from gateway.workflows import feedback, lifecycle, notes, retention, reviews, search
from gateway.workflows import property as property_register
from gateway.workflows.outbound import queue as outbound

log = logging.getLogger(__name__)

# What runs in the filing transaction of every batch, in this order (processing/hooks.py).
HOOKS: tuple[Hook, ...] = (
    search.on_filed, retention.on_filed, lifecycle.on_filed, reviews.on_filed, notes.on_filed,
    feedback.on_filed, property_register.on_filed, outbound.on_filed,
)


@dataclass
class App:
    settings: Settings
    db: Database
    archive: Archive
    processor: Processor

    @classmethod
    def open(cls, home: Path, *, worker: str | None = None,
             schema: SchemaUse = "existing") -> App:
        """``worker``: the name its processor claims receipts under (a worker process's);
        ``schema``: whether an empty database is created (see :data:`SchemaUse`)."""
        settings = load_settings(home)
        db = Database.open(settings.database_url(), schema=schema)
        archive = Archive.open(settings.archive_path)
        record_events_to(db.sessions, archive)
        processor = Processor(db, archive, settings, lambda: rules_for(settings), hooks=HOOKS,
                              worker=worker)
        return cls(settings, db, archive, processor)

    def queue(self, entries: Sequence[LedgerEntry]) -> None:
        """The intakes' queue callable: archived entries into the worker's queue."""
        self.processor.record(entries)

    def close(self) -> None:
        self.archive.close()
        self.db.close()
