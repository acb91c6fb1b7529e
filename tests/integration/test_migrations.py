"""Tables that cannot be rebuilt from the log change only through migrations (shared.migrations):
a database made before Alembic keeps its rows and ends as the models say; a fresh one gets head;
processes starting together migrate once; a model changed without a migration fails here."""

from __future__ import annotations

import datetime as dt
import importlib
import pkgutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from sqlalchemy import MetaData, create_engine, inspect, select, text

import schema_before_alembic as before
from conftest import wait_for
from shared.migrations import SERVICES, UNITS, SchemaAhead, current_revisions, differences, migrate, script_of
from shared.persistence import sqlalchemy_url

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
EVERY_UNIT = tuple(UNITS)


@pytest.fixture
def engine(database_url):
    engine = create_engine(sqlalchemy_url(database_url))
    yield engine
    engine.dispose()


def start(engine, units=EVERY_UNIT) -> None:
    """What processes do at start for their units (every unit here: one database holds all)."""
    for unit in units:
        migrate(engine, unit)


def contents(engine, metadata: MetaData) -> dict[str, list[tuple]]:
    """Every row of every table in ``metadata`` (the frozen copy), in key order, times in UTC."""
    def plain(value):
        if isinstance(value, dt.datetime) and value.tzinfo is None:  # SQLite keeps no zone
            return value.replace(tzinfo=dt.timezone.utc)
        return value

    with engine.connect() as conn:
        return {name: [tuple(plain(v) for v in row) for row in conn.execute(
                    select(*table.columns).order_by(*table.primary_key.columns))]
                for name, table in metadata.tables.items()}


def assert_at_head_as_the_models(engine, units=EVERY_UNIT) -> None:
    with engine.connect() as conn:
        for name in units:
            unit = UNITS[name]
            assert current_revisions(conn, unit) == {script_of(unit).get_current_head()}, name
            assert differences(conn, unit) == [], name


def fill(engine, era: str) -> MetaData:
    metadata = before.create(engine, era)
    with engine.begin() as conn:
        for name, rows in before.rows(era).items():
            conn.execute(metadata.tables[name].insert(), rows)
    return metadata


# -- the guard: models and migrations agree ------------------------------------------------

def test_a_fresh_database_gets_head_and_head_is_what_the_models_say(engine):
    """Fails when someone changes (or adds) a table of a unit without a migration: write one
    with `python -m shared.migrations revision UNIT -m …`."""
    start(engine)
    assert_at_head_as_the_models(engine)
    start(engine)  # a second start finds it at head and changes nothing
    assert_at_head_as_the_models(engine)


def test_each_unit_is_one_straight_chain_named_by_its_files():
    """``Unit.head`` reads the newest file name (no Alembic at start); it must be Alembic's head."""
    for name, unit in UNITS.items():
        script = script_of(unit)
        revisions = list(script.walk_revisions())
        assert script.get_heads() == [unit.head()] and len(script.get_bases()) == 1, name
        for revision in revisions:
            number = Path(revision.path).name.split("_", 1)[0]
            assert revision.revision == f"{name}_{number}", revision.path
            assert revision.down_revision is None or isinstance(revision.down_revision, str), revision.path


# -- databases made before Alembic ---------------------------------------------------------

@pytest.mark.parametrize("era", before.ERAS)
def test_a_database_made_before_alembic_keeps_its_rows_and_ends_as_the_models(engine, era):
    metadata = fill(engine, era)
    kept = contents(engine, metadata)
    start(engine)
    assert contents(engine, metadata) == kept  # every row, every value, as it was
    assert_at_head_as_the_models(engine)
    table = inspect(engine)
    assert "key_id" in {c["name"] for c in table.get_columns("audit_checkpoints")}
    assert "ix_deliveries_recipient_id" not in {i["name"] for i in table.get_indexes("deliveries")}
    assert before.ADDED_2026_12_07 <= set(table.get_table_names())  # the tables an older main lacked


def test_checkpoints_from_before_key_ids_keep_none_and_new_ones_name_their_key(engine):
    fill(engine, "before-key-ids")
    with engine.connect() as conn:
        assert current_revisions(conn, UNITS["audit"]) == set()
    migrate(engine, "audit")
    from shared.sealer import audit_checkpoints  # the live model, now that the column exists

    with engine.begin() as conn:
        conn.execute(audit_checkpoints.insert().values(position=3, instance="i", log="Nominations", count=3,
                                                       chain_hash="h", sealed_at="s", signature="g",
                                                       key_id="0123456789abcdef"))
        assert conn.execute(select(audit_checkpoints.c.position, audit_checkpoints.c.key_id)
                            .order_by(audit_checkpoints.c.position)).all() == [(2, None), (3, "0123456789abcdef")]
        assert current_revisions(conn, UNITS["audit"]) == {"audit_0002"}


def test_what_older_code_had_already_changed_is_stamped_not_done_again(engine):
    """main of 2026-12-07 had added key_id and dropped the recipient index itself: stamped at
    audit_0002 and ledger_0002; a database from before them gets both run."""
    before.create(engine, "main")
    start(engine, ("audit", "ledger"))
    with engine.connect() as conn:
        assert current_revisions(conn, UNITS["audit"]) == {"audit_0002"}
        assert current_revisions(conn, UNITS["ledger"]) == {"ledger_0002"}


