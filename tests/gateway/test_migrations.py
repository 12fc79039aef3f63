"""The Alembic migrations build exactly the schema the SQLAlchemy models describe, on both
backends: a column added to a model without its migration (or the other way) fails here."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import gateway.db.documents
import gateway.db.feedback
import gateway.db.outbound
import gateway.db.property
import gateway.db.reviews
import gateway.db.users  # noqa: F401 - their tables join Base.metadata
from gateway.db.models import Base
from gateway.db.session import Database


def _made_by_hand(difference: object) -> bool:
    # The full-text index is created by its migration with backend SQL (FTS5 / tsvector),
    # not from a model.
    return "message_search" in repr(difference)


def test_the_migrations_build_exactly_the_schema_the_models_describe(db_url):
    db = Database.open(db_url, schema="create")
    try:
        with db.engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection),
                                           Base.metadata)
    finally:
        db.close()
    assert [d for d in differences if not _made_by_hand(d)] == []
