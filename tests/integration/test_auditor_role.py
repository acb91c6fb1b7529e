"""deploy/postgres-auditor.sh against this machine's real PostgreSQL, on a throw-away database and
throw-away roles (dropped afterwards): the auditors' role reads every table of an instance's
database -- those there when the script ran and those the services' role creates later -- and
can change or create nothing; the gateway's audit reading works as that role."""

from __future__ import annotations

import os
import secrets
from contextlib import closing
import subprocess
import uuid

import psycopg2
import psycopg2.errors
import pytest
from psycopg2.extensions import parse_dsn

from conftest import PG_ADMIN_DSN, PG_URL_BASE, ROOT, detect_data
from audit import toolkit as audit
from shared.persistence import eventsourcing_env
from shared.sealer import Sealer
from shared.signing import TrustedKeys, load_signer

pytestmark = pytest.mark.integration
SCRIPT = ROOT / "deploy" / "postgres-auditor.sh"
INSTANCE = "nominations-auditor-role-test"
DSN_TO_ENV = {"host": "PGHOST", "port": "PGPORT", "user": "PGUSER", "password": "PGPASSWORD"}


def admin(statement: str, database: str = "postgres"):
    conn = psycopg2.connect(PG_ADMIN_DSN, dbname=database)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
            return cur.fetchall() if cur.description else None
    finally:
        conn.close()


def connect(role: str, database: str, password: str | None = None):
    conn = psycopg2.connect(PG_ADMIN_DSN, dbname=database, user=role, password=password)
    conn.autocommit = True
    return conn