def test_a_database_a_newer_release_migrated_is_left_as_it_is_at_start_and_refused_by_hand(engine, database_url,
                                                                                            caplog):
    """A rollback: the previous release still starts (migrations only add) and says so."""
    start(engine, ("positions",))
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version_positions SET version_num = 'positions_9999'"))
    migrate(engine, "positions")
    assert "alembic_version_positions says positions_9999" in caplog.text
    with engine.connect() as conn:
        assert current_revisions(conn, UNITS["positions"]) == {"positions_9999"}
    with pytest.raises(SchemaAhead, match="positions_9999"):
        migrate(engine, "positions", refuse_newer=True)
    by_hand = subprocess.run([sys.executable, "-m", "shared.migrations", "upgrade", "nominations", database_url],
                             cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert by_hand.returncode == 1 and "a newer release migrated this database" in by_hand.stderr


# -- processes starting together -----------------------------------------------------------

STARTER = """
import os, sys, time
from sqlalchemy import create_engine
from shared.migrations import UNITS, migrate, script_of
from shared.persistence import sqlalchemy_url
engine = create_engine(sqlalchemy_url(sys.argv[1]))
for unit in UNITS.values():
    script_of(unit)  # what a process has done before it looks at the database: imports, revisions read
open(sys.argv[2] + f".ready.{os.getpid()}", "w").close()
while not os.path.exists(sys.argv[2]):  # everyone finds the version missing at the same moment
    time.sleep(0.005)
for unit in UNITS:
    migrate(engine, unit)
"""


@pytest.mark.parametrize("era", [None, "before-key-ids"])
def test_processes_starting_together_migrate_once_without_errors(database_url, era, tmp_path, starters=4):
    engine = create_engine(sqlalchemy_url(database_url))
    if era:
        metadata = fill(engine, era)
        kept = contents(engine, metadata)
    gate = tmp_path / "go"
    started = [subprocess.Popen([sys.executable, "-c", STARTER, database_url, str(gate)], cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(starters)]
    wait_for(lambda: len(list(tmp_path.glob("go.ready.*"))) == starters or any(p.poll() is not None for p in started),
             timeout=60, what="the starters to be ready")
    gate.touch()
    for process in started:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
    assert_at_head_as_the_models(engine)
    if era:
        assert contents(engine, metadata) == kept
    with engine.connect() as conn:  # one row a version table, not one a starter
        assert conn.execute(text("SELECT count(*) FROM alembic_version_audit")).scalar() == 1
    engine.dispose()


def test_threads_of_one_process_starting_together(database_url, starters=6):
    """Alembic's context is the process's: threads migrate one at a time (each its own engine)."""
    engines = [create_engine(sqlalchemy_url(database_url)) for _ in range(starters)]
    errors, gate = [], threading.Barrier(starters)

    def go(engine):
        gate.wait()
        try:
            start(engine)
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=go, args=(engine,)) for engine in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert_at_head_as_the_models(engines[0])
    for engine in engines:
        engine.dispose()


def test_the_command_by_hand(database_url):
    """`python -m shared.migrations upgrade SERVICE URL`, then `check` and `current`."""
    def run(*args):
        return subprocess.run([sys.executable, "-m", "shared.migrations", *args], cwd=ROOT, capture_output=True,
                              text=True, timeout=120)

    assert "ledger     alembic_version_ledger     none" in run("current", "notifications", database_url).stdout
    upgraded = run("upgrade", "notifications", database_url)
    assert upgraded.returncode == 0, upgraded.stderr
    assert "ledger     alembic_version_ledger     ledger_0002      head ledger_0002" in upgraded.stdout
    checked = run("check", "notifications", database_url)
    assert checked.returncode == 0, checked.stdout + checked.stderr


# -- every table is classified, every service migrates its units ----------------------------

def every_table() -> dict[str, MetaData]:
    """Every table any module of ours defines, by name (its MetaData)."""
    found = {}
    for package in ("shared", "nominations", "awards", "notifications", "gateway", "audit", "accounts"):
        root = importlib.import_module(package)
        for module in pkgutil.walk_packages(root.__path__, package + "."):
            if module.name.startswith(("shared.migrations.versions", "gateway.demo")) or \
                    module.name == "shared.migrations.env" or module.name.endswith("__main__"):
                continue
            for value in vars(importlib.import_module(module.name)).values():
                if isinstance(value, MetaData):
                    found |= {name: value for name in value.tables}
    return found


def test_every_table_either_migrates_or_is_rebuilt_from_the_log():
    from shared.projection import Projection, bookkeeping

    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    defined = set(every_table())  # (imports every module: every read model is then a subclass)
    migrated = {name for unit in UNITS.values() for name in unit.metadata.tables}
    rebuilt = {sub.table.name for sub in subclasses(Projection) if hasattr(sub, "table")} | set(bookkeeping.tables)
    assert not migrated & rebuilt
    assert defined == migrated | rebuilt, "a new table: add it to a unit (and a migration) or make it a read model"


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_each_service_migrates_its_units_at_start_and_creates_no_other_table_of_theirs(service, tmp_path,
                                                                                     trusted_keys_dir):
    url = f"sqlite:///{tmp_path / 'service.sqlite'}"
    if service == "accounts":  # no relay, no runtime: the application is the service's start
        from accounts.application import AccountsApplication
        from shared.catalog import load_catalog

        AccountsApplication(url, load_catalog())
    else:
        config = {"DATABASE_URL": url, "AMQP_URI": "amqp://guest:guest@127.0.0.1:5672/unused",
                  "TRUSTED_KEYS_DIR": str(trusted_keys_dir)} | (
            {"JURISDICTION": "huyen-yen-the"} if service == "awards" else {})
        importlib.import_module(f"{service}.bootstrap").build(config)
    engine = create_engine(url)
    names = set(inspect(engine).get_table_names())
    assert {n for n in names if n.startswith("alembic_version_")} == {UNITS[u].version_table for u in SERVICES[service]}
    assert_at_head_as_the_models(engine, SERVICES[service])
    others = {t for u in set(UNITS) - set(SERVICES[service]) for t in UNITS[u].metadata.tables}
    assert not names & others
    engine.dispose()
