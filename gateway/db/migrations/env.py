"""Alembic environment: runs on the connection that gateway.db.session hands in (no URL in a
file)."""

from alembic import context

from gateway.db.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through gateway.db.session.migrate(), which supplies "
                       "a connection")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
