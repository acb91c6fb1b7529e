"""Tables that cannot be rebuilt from the log change only through Alembic migrations.

Which of our tables are which (every ``Table(`` in shared/ and services/; a test keeps it so):

Not rebuildable from the service's own log — they change only through migrations, one unit each:

- ``positions``: log_positions. A read model's row could be recomputed, but the relay's says
  what was published, which the log cannot tell.
- ``consumer``: handled_messages, aggregate_sources — from incoming wire events, other logs.
- ``audit``: audit_seals, audit_checkpoints. The chain and the checkpoints were sealed and signed
  when they were made; computing them again would bless whatever the log holds now.
- ``ledger`` (notifications): notification_events, deliveries, inbox, exemplar_facts — from
  incoming wire events, and what was sent to whom.
- ``awards`` (each council): awards_register, subject_awards, exemplar_holds, holds, award_marks —
  from every council's and department's wire events, not from the council's own log.

Rebuildable — ``create_all`` at start (shared.schema.create_tables), rebuilt from the log when
their read model's ``version`` changes (shared.projection): exemplar_summaries, council_cases,
subscriptions, and their bookkeeping, read_model_versions and read_model_parked (a rebuild writes
both again). The log itself (``<app>_events``, ``<app>_snapshots``) is the eventsourcing library's;
its events never change shape (upcasters read old ones).

- ``accounts``: account_sessions, account_sign_in_failures, account_directory — sessions and the
  lock-out counter are no history, and the directory is written with each account command.

Each group is a **unit**: a chain of revisions in ``versions/<unit>/``, one Alembic environment
(``env.py``) for all of them, and a version table of its own, ``alembic_version_<unit>``. A
unit's tables are the same in every service that uses them (three services keep positions, seals
and handled messages), so services that share one database share those tables and their one
version table, and keep theirs apart for the rest; the names are fixed, never derived from an
instance's id. Revision ids are ``<unit>_<NNNN>``, one straight chain per unit, the file named
``NNNN_<what>.py`` (tests/integration/test_migrations.py checks this).

A process brings each unit it uses to its head when it starts (``migrate``, where it used to call
``create_tables``): a look at the version table first, which is all a database already at head
costs (Alembic is not even imported); otherwise, under the advisory lock processes starting
together agree on (shared.schema.SCHEMA_LOCK; on SQLite, the database's write lock), Alembic
upgrades it. A database made before Alembic has the tables but no version: the baseline revision
creates whichever are missing (as ``create_all`` did at every start), the revisions that older
code had already made by hand (``made_before_alembic``) are stamped, and the rest run.

By hand: ``python -m shared.migrations upgrade|current|check SERVICE URL``; ``revision UNIT -m …``
writes a new revision, its operations drafted by comparing the unit's models with its head.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from sqlalchemy import Connection, Engine, MetaData, inspect, text

from shared.schema import SCHEMA_LOCK, lone_read

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Unit:
    name: str
    metadata_path: str  # "module:attribute", imported when needed (the service packages import us)

    @property
    def version_table(self) -> str:
        return f"alembic_version_{self.name}"

    @property
    def versions(self) -> Path:
        return HERE / "versions" / self.name

    @property
    def metadata(self) -> MetaData:
        module, attribute = self.metadata_path.split(":")
        return getattr(importlib.import_module(module), attribute)

    def include_name(self, name, type_, parent_names) -> bool:
        """Only the unit's own tables: the database holds the log, read models and other units too."""
        return type_ != "table" or name in self.metadata.tables

    def head(self) -> str:
        """The newest revision, by the file naming rule (no Alembic import): ``NNNN_….py`` → ``<unit>_NNNN``."""
        newest = max(p.name.split("_", 1)[0] for p in self.versions.glob("[0-9][0-9][0-9][0-9]_*.py"))
        return f"{self.name}_{newest}"


UNITS = {unit.name: unit for unit in (
    Unit("positions", "shared.follower:positions_metadata"),
    Unit("consumer", "shared.consumer:metadata"),
    Unit("audit", "shared.sealer:metadata"),
    Unit("ledger", "notifications.ledger:metadata"),
    Unit("awards", "awards.application:metadata"),
    Unit("accounts", "accounts.tables:metadata"),
)}
# The units each service's database holds (its workers' too): what `upgrade SERVICE` migrates.
SERVICES = {
    "nominations": ("positions", "consumer", "audit"),
    "awards": ("positions", "consumer", "audit", "awards"),
    "notifications": ("positions", "consumer", "audit", "ledger"),
    "accounts": ("accounts",),
}


