"""Alembic environment: the connection comes from ``modelreg.db.migrations.upgrade``, never from a URL here."""

from alembic import context

from modelreg.db.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `modelreg db upgrade`")

context.configure(
    connection=connection,
    target_metadata=metadata,
    compare_type=True,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
