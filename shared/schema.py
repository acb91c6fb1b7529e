"""Creating the read models' tables when a process starts (tables that cannot be rebuilt from
the log change only through migrations instead: shared.migrations, under the same lock).

Several processes may start at once on one database — a service and its workers, or
scaled copies — and each creates what is missing. `CREATE TABLE` after a "does it
exist?" check races: the loser fails with "already exists". On PostgreSQL the check and
the creation run under one advisory lock; elsewhere (SQLite) a loser checks again.
"""

from __future__ import annotations

import contextlib
import time
from typing import Iterator

from psycopg2.extras import execute_values
from sqlalchemy import Connection, Engine, MetaData, Table, text
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

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


@contextlib.contextmanager
def lone_read(engine: Engine) -> Iterator[Connection]:
    """A connection for one read outside any transaction: on PostgreSQL in autocommit, so
    no BEGIN and ROLLBACK round trips surround the statement (hot reads: loads, the ledger)."""
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execution_options(isolation_level="AUTOCOMMIT")
        yield conn


def insert_ignoring_duplicates(conn, table: Table, rows: list[dict]) -> None:
    """Insert rows (all with the same keys), skipping those whose primary key is already there.

    ``conn`` is a Connection or a Session; the rows join its transaction."""
    if not rows:
        return
    connection = conn.connection() if isinstance(conn, Session) else conn  # the Session's own, in its transaction
    key = [c.name for c in table.primary_key.columns]
    if connection.dialect.name == "postgresql":
        _insert_values_ignoring_duplicates(connection, table, rows, key)
        return
    # One statement for many rows, batched into few round trips ("insertmanyvalues"). SQLAlchemy
    # batches an ON CONFLICT insert only when it has RETURNING; without, it sends one INSERT
    # per row (ten times slower for a 10,000-recipient fan-out).
    statement = sqlite_insert(table).on_conflict_do_nothing(index_elements=key).returning(*table.primary_key.columns)
    connection.execute(statement, rows).all()


def _insert_values_ignoring_duplicates(connection, table: Table, rows: list[dict], key: list[str]) -> None:
    """psycopg2's execute_values: a thousand rows to a statement. SQLAlchemy's per-row
    parameter processing was a third of the service's CPU in a 10,000-recipient fan-out
    (43 µs a row against 21 here). Python-side scalar defaults are filled in as SQLAlchemy
    would; our ledger tables use no other column types than psycopg2 adapts itself."""
    given = list(rows[0])
    defaults = {c.name: c.default.arg for c in table.columns
                if c.name not in rows[0] and c.default is not None and c.default.is_scalar}
    columns = given + list(defaults)
    quote = connection.dialect.identifier_preparer.quote
    statement = (f"INSERT INTO {connection.dialect.identifier_preparer.format_table(table)} "
                 f"({', '.join(quote(c) for c in columns)}) VALUES %s "
                 f"ON CONFLICT ({', '.join(quote(c) for c in key)}) DO NOTHING")
    values = [tuple(row[c] for c in given) + tuple(defaults.values()) for row in rows]
    if not connection.in_transaction():  # so that the caller's commit() commits these rows
        connection.begin()
    with connection.connection.dbapi_connection.cursor() as cursor:
        execute_values(cursor, statement, values, page_size=1000)