def run_script(env: dict, sourced: bool = False) -> subprocess.CompletedProcess:
    """As the postgres image does: executed, or sourced by its bash entrypoint (set -Eeo pipefail)."""
    argv = ["bash", "-c", 'set -Eeo pipefail; . "$0"; echo sourced-to-the-end', str(SCRIPT)] if sourced \
        else [str(SCRIPT)]
    admin_env = {DSN_TO_ENV[k]: v for k, v in parse_dsn(PG_ADMIN_DSN).items() if k in DSN_TO_ENV}
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "POSTGRES_", "AUDITOR_"))}
    return subprocess.run(argv, env=clean | admin_env | env, capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def deployment():
    """A database owned by a service-like role that has already made a table; then the script."""
    suffix = uuid.uuid4().hex[:10]
    names = {"db": f"exemplars_auditor_test_{suffix}", "services": f"exemplars_services_test_{suffix}",
             "auditor": f"exemplars_auditor_test_{suffix}", "password": secrets.token_hex(16)}
    admin(f'CREATE ROLE "{names["services"]}" LOGIN')
    try:
        admin(f'CREATE DATABASE "{names["db"]}" OWNER "{names["services"]}"')
        with closing(connect(names["services"], names["db"])) as conn, conn.cursor() as cur:
            cur.execute("CREATE TABLE early_events (id BIGSERIAL PRIMARY KEY, body TEXT NOT NULL)")
            cur.execute("INSERT INTO early_events (body) VALUES ('before the script')")
        names["env"] = {"AUDITOR_DB_ROLE": names["auditor"], "SERVICES_DB_ROLE": names["services"],
                        "AUDITOR_DATABASES": names["db"]}
        done = run_script(names["env"] | {"AUDITOR_DB_PASSWORD": names["password"]})
        assert done.returncode == 0, done.stderr
        assert names["password"] not in done.stdout + done.stderr
        with closing(connect(names["services"], names["db"])) as conn, conn.cursor() as cur:
            cur.execute("CREATE TABLE later_events (id BIGSERIAL PRIMARY KEY, body TEXT NOT NULL)")
            cur.execute("INSERT INTO later_events (body) VALUES ('after the script')")
        yield names
    finally:
        admin(f'DROP DATABASE IF EXISTS "{names["db"]}" WITH (FORCE)')
        admin(f'DROP ROLE IF EXISTS "{names["auditor"]}"')
        admin(f'DROP ROLE IF EXISTS "{names["services"]}"')


@pytest.fixture
def auditor(deployment):
    """The auditor's session, switched to read-write: privileges alone must stop every write."""
    conn = connect(deployment["auditor"], deployment["db"])
    with conn.cursor() as cur:
        cur.execute("SHOW default_transaction_read_only")
        assert cur.fetchone()[0] == "on"  # read-only by default; the tests below switch that off
        cur.execute("SET default_transaction_read_only = off")
    yield conn
    conn.close()


def test_the_auditor_reads_tables_made_before_and_after_the_script(auditor):
    with auditor.cursor() as cur:
        cur.execute("SELECT body FROM early_events")
        assert cur.fetchall() == [("before the script",)]
        cur.execute("SELECT body FROM later_events")  # created later: the default privileges
        assert cur.fetchall() == [("after the script",)]


@pytest.mark.parametrize("statement", [
    "INSERT INTO early_events (body) VALUES ('forged')",
    "INSERT INTO later_events (body) VALUES ('forged')",
    "UPDATE early_events SET body = 'rewritten'",
    "UPDATE later_events SET body = 'rewritten'",
    "DELETE FROM early_events",
    "DELETE FROM later_events",
    "TRUNCATE later_events",
    "CREATE TABLE audit_notes (note TEXT)",
    "CREATE TEMPORARY TABLE scratch (note TEXT)",
    "ALTER TABLE later_events ADD COLUMN note TEXT",
    "DROP TABLE early_events",
    "SELECT nextval('later_events_id_seq')",
])
def test_the_auditor_can_change_or_create_nothing(auditor, statement):
    with auditor.cursor() as cur, pytest.raises(psycopg2.errors.InsufficientPrivilege):
        cur.execute(statement)


def test_the_role_has_no_attribute_or_membership_beyond_login(deployment):
    ((attributes, password, memberships),) = admin(
        "SELECT ARRAY[rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls, rolinherit], rolpassword, "
        "(SELECT count(*) FROM pg_auth_members WHERE member = pg_authid.oid) "
        f"FROM pg_authid WHERE rolname = '{deployment['auditor']}'")
    assert attributes == [False] * 6 and memberships == 0
    assert password.startswith("SCRAM-SHA-256$") and deployment["password"] not in password
    ((privileges,),) = admin(
        f"SELECT array_agg(p) FILTER (WHERE has_database_privilege('{deployment['auditor']}', "
        f"'{deployment['db']}', p)) FROM unnest(ARRAY['CONNECT', 'CREATE', 'TEMPORARY']) AS p")
    assert privileges == ["CONNECT"]


def test_the_gateways_audit_reading_works_as_the_auditor(deployment, catalog, tmp_path):
    """A log the services' role writes after the script, read as AUDIT_SOURCES names it."""
    from nominations.application import NominationsApplication

    services_url = PG_URL_BASE.replace("root@", f"{deployment['services']}@") + deployment["db"]
    app = NominationsApplication(catalog=catalog, department="hoi-nong-dan-yen-the",
                                 env=eventsourcing_env(services_url))
    exemplar = app.detect(detect_data(name="Hộ kiểm toán"))["id"]
    Sealer(app, load_signer(INSTANCE, keys_dir=tmp_path)).seal_pending(checkpoint=True)

    auditor_url = PG_URL_BASE.replace("root@", f"{deployment['auditor']}:{deployment['password']}@") + deployment["db"]
    (source,) = audit.default_sources({"AUDIT_SOURCES": f"nominations:{INSTANCE}={auditor_url}"})
    report = audit.verify_source(source, TrustedKeys(tmp_path))
    assert report.ok and report.events == app.recorder.max_notification_id() and report.unproven_tail == 0
    assert [e for e in audit.timeline([source], exemplar)], "the auditor sees the exemplar's story"


def test_running_it_again_rotates_the_password_and_sourced_it_reaches_the_end(deployment):
    rotated = secrets.token_hex(16)
    before = admin(f"SELECT rolpassword FROM pg_authid WHERE rolname = '{deployment['auditor']}'")
    done = run_script(deployment["env"] | {"AUDITOR_DB_PASSWORD": rotated}, sourced=True)
    assert done.returncode == 0 and "sourced-to-the-end" in done.stdout, done.stderr
    assert admin(f"SELECT rolpassword FROM pg_authid WHERE rolname = '{deployment['auditor']}'") != before
    with closing(connect(deployment["auditor"], deployment["db"])) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM later_events")
        assert cur.fetchone() == (1,)


def test_without_a_password_it_stops_and_changes_nothing(deployment):
    before = admin(f"SELECT rolpassword FROM pg_authid WHERE rolname = '{deployment['auditor']}'")
    for sourced in (False, True):
        done = run_script(deployment["env"] | {"AUDITOR_DB_PASSWORD": ""}, sourced=sourced)
        assert done.returncode != 0 and "AUDITOR_DB_PASSWORD" in done.stderr
        assert "sourced-to-the-end" not in done.stdout
    assert admin(f"SELECT rolpassword FROM pg_authid WHERE rolname = '{deployment['auditor']}'") == before
