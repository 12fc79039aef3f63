"""full-text search over headers and bodies: SQLite FTS5, PostgreSQL tsvector + GIN

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # rowid = messages.id. unicode61 with diacritics folded: "Gruesse" stays distinct but
        # "Grüße"/"Gruße" and "café"/"cafe" match, which is what staff type.
        # prefix: extra index entries for 3- and 4-character prefixes, so "hydr*" reads one
        # doclist instead of merging those of every word that starts with it.
        op.execute("CREATE VIRTUAL TABLE message_search USING fts5("
                   "subject, participants, body, tokenize = 'unicode61 remove_diacritics 2', "
                   "prefix = '3 4')")
        return
    op.execute("CREATE TABLE message_search ("
               "message_pk integer PRIMARY KEY REFERENCES messages(id), "
               "document tsvector NOT NULL)")
    op.execute("CREATE INDEX message_search_document ON message_search USING gin (document)")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS message_search")