# Alembic's ``context`` and ``op`` are globals of the process: two threads migrating at once
# (even two databases) would run each other's operations. Other processes wait on the database.
_one_in_this_process = threading.Lock()


class NoDowngrade(RuntimeError):
    """A baseline is not undone: what its tables hold is not in any log, so dropping them loses
    it for good. Migrations only add (README, "Upgrades"); a rollback runs older code on the newer
    schema instead (``migrate`` warns)."""


class SchemaAhead(RuntimeError):
    """The database is at a revision this code does not know: a newer release migrated it."""


def migrate(engine: Engine, unit: str, refuse_newer: bool = False) -> None:
    """Bring ``unit``'s tables in this database to this code's head (see the module's doc).

    A database a newer release migrated (a rollback) is left as it is, with a warning: migrations
    only add (README, "Upgrades"), so this code still works on it; ``refuse_newer`` raises instead."""
    unit_ = UNITS[unit]
    with lone_read(engine) as conn:
        if current_revisions(conn, unit_) == {unit_.head()}:
            return
    script = script_of(unit_)  # Alembic imported and the revisions read before the lock is taken
    with _one_in_this_process, schema_lock(engine) as conn:
        upgrade(conn, unit_, script, refuse_newer=refuse_newer)


def current_revisions(conn: Connection, unit: Unit) -> set[str]:
    if not inspect(conn).has_table(unit.version_table):
        return set()
    return set(conn.execute(text(f"SELECT version_num FROM {unit.version_table}")).scalars())


@contextlib.contextmanager
def schema_lock(engine: Engine) -> Iterator[Connection]:
    """One transaction that only one process at a time holds, committed at the end: on PostgreSQL
    under SCHEMA_LOCK (create_tables takes it too), on SQLite the database's write lock, taken
    first (the default "deferred" transaction takes it at the first write, too late: two
    processes could both find the tables missing)."""
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")  # waits for another writer (the driver's timeout)
        else:
            conn.begin()
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK})
        yield conn
        conn.commit()


def config(conn: Connection | None, unit: Unit):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.set_main_option("version_locations", str(unit.versions))
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("unit", unit.name)
    cfg.attributes["connection"] = conn
    return cfg


def script_of(unit: Unit):
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(config(None, unit))


def upgrade(conn: Connection, unit: Unit, script=None, destination: str = "head", refuse_newer: bool = True) -> None:
    """Alembic's upgrade on ``conn`` (inside the caller's transaction); a database without a version
    for the unit is first brought to the baseline and stamped past what was made before Alembic."""
    from alembic import command

    script = script or script_of(unit)
    known = {revision.revision for revision in script.walk_revisions()}
    current = current_revisions(conn, unit)
    if current - known:
        ahead = SchemaAhead(f"{unit.version_table} says {', '.join(sorted(current))}, a revision this code does "
                            f"not know (its newest is {script.get_current_head()}): a newer release migrated "
                            f"this database")
        if refuse_newer:
            raise ahead
        log.warning("%s; left as it is (migrations only add, so this release works on it)", ahead)
        return
    cfg = config(conn, unit)
    if not current:
        chain = list(reversed(list(script.walk_revisions())))  # baseline first
        command.upgrade(cfg, chain[0].revision)  # creates whichever of its tables are missing
        stamped = chain[0].revision
        for revision in chain[1:]:
            made = getattr(revision.module, "made_before_alembic", None)
            if made is None or not made(conn):
                break
            stamped = revision.revision
        if stamped != chain[0].revision:
            command.stamp(cfg, stamped)
        log.info("%s: no version recorded; tables as %s", unit.name, stamped)
    if current_revisions(conn, unit) != {script.get_current_head()}:
        command.upgrade(cfg, destination)
        log.info("%s: upgraded to %s", unit.name, destination if destination != "head" else script.get_current_head())


def differences(conn: Connection, unit: Unit) -> list:
    """What Alembic's autogenerate finds between the unit's tables in this database and its
    models (``[]``: they agree)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    context = MigrationContext.configure(conn, opts={
        "version_table": unit.version_table, "compare_type": True, "include_name": unit.include_name})
    return compare_metadata(context, unit.metadata)
