"""Shared fixtures. Integration tests use this machine's real PostgreSQL and RabbitMQ."""

from __future__ import annotations

import datetime as dt
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg2
import pytest

from dev import launcher
from gateway import access
from nominations.application import NominationsApplication
from shared.catalog import load_catalog
from shared.signing import load_signer, publish_claims
from shared.wire import WireEvent

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_DSN = os.environ.get("EXEMPLARS_PG_ADMIN_DSN", "host=127.0.0.1 port=5432 user=root dbname=postgres")
PG_URL_BASE = os.environ.get("EXEMPLARS_PG_URL_BASE", "postgresql://root@127.0.0.1:5432/")
# Each test session has a vhost of its own, so two runs (or a bench) on one broker never
# share queues: nameko balances RPC over every service of the same name in a vhost.
TEST_VHOST = f"exemplars_test_{uuid.uuid4().hex[:10]}"
AMQP_URI = f"amqp://guest:guest@127.0.0.1:5672/{TEST_VHOST}"


# Every service a session starts trusts this one folder of instance keys (and no other): each
# makes its development key there on first start, and what tests publish is signed there too.
TRUSTED_KEYS_DIR = Path(tempfile.mkdtemp(prefix="exemplars-test-keys-"))


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, timeout=120, capture_output=True)


@pytest.fixture(scope="session", autouse=True)
def test_vhost(request):
    unit = Path(__file__).parent / "unit"
    if all(unit in Path(item.path).parents for item in request.session.items):
        yield None  # the unit tier alone: no broker (a unit test that needs one fails for want of it)
        return
    rabbitmqctl("add_vhost", TEST_VHOST)
    rabbitmqctl("set_permissions", "-p", TEST_VHOST, "guest", ".*", ".*", ".*")
    yield TEST_VHOST
    rabbitmqctl("delete_vhost", TEST_VHOST)


@pytest.fixture(scope="session", autouse=True)
def trusted_keys_dir():
    yield TRUSTED_KEYS_DIR
    shutil.rmtree(TRUSTED_KEYS_DIR, ignore_errors=True)


def signed(event: WireEvent, department: str = "hoi-nong-dan-yen-the") -> WireEvent:
    """``event`` signed by its own instance, whose key (made on first use) the session's services
    trust, as speaking for its source service and (a department's) ``department`` or (a council's)
    the council the event names (shared.trust)."""
    claims = {"service": event.source}
    if event.source == "nominations":
        claims["department"] = department
    elif event.source == "awards":
        claims["council"] = event.payload.get("jurisdiction") or event.payload.get("to_jurisdiction")
    signer = load_signer(event.instance, keys_dir=TRUSTED_KEYS_DIR)
    publish_claims(event.instance, TRUSTED_KEYS_DIR, **claims)
    return event.signed(signer)


TEST_GATEWAY = "test-gateway"


def gateway_signer():
    """The key a test signs callers with when it drives services over RPC itself, as a gateway
    would (shared.callers): trusted by the session's services, and claimed for a gateway."""
    signer = load_signer(TEST_GATEWAY, keys_dir=TRUSTED_KEYS_DIR)
    publish_claims(TEST_GATEWAY, TRUSTED_KEYS_DIR, service="gateway")
    return signer


@pytest.fixture(scope="session")
def catalog():
    return load_catalog()


@pytest.fixture
def memory_app(catalog):
    """The application on the library's in-memory store: fast, no services."""
    return NominationsApplication(catalog=catalog, department="hoi-nong-dan-yen-the", env={})


def create_database() -> str:
    name = f"exemplars_test_{uuid.uuid4().hex[:12]}"
    conn = psycopg2.connect(PG_ADMIN_DSN)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    return name


def drop_database(name: str) -> None:
    conn = psycopg2.connect(PG_ADMIN_DSN)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()


