"""The Alembic migrations build exactly the schema the SQLAlchemy models describe, on both
backends: a column added to a model without its migration (or the other way) fails here."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

import gateway.db.documents
import gateway.db.feedback
import gateway.db.outbound
import gateway.db.property
import gateway.db.reviews
import gateway.db.users  # noqa: F401 - their tables join Base.metadata
from gateway.db.models import Base
from gateway.db.revisions import read_revisions
from gateway.db.session import (
    Database,
    alembic_config,
    code_revisions,
    database_revision,
    downgrade,
    schema_state,
)

ROOT = Path(__file__).resolve().parents[2]


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


def test_the_revisions_read_from_the_scripts_text_are_alembics():
    script = ScriptDirectory.from_config(alembic_config())
    head, known = code_revisions()
    assert head == script.get_current_head()
    assert known == {rev.revision for rev in script.walk_revisions()}


def test_the_database_revision_is_read_as_alembic_reads_it(db_url):
    db = Database.open(db_url, schema="create")
    try:
        with db.engine.connect() as connection:
            assert database_revision(connection) == "0020" == \
                MigrationContext.configure(connection).get_current_revision()
        downgrade(db.engine, "0018")
        assert schema_state(db.engine).current == "0018"
        downgrade(db.engine, "base")
        with db.engine.connect() as connection:
            assert database_revision(connection) is None
            assert MigrationContext.configure(connection).get_current_revision() is None
    finally:
        db.close()


def test_the_newest_revision_is_the_one_no_script_revises(tmp_path):
    for name, text in {"a.py": 'revision = "1"\ndown_revision = None\n',
                       "b.py": 'revision: str = "2"\ndown_revision: str | None = "1"\n',
                       "c.py": 'revision = "3"\ndown_revision = ("2",)\n'}.items():
        (tmp_path / name).write_text(text)
    assert read_revisions(tmp_path) == ("3", frozenset({"1", "2", "3"}))
    (tmp_path / "d.py").write_text('revision = "4"\ndown_revision = "2"\n')
    with pytest.raises(ValueError, match="2 newest revisions"):
        read_revisions(tmp_path)


def test_opening_a_current_database_imports_no_alembic(tmp_path):
    url = f"sqlite:///{tmp_path / 'gw.db'}"
    Database.open(url, schema="create").close()
    code = ("import sys; from gateway.db.session import Database; "
            f"Database.open({url!r}).close(); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.stdout.strip() == "[]"
