"""Creating our own tables (read models, ledgers, positions) when a process starts.

Several processes may start at once on one database — a service and its workers, or
scaled copies — and each creates what is missing. `CREATE TABLE` after a "does it
exist?" check races: the loser fails with "already exists". On PostgreSQL the check and
the creation run under one advisory lock; elsewhere (SQLite) a loser checks again.
"""

from __future__ import annotations

import time

from sqlalchemy import Engine, MetaData, Table, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError

SCHEMA_LOCK = 7_206_111_904  # any constant: the advisory lock our processes agree on


def create_tables(metadata: MetaData, engine: Engine, attempts: int = 5) -> None:
    for attempt in range(1, attempts + 1):
        try:
            with engine.begin() as conn:
                if conn.dialect.name == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK})
                metadata.create_all(conn, checkfirst=True)
            return
        except DBAPIError as exc:
            if "already exists" not in str(exc) or attempt == attempts:
                raise
            time.sleep(0.05 * attempt)  # another process created it meanwhile: look again


def insert_ignoring_duplicates(conn, table: Table, rows: list[dict]) -> None:
    """Insert rows (all with the same keys), skipping those whose primary key is already there."""
    if not rows:
        return
    dialect = conn.get_bind().dialect if hasattr(conn, "get_bind") else conn.dialect  # Session or Connection
    dialect_insert = pg_insert if dialect.name == "postgresql" else sqlite_insert
    key = list(table.primary_key.columns)
    # One statement for many rows, batched into few round trips ("insertmanyvalues"). SQLAlchemy
    # batches an ON CONFLICT insert only when it has RETURNING; without, psycopg2 sends one
    # INSERT per row (ten times slower for a 10,000-recipient fan-out).
    statement = dialect_insert(table).on_conflict_do_nothing(index_elements=[c.name for c in key]).returning(*key)
    conn.execute(statement, rows).all()
