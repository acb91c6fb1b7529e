"""The one Alembic environment of every unit (see shared.migrations): run by shared.migrations
with the connection it holds under the schema lock, never with a URL of its own."""

from alembic import context

from shared.migrations import UNITS

config = context.config
unit = UNITS[config.get_main_option("unit")]
connection = config.attributes.get("connection")
if connection is None:
    raise SystemExit("run migrations with `python -m shared.migrations` (it connects and takes the schema lock)")
context.configure(
    connection=connection,
    target_metadata=unit.metadata,  # what `revision` compares with the head to draft a new revision
    version_table=unit.version_table,
    include_name=unit.include_name,
    render_as_batch=True,  # SQLite alters a table by copying it; Alembic's batch mode does that
    compare_type=True,
)
with context.begin_transaction():  # the caller's transaction: nothing of its own
    context.run_migrations()