@pytest.fixture
def postgres_url():
    """A fresh PostgreSQL database, dropped afterwards."""
    name = create_database()
    yield PG_URL_BASE + name
    drop_database(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """Each store test runs on a SQLite file and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'nominations.sqlite'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def amqp_uri():
    return AMQP_URI


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def nameko_run(name: str, env: dict, log_path: Path) -> subprocess.Popen:
    """Start one service exactly as `make run` does (dev.launcher), with test settings.
    ``metrics_url``: where the process serves /metrics (the launcher gave it a free port)."""
    env = launcher.environment_for(name, os.environ | env)
    process = subprocess.Popen(launcher.command_for(name), cwd=ROOT, env=env,
                               stdout=open(log_path, "wb"), stderr=subprocess.STDOUT)
    process.metrics_url = f"http://{env[launcher.metrics_variable(name)]}"
    return process


class RunningSystem:
    def __init__(self, base_url: str, env: dict, logs: Path, processes: dict, metrics_url: str,
                 token_secret: bytes = b""):
        self.base_url = base_url
        self.env = env
        self.logs = logs
        self.processes = processes
        self.metrics_url = metrics_url
        self.token_secret = token_secret

    @property
    def amqp_uri(self) -> str:
        return self.env["AMQP_URI"]

    def url(self, path: str) -> str:
        return self.base_url + path

    def token(self, role: str = access.OFFICER, sub: str | None = None, **scope) -> str:
        """A bearer token signed with this system's secret, as `exemplars token issue` makes one."""
        if role == access.OFFICER:
            department = (os.environ | self.env).get("NOMINATIONS_DEPARTMENT", "hoi-nong-dan-yen-the")
            scope.setdefault("department", department)
        return access.issue(self.token_secret, sub=sub or f"test-{role.replace('_', '-')}", role=role, **scope)

    def auth(self, role: str = access.OFFICER, sub: str | None = None, **scope) -> dict:
        return {"Authorization": f"Bearer {self.token(role, sub, **scope)}"}

    def auth_for(self, path: str) -> dict:
        """The headers of whoever would normally call ``path``: the department's officer, the
        council's secretary, the inbox's recipient, or an operator for notifications."""
        parts = path.split("?")[0].strip("/").split("/")
        if parts[0] == "councils" and len(parts) > 1:
            return self.auth(access.SECRETARY, council=parts[1])
        if parts[0] == "inbox" and len(parts) > 1:
            return self.auth(access.OFFICER, sub=parts[1])
        if parts[0] in ("operator", "deliveries", "subscriptions"):
            return self.auth(access.OPERATOR)
        return self.auth(access.OFFICER)

    def cli(self, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
        exe = str(Path(sys.executable).with_name("exemplars"))
        return subprocess.run([exe, *args], capture_output=True, text=True, env=os.environ | self.env | (env or {}),
                              timeout=60)


def audit_sources(databases: dict[str, str], env: dict) -> str:
    """AUDIT_SOURCES for a test system: each instance's log and its own database."""
    from awards.bootstrap import service_name as council_service

    sources = []
    for name, database in databases.items():
        if name == "accounts":  # keeps no exemplar's log
            continue
        service = name.split("-")[0]
        instance = {"nominations": env["NOMINATIONS_INSTANCE_ID"], "notifications": "notifications"}.get(service) or \
            council_service(launcher.spec_of(name)[2]["AWARDS_JURISDICTION"])
        sources.append(f"{service}:{instance}={PG_URL_BASE}{database}")
    return ",".join(sources)


def start_system(tmp_path_factory, workers: int = 1, extra_env: dict | None = None, worker_env: dict | None = None):
    """Every service of `make run` (and ``workers`` delivery workers, with ``worker_env`` beside
    the rest's) as real processes."""
    services = launcher.with_workers(workers)
    databases = {name: create_database() for name in services
                 if name not in ("gateway", "audit") and not name.startswith("notifications-worker")}
    logs = tmp_path_factory.mktemp("logs")
    secret_file = tmp_path_factory.mktemp("keys") / "gateway-token.secret"  # this system's own, not var/keys/
    secret_file.write_text(secrets.token_hex(32))
    port = free_port()
    # A vhost of its own: durable queues outlive a system, and events left in them by one
    # system's services must not reach the next system's (same-named) councils and notifications.
    vhost = f"{TEST_VHOST}_{uuid.uuid4().hex[:6]}"
    rabbitmqctl("add_vhost", vhost)
    rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    env = {"AMQP_URI": f"amqp://guest:guest@127.0.0.1:5672/{vhost}",
           "NOMINATIONS_INSTANCE_ID": f"nominations-test-{uuid.uuid4().hex[:6]}",
           "WEB_SERVER_ADDRESS": f"127.0.0.1:{port}",
           "EVENT_RETRY_DELAYS_MS": "200,400", "GATEWAY_TOKEN_SECRET_FILE": str(secret_file),
           "TRUSTED_KEYS_DIR": str(TRUSTED_KEYS_DIR),
           "NOTIFICATIONS_WEBHOOK_ALLOW_HOSTS": "127.0.0.1"} | (extra_env or {})  # the sinks listen there
    # The audit service's logs: each instance's, and any more a test names in extra_env.
    extra_sources = (extra_env or {}).get("AUDIT_SOURCES")
    env["AUDIT_SOURCES"] = ",".join(filter(None, [audit_sources(databases, env), extra_sources]))
    processes = {}
    for name in services:
        database = databases.get(name) or (databases["notifications"] if name.startswith("notifications") else None)
        own = {launcher.database_variable(name): PG_URL_BASE + database} if database else {}
        if name.startswith("notifications-worker"):
            own |= worker_env or {}
        processes[name] = nameko_run(name, env | own, logs / f"{name}.log")
    running = RunningSystem(f"http://127.0.0.1:{port}", env, logs, processes, processes["notifications"].metrics_url,
                            access.load_secret(env["GATEWAY_TOKEN_SECRET_FILE"]))
    try:
        deadline = time.monotonic() + 90
        while not launcher.is_ready(timeout=2, url=running.base_url):
            if time.monotonic() > deadline or any(p.poll() is not None for p in processes.values()):
                raise RuntimeError("system did not start:\n" + "\n".join(
                    f.read_text(errors="replace")[-3000:] for f in logs.iterdir()))
            time.sleep(0.3)
        yield running
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.terminate()
        for process in processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        for database in databases.values():
            drop_database(database)
        rabbitmqctl("delete_vhost", vhost)


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    yield from start_system(tmp_path_factory)


# -- scenario helpers ------------------------------------------------------------------

def wait_for(check, timeout=30.0, what="condition"):
    """Poll ``check`` until it returns something truthy; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


D = dt.date.fromisoformat


def detect_data(**overrides) -> dict:
    data = {
        "subject_kind": "household",
        "name": "Hộ ông Hoàng Văn Thắng",
        "field": "household-economy",
        "movement": "farmers-good-business",
        "unit": "xã Đồng Tâm, huyện Yên Thế",
        "achievements": ["Trang trại gà đồi 6.000 con/lứa"],
        "business_date": "2018-04-16",
    }
    return data | overrides


STEPS = {
    "plan_nurture": {"responsible_unit": "Hội Nông dân huyện", "milestones": [{"name": "Mở rộng", "due": "2018-09-30"}], "business_date": "2018-04-25"},
    "record_progress": {"note": "Hoàn thành chuồng trại", "business_date": "2018-06-28"},
    "review": {
        "review_kind": "interim",
        "general_criteria": [{"criterion": "Chấp hành tốt pháp luật", "met": True}],
        "field_criteria": [{"criterion": "Thu nhập gấp 3 lần bình quân", "met": True}],
        "summary": "Đạt",
        "business_date": "2018-09-20",
    },
    "endorse": {"meeting": "Chi hội thôn Mỏ Sắt", "members": 45, "present": 40, "in_favour": 38, "against": 1, "abstained": 1, "business_date": "2018-09-25"},
    "nominate": {"award_form": "giay-khen", "dossier_refs": ["Tờ trình 45/TTr-HND"], "achievement": "Hộ kinh tế giỏi 2018", "business_date": "2018-10-02"},
    "publicize": {"channel": "Đài Truyền thanh huyện", "audience": "Toàn huyện", "business_date": "2018-10-15"},
    "start_adoption": {"adopting_unit": "Hội Nông dân xã Tam Tiến", "method": "Tham quan, học tập", "business_date": "2018-10-25"},
}
LIFECYCLE = list(STEPS)
