"""Everything one installation needs, built from its home folder and passed on explicitly."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from archive import Archive
from gateway.config import Settings, load_settings
from gateway.db.session import Database
from gateway.processing.classification import rules_for
from gateway.processing.pipeline import Processor

log = logging.getLogger(__name__)


@dataclass
class App:
    settings: Settings
    db: Database
    archive: Archive
    processor: Processor

    @classmethod
    def open(cls, home: Path) -> App:
        settings = load_settings(home)
        db = Database.open(settings.database_url())
        archive = Archive.open(settings.archive_path)
        processor = Processor(db, archive, settings, lambda: rules_for(settings))
        return cls(settings, db, archive, processor)

    def close(self) -> None:
        self.archive.close()
        self.db.close()
