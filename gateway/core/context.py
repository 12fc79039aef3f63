"""What a domain function may use of an installation: its settings, database and archive, and
the queue that hands archived entries to the worker.

Functions below the composition root take this protocol, not the concrete
:class:`gateway.bootstrap.App`: an intake or a workflow then cannot reach the worker (nor
import it), and a test or the web application can pass anything that has these four members.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from archive import Archive, LedgerEntry
    from gateway.config import Settings
    from gateway.db.session import Database


class Context(Protocol):
    @property
    def settings(self) -> Settings: ...

    @property
    def db(self) -> Database: ...

    @property
    def archive(self) -> Archive: ...

    def queue(self, entries: Sequence[LedgerEntry]) -> None:
        """Mirror fresh ledger entries into the processing queue (idempotent)."""
        ...
