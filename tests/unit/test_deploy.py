"""The deployment files, checked offline (no Docker engine, no cluster on this machine).

- docker-compose.yml against the Compose Specification schema (deploy/schemas/compose-spec.json);
- deploy/k8s/*.yaml against the Kubernetes API schemas (the kubernetes-validate package, strict:
  unknown fields are errors) and the operators' CRD schemas (deploy/schemas/);
- both against the launcher: every service runs the command `make run` and the end-to-end tests
  run, under the identity the launcher gives it, with a database that is created, its own key,
  and no secret written in the file;
- the audit service's AUDIT_SOURCES against the instances each file runs, read as the auditors' role
  (and the gateway holding no database setting at all),
  and that role's script (deploy/postgres-auditor.sh) against least privilege: it grants SELECT.
Each kind of check is also shown to refuse a broken file.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shlex
import stat
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import jsonschema
import kubernetes_validate
import pytest
import yaml
from nameko.cli.main import IMPLICIT_ENV_VAR_MATCHER, env_var_constructor

from audit import toolkit as audit
from dev import launcher
from notifications.ledger import DELIVERY_QUEUE
from shared.catalog import load_catalog
from shared.council_queues import service_name as council_instance
from shared.persistence import PROJECT_ROOT
from shared.signing import TrustedKeys, load_signer

DEPLOY = PROJECT_ROOT / "deploy"
SCHEMAS = DEPLOY / "schemas"
K8S_VERSIONS = ("1.30.0", "1.37.0")  # the oldest we support and the newest the package knows


class PlainLoader(yaml.SafeLoader):
    """SafeLoader as PyYAML ships it: nameko adds an implicit `${VAR}` resolver to SafeLoader
    itself, which would silently rewrite compose's own `${VAR:?…}` syntax."""


PlainLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "!env_var"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}


class NamekoConfigLoader(yaml.SafeLoader):
    """How `nameko run --config` reads a config file, without touching SafeLoader."""


NamekoConfigLoader.add_constructor("!env_var", env_var_constructor)
NamekoConfigLoader.add_implicit_resolver("!env_var", IMPLICIT_ENV_VAR_MATCHER, None)


def load_yaml(path: Path):
    return yaml.load(path.read_text(encoding="utf-8"), Loader=PlainLoader)  # noqa: S506 - a SafeLoader


def load_all_yaml(path: Path) -> list[dict]:
    return [doc for doc in yaml.load_all(path.read_text(encoding="utf-8"), Loader=PlainLoader) if doc]  # noqa: S506


def launcher_command(name: str) -> list[str]:
    """The launcher's command for ``name``, as a container in /app would spell it."""
    argv = launcher.command_for(name)
    config = Path(argv[4]).relative_to(PROJECT_ROOT).as_posix()
    return [Path(argv[0]).name, *argv[1:4], config]


# The councils a deployment runs, as the launcher does: the 2018 district and province (in force
# until 2025-06-30), the commune and the merged province (from 2025-07-01).
COUNCILS = ("awards-huyen-yen-the", "awards-tinh-bac-giang", "awards-xa-yen-the", "awards-tinh-bac-ninh")
# Settings a council or department no longer has: its level, name and parent are topology data.
REMOVED_SETTINGS = {"AWARDS_LEVEL", "AWARDS_PARENT_JURISDICTION", "AWARDS_COUNCIL_NAME",
                    "NOMINATIONS_COUNCIL_LEVEL", "NOMINATIONS_JURISDICTION"}
# Every application service of a deployment and the launcher service it must run as.
APP_SERVICES = {
    "nominations-hoi-nong-dan-yen-the": "nominations",
    "nominations-lien-doan-lao-dong-yen-the": "nominations",
    **{council: council for council in COUNCILS},
    "notifications": "notifications",
    "notifications-worker": "notifications-worker-1",
    "audit": "audit",
    "accounts": "accounts",
    "gateway": "gateway",
}
NO_DATABASE_OF_ITS_OWN = {"gateway", "audit"}
# The accounts' database holds password hashes and sessions, no exemplar's log: auditors never read it.
NOT_AUDITED = {"exemplars_accounts"}  # the audit service reads everyone's, read-only
DEPARTMENTS = {"nominations-hoi-nong-dan-yen-the", "nominations-lien-doan-lao-dong-yen-the"}
LOGS = DEPARTMENTS | set(COUNCILS) | {"notifications"}  # the instances with a log of their own
SIGNING = LOGS | {"gateway"}  # and the gateway, which signs callers (shared/callers.py)
REQUIRED_ENV = {"RABBITMQ_PASSWORD", "RABBITMQ_WORKER_PASSWORD", "RABBITMQ_ADMIN_PASSWORD", "RABBITMQ_ERLANG_COOKIE", "POSTGRES_PASSWORD",
                "AUDITOR_DB_PASSWORD", "SMTP_HOST"}
SECRETISH = re.compile(r"PASS|SECRET|COOKIE|TOKEN|KEY", re.IGNORECASE)
URL_PASSWORD = re.compile(r"://[^/:@\s]+:([^@\s]+)@")


def instance_of(service: str, env: dict) -> str:
    """The instance name a service signs with (and its key is named after)."""
    if service.startswith("nominations"):
        return env["NOMINATIONS_INSTANCE_ID"]
    if service.startswith("awards"):
        return council_instance(env["AWARDS_JURISDICTION"])
    if service == "gateway":
        return env.get("GATEWAY_INSTANCE_ID", "gateway")
    return env["NOTIFICATIONS_INSTANCE_ID"]


def created_databases() -> set[str]:
    return set(re.findall(r"(?im)^\s*CREATE DATABASE (\w+);", (DEPLOY / "postgres-init.sql").read_text()))


def database_of(url: str) -> str:
    return url.rsplit("/", 1)[1]


AUDITOR_SCRIPT = DEPLOY / "postgres-auditor.sh"
AUDITOR_PASSWORD = "AUDITOR_DB_PASSWORD"


def auditor_role() -> str:
    return re.search(r'^auditor_role="\$\{AUDITOR_DB_ROLE:-(\w+)\}"$', AUDITOR_SCRIPT.read_text(), re.M).group(1)


def auditor_script_databases() -> set[str]:
    script = AUDITOR_SCRIPT.read_text()
    return set(re.search(r'^auditor_databases="\$\{AUDITOR_DATABASES:-([\w ]+)\}"$', script, re.M).group(1).split())


def expected_audit_sources(services: dict[str, dict]) -> dict[tuple[str, str], str]:
    """(service, instance) -> the database URL of each instance a file runs, given each service's env."""
    expected = {}
    for name in LOGS:
        env = services[name]
        kind = name.split("-")[0]
        expected[(kind, instance_of(name, env))] = env[launcher.database_variable(APP_SERVICES[name])]
    return expected


def check_audit_sources(value: str, services: dict[str, dict], services_role: str) -> None:
    """The audit service's AUDIT_SOURCES name exactly the instances run, each its own database, as the auditor;
    the services connect as ``services_role``, whose tables the auditor's default privileges cover
    (postgres-auditor.sh takes the image's POSTGRES_USER for it)."""
    assert not re.search(r"\s", value), "AUDIT_SOURCES has whitespace in it"
    sources = audit.parse_sources(value.split(","))
    by_instance = {(s.service, s.instance): s.url for s in sources}
    assert len(by_instance) == len(sources), "an instance is named twice"
    expected = expected_audit_sources(services)
    assert set(by_instance) == set(expected)
    for key, url in by_instance.items():
        audited, own = urlsplit(url), urlsplit(expected[key])
        assert audited.scheme == own.scheme == "postgresql", key
        assert own.username == services_role, f"{key}: the script's default privileges would not cover its tables"
        assert audited.username == auditor_role() != own.username, f"{key} is not read as the auditors' role"
        assert (audited.hostname, audited.port, audited.path) == (own.hostname, own.port, own.path), key
    databases = [database_of(url) for url in by_instance.values()]
    assert len(set(databases)) == len(databases), "two logs read from one database"
    assert set(databases) == created_databases() - NOT_AUDITED == auditor_script_databases()


def test_launcher_names_in_these_tables_exist():
    for name in APP_SERVICES.values():
        assert launcher_command(name)[:2] == ["nameko", "run"]
    # and the deployments run every council the launcher starts, no more
    assert set(COUNCILS) == {name for name in launcher.SERVICES if name.startswith("awards-")}


def check_councils(councils: dict[str, dict], running: str) -> None:
    """Each council (name -> its env) has the launcher's identity and none of the removed settings;
    their levels, from the topology, are the 2018 district and province and the commune; the
    gateway's EXEMPLARS_COUNCILS (``running``) is exactly the councils run."""
    for name, env in councils.items():
        identity = launcher.SERVICES[name][2]  # the launcher's identity always wins: match it
        assert {k: env.get(k) for k in identity} == identity, name
        assert not REMOVED_SETTINGS & set(env), f"{name} sets {REMOVED_SETTINGS & set(env)}"
    topology = load_catalog().topology
    levels = {topology.council(env["AWARDS_JURISDICTION"]).level for env in councils.values()}
    assert levels == {"district", "province", "commune"}
    codes = [env["AWARDS_JURISDICTION"] for env in councils.values()]
    assert sorted(running.split(",")) == sorted(codes), "EXEMPLARS_COUNCILS is not the councils run"


# --- Docker Compose ----------------------------------------------------------------------

INTERPOLATION = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|(?P<named>[A-Za-z_][A-Za-z0-9_]*))")


class MissingVariable(Exception):
    pass


def interpolate(value, env: dict):
    """Compose's variable interpolation (${VAR}, ${VAR:-default}, ${VAR:?error}, …) on every value."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def replace(match):
        if match["escaped"]:
            return "$"
        name = match["braced"] or match["named"]
        op, arg, current = match["op"], match["arg"], env.get(name)
        present = current is not None and (current != "" or not (op or "").startswith(":"))
        if op in ("?", ":?") and not present:
            raise MissingVariable(f"{name}: {arg}")
        if op in ("-", ":-") and not present:
            return arg
        if op in ("+", ":+"):
            return arg if present else ""
        return current or ""

    return INTERPOLATION.sub(replace, value)


COMPOSE_ENV = {name: f"test-{name.lower()}" for name in REQUIRED_ENV}


@pytest.fixture(scope="module")
def compose_raw() -> dict:
    return load_yaml(PROJECT_ROOT / "docker-compose.yml")


@pytest.fixture(scope="module")
def compose(compose_raw) -> dict:
    return interpolate(compose_raw, COMPOSE_ENV)


@pytest.fixture(scope="module")
def compose_validator():
    schema = json.loads((SCHEMAS / "compose-spec.json").read_text())
    jsonschema.Draft201909Validator.check_schema(schema)
    return jsonschema.Draft201909Validator(schema)


def env_of(service: dict) -> dict:
    env = service.get("environment") or {}
    return dict(item.split("=", 1) for item in env) if isinstance(env, list) else env


def test_compose_file_follows_the_compose_specification(compose, compose_validator):
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in compose_validator.iter_errors(compose)]
    assert not errors


@pytest.mark.parametrize("break_it", [
    lambda c: c["services"]["gateway"].__setitem__("comand", "nameko run gateway.http"),
    lambda c: c["services"]["notifications-worker"]["deploy"].__setitem__("replica", 2),
    lambda c: c["services"]["gateway"]["depends_on"]["postgres"].__setitem__("condition", "service_ready"),
    lambda c: c["services"]["rabbitmq"].__setitem__("ports", "15672:15672"),
    lambda c: c.__setitem__("secret", {}),
])
def test_a_broken_compose_file_is_refused(compose, compose_validator, break_it):
    broken = copy.deepcopy(compose)
    break_it(broken)
    assert list(compose_validator.iter_errors(broken))


def test_compose_refuses_to_start_without_each_secret(compose_raw):
    required = set(re.findall(r"\$\{(\w+):\?", (PROJECT_ROOT / "docker-compose.yml").read_text()))
    assert required == REQUIRED_ENV
    documented = (DEPLOY / "README.md").read_text()
    for name in REQUIRED_ENV:
        assert name in documented, f"{name} is required but deploy/README.md does not say how to set it"
        with pytest.raises(MissingVariable, match=name):
            interpolate(compose_raw, {k: v for k, v in COMPOSE_ENV.items() if k != name})
        with pytest.raises(MissingVariable, match=name):
            interpolate(compose_raw, COMPOSE_ENV | {name: ""})


def test_compose_writes_no_secret(compose_raw):
    for name, service in compose_raw["services"].items():
        for key, value in env_of(service).items():
            value = str(value)
            if key.endswith(("_FILE", "_DIR")):
                assert value.startswith("/run/"), f"{name}.{key} should be a mounted path: {value}"
            elif SECRETISH.search(key):
                assert re.fullmatch(r"\$\{\w+:\?[^}]*\}", value), f"{name}.{key} is not taken from the environment"
            for password in URL_PASSWORD.findall(value):
                assert re.fullmatch(r"\$\{\w+:\?[^}]*\}", password), f"{name}.{key} has a password in it"
    for secret in compose_raw.get("secrets", {}).values():
        assert secret["file"].startswith("./deploy/keys/"), "secret files live in the git-ignored deploy/keys/"
    assert "keys/" in (DEPLOY / ".gitignore").read_text().split()


def test_every_compose_service_runs_the_launchers_command(compose):
    apps = {name for name, s in compose["services"].items() if s.get("image") == "exemplars:local" or "build" in s}
    assert apps == set(APP_SERVICES)
    for name, launcher_name in APP_SERVICES.items():
        command = compose["services"][name]["command"]
        command = shlex.split(command) if isinstance(command, str) else command
        assert command == launcher_command(launcher_name), name


def test_compose_runs_two_departments_four_councils_notifications_workers_and_gateway(compose):
    services = compose["services"]
    assert "management" in services["rabbitmq"]["image"]
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["notifications-worker"]["deploy"]["replicas"] == 2
    departments = [env_of(services[name]) for name in DEPARTMENTS]
    for key in ("NOMINATIONS_INSTANCE_ID", "NOMINATIONS_DEPARTMENT", "NOMINATIONS_DATABASE_URL"):
        assert len({env[key] for env in departments}) == 2, f"two departments share {key}"
    gateway = env_of(services["gateway"])
    check_councils({name: env_of(services[name]) for name in COUNCILS}, gateway["EXEMPLARS_COUNCILS"])
    for name in APP_SERVICES:
        assert not REMOVED_SETTINGS & set(env_of(services[name])), name
    assert gateway["NOMINATIONS_INSTANCE_ID"] in {env["NOMINATIONS_INSTANCE_ID"] for env in departments}


def test_each_compose_instance_has_its_own_database_and_it_is_created(compose):
    urls = {}
    for name in APP_SERVICES:
        env = env_of(compose["services"][name])
        variable = launcher.database_variable(APP_SERVICES[name])
        if name not in NO_DATABASE_OF_ITS_OWN:
            urls[name] = database_of(env[variable])
    assert urls["notifications-worker"] == urls["notifications"]  # workers share the ledger
    del urls["notifications-worker"]
    assert len(set(urls.values())) == len(urls), f"two instances share a database: {urls}"
    assert set(urls.values()) <= created_databases()


def test_each_compose_instance_signs_with_its_own_mounted_key(compose):
    declared = compose["secrets"]
    instances = set()
    for name in SIGNING:
        service = compose["services"][name]
        env = env_of(service)
        instance = instance_of(name, env)
        instances.add(instance)
        mounted = {f"/run/secrets/{s['target']}": s["source"] for s in service["secrets"]}
        assert env["SIGNING_KEY_FILE"] in mounted, f"{name}: SIGNING_KEY_FILE is not a mounted secret"
        assert declared[mounted[env["SIGNING_KEY_FILE"]]]["file"] == f"./deploy/keys/private/{instance}.key"
    for name in APP_SERVICES:
        service = compose["services"][name]
        trusted = env_of(service)["TRUSTED_KEYS_DIR"]
        assert f"./deploy/keys/trusted:{trusted}:ro" in service["volumes"], name
        if name not in SIGNING:
            assert "SIGNING_KEY_FILE" not in env_of(service)
    assert instances == default_key_instances()


def test_the_compose_audit_service_reads_every_instance_as_the_auditors_role(compose, compose_raw):
    services = {name: env_of(compose["services"][name]) for name in APP_SERVICES}
    auditing = compose["services"]["audit"]
    check_audit_sources(env_of(auditing)["AUDIT_SOURCES"], services,
                        env_of(compose["services"]["postgres"])["POSTGRES_USER"])
    raw = env_of(compose_raw["services"]["audit"])
    passwords = URL_PASSWORD.findall(raw["AUDIT_SOURCES"].replace(f"${{{AUDITOR_PASSWORD}:?set {AUDITOR_PASSWORD}}}",
                                                                  "$AUDITOR"))
    assert passwords == ["$AUDITOR"] * len(LOGS), "each URL takes the auditors' password from the environment"
    for name in ("audit", "gateway"):
        raw = env_of(compose_raw["services"][name])
        assert not any("POSTGRES_PASSWORD" in str(v) for v in raw.values()), f"{name} holds the services' password"
        # public keys, read-only; of the private keys the audit service holds none, the gateway only its
        # own (it signs the caller of each command, shared/callers.py)
        service = compose["services"][name]
        assert service["volumes"] == [f"./deploy/keys/trusted:{env_of(service)['TRUSTED_KEYS_DIR']}:ro"]
        private = [compose["secrets"][s["source"]]["file"] for s in service.get("secrets", [])
                   if "/private/" in compose["secrets"][s["source"]]["file"]]
        assert private == (["./deploy/keys/private/gateway.key"] if name == "gateway" else [])
    # the gateway serves HTTP: no database of any kind, not even the auditors' view
    gateway = env_of(compose["services"]["gateway"])
    assert not {"AUDIT_SOURCES", AUDITOR_PASSWORD} & set(gateway)
    assert not any("postgresql://" in str(v) or "sqlite://" in str(v) for v in gateway.values())
    postgres = compose["services"]["postgres"]
    assert AUDITOR_PASSWORD in env_of(postgres)
    init = sorted(v.split(":")[1] for v in postgres["volumes"] if "/docker-entrypoint-initdb.d/" in v)
    assert init == ["/docker-entrypoint-initdb.d/10-databases.sql", "/docker-entrypoint-initdb.d/20-auditor.sh"]
    assert "./deploy/postgres-auditor.sh:/docker-entrypoint-initdb.d/20-auditor.sh:ro" in postgres["volumes"]
    assert os.access(AUDITOR_SCRIPT, os.X_OK), "the image executes it (sourced, it would run inside its entrypoint)"


# --- the auditors' role --------------------------------------------------------------------

OBJECT_PRIVILEGES = {"DATABASE": {"CONNECT"}, "SCHEMA": {"USAGE"}, "ALL TABLES IN SCHEMA": {"SELECT"},
                     "TABLES": {"SELECT"}}
REQUIRED_GRANTS = {
    'GRANT CONNECT ON DATABASE :"db" TO :"role"',
    'GRANT USAGE ON SCHEMA public TO :"role"',
    'GRANT SELECT ON ALL TABLES IN SCHEMA public TO :"role"',
    'ALTER DEFAULT PRIVILEGES FOR ROLE :"services" IN SCHEMA public GRANT SELECT ON TABLES TO :"role"',
}
ROLE_ATTRIBUTES_REFUSED = ("SUPERUSER", "CREATEDB", "CREATEROLE", "REPLICATION", "BYPASSRLS")


def sql_statements(script: str) -> list[str]:
    """The SQL the script hands psql (its <<'SQL' here-documents), one statement each, psql's
    backslash commands left out, whitespace collapsed."""
    statements, lines, i = [], script.splitlines(), 0
    while i < len(lines):
        if "<<'SQL'" not in lines[i]:
            i += 1
            continue
        while lines[i].endswith("\\"):  # the command goes on; the document starts after it
            i += 1
        i += 1
        body = []
        while lines[i] != "SQL":
            line = lines[i].split("--")[0]  # no SQL comment; nor a string with "--" in it
            # a backslash command ends the statement before it, as does \gset, which runs the query
            body.append(line.split("\\gset")[0] + ";" if "\\gset" in line else ";" if line.lstrip().startswith("\\")
                        else line)
            i += 1
        statements += [" ".join(s.split()) for s in " ".join(body).split(";") if s.strip()]
    return statements


def auditor_grant_problems(script: str) -> list[str]:
    """What in the script gives the auditors' role more than reading (empty: nothing)."""
    problems, statements = [], sql_statements(script)
    for statement in statements:
        upper = statement.upper()
        if upper.startswith(("GRANT ", "ALTER DEFAULT PRIVILEGES ")):
            grant = re.fullmatch(r'(?:ALTER DEFAULT PRIVILEGES FOR ROLE :"SERVICES" IN SCHEMA PUBLIC )?'
                                 r"GRANT (.+?) ON (DATABASE|SCHEMA|ALL TABLES IN SCHEMA|TABLES)\b.*? TO (\S+)"
                                 r"(?: WITH GRANT OPTION)?", upper)
            if not grant:
                problems.append(f"not a grant on an object (a role membership?): {statement}")
                continue
            privileges = {p.strip() for p in grant[1].split(",")}
            if not privileges <= OBJECT_PRIVILEGES[grant[2]]:
                problems.append(f"grants {privileges - OBJECT_PRIVILEGES[grant[2]]} on {grant[2]}: {statement}")
            if grant[3] != ':"ROLE"' or "GRANT OPTION" in upper:
                problems.append(f"grants to someone else, or lets them grant on: {statement}")
        elif upper.startswith("REVOKE "):
            if not upper.endswith(" FROM PUBLIC"):
                problems.append(f"a revoke other than PUBLIC's defaults: {statement}")
        elif upper.startswith("ALTER ROLE "):
            words = set(upper.split())
            if not upper.startswith('ALTER ROLE :"ROLE" '):
                problems.append(f"alters another role: {statement}")
            elif " SET " in upper:
                if upper != 'ALTER ROLE :"ROLE" SET DEFAULT_TRANSACTION_READ_ONLY = ON':
                    problems.append(f"sets something other than read-only transactions: {statement}")
            elif words & set(ROLE_ATTRIBUTES_REFUSED) or not {f"NO{a}" for a in ROLE_ATTRIBUTES_REFUSED} <= words:
                problems.append(f"the role must be NO{', NO'.join(ROLE_ATTRIBUTES_REFUSED)}: {statement}")
        elif statement not in ('CREATE ROLE :"role"', "SELECT NOT EXISTS (SELECT FROM pg_roles WHERE rolname = "
                                                        ":'role') AS auditor_role_missing"):
            problems.append(f"neither a grant nor the role itself: {statement}")
    missing = REQUIRED_GRANTS - set(statements)
    problems += [f"missing: {grant}" for grant in sorted(missing)]
    return problems


def test_the_auditors_role_is_granted_reading_and_nothing_else():
    script = AUDITOR_SCRIPT.read_text()
    assert auditor_grant_problems(script) == []
    # the password reaches psql through its environment (\getenv), never as an argument
    assert "\\getenv auditor_password AUDITOR_DB_PASSWORD" in script
    assert not re.search(r"-v\s*\w*pass", script, re.IGNORECASE)
    assert auditor_script_databases() == created_databases() - NOT_AUDITED


@pytest.mark.parametrize("old, new", [
    ("GRANT SELECT ON ALL TABLES", "GRANT SELECT, INSERT ON ALL TABLES"),
    ("GRANT SELECT ON ALL TABLES", "GRANT ALL ON ALL TABLES"),
    ("GRANT SELECT ON TABLES", "GRANT SELECT, UPDATE, DELETE ON TABLES"),
    ("GRANT USAGE ON SCHEMA public", "GRANT USAGE, CREATE ON SCHEMA public"),
    ("GRANT CONNECT ON DATABASE", "GRANT CONNECT, TEMPORARY ON DATABASE"),
    ('GRANT USAGE ON SCHEMA public TO :"role";', 'GRANT USAGE ON SCHEMA public TO :"role" WITH GRANT OPTION;'),
    ('GRANT SELECT ON ALL TABLES IN SCHEMA public TO :"role";', "GRANT SELECT ON ALL TABLES IN SCHEMA public TO PUBLIC;"),
    ('GRANT USAGE ON SCHEMA public TO :"role";', 'GRANT USAGE ON SCHEMA public TO :"role";\nGRANT :"services" TO :"role";'),
    ("NOSUPERUSER NOCREATEDB", "SUPERUSER NOCREATEDB"),
    ('CREATE ROLE :"role";', 'CREATE ROLE :"role" SUPERUSER;'),
    ("NOREPLICATION ", ""),
    ("SET default_transaction_read_only = on", "SET default_transaction_read_only = off"),
    ("REVOKE TEMPORARY ON DATABASE :\"db\" FROM PUBLIC;", "DELETE FROM audit_checkpoints;"),
    ("ALTER DEFAULT PRIVILEGES FOR ROLE", "-- ALTER DEFAULT PRIVILEGES FOR ROLE"),  # later tables unreadable
])
def test_a_script_granting_more_or_less_is_refused(old, new):
    script = AUDITOR_SCRIPT.read_text()
    assert old in script
    assert auditor_grant_problems(script.replace(old, new, 1))


# --- the services read what the deployments set ------------------------------------------

@pytest.mark.parametrize("service", ["nominations", "awards", "notifications", "gateway"])
def test_each_signing_service_reads_its_key_file_from_the_environment(service, monkeypatch):
    """A deployment sets SIGNING_KEY_FILE; a config.yml that dropped it would make the
    instance create a throw-away key in the (read-only) trusted keys folder instead."""
    monkeypatch.setenv("SIGNING_KEY_FILE", "/run/secrets/signing.key")
    config = yaml.load((PROJECT_ROOT / "services" / service / "config.yml").read_text(),  # noqa: S506
                       Loader=NamekoConfigLoader)
    assert config.get("SIGNING_KEY_FILE") == "/run/secrets/signing.key"


# --- keys -------------------------------------------------------------------------------

def default_key_instances() -> set[str]:
    script = (DEPLOY / "make-keys.sh").read_text()
    return set(re.search(r'^DEFAULT_INSTANCES="([^"]*)"', script, re.M).group(1).split())


def test_make_keys_makes_keys_the_services_load_and_keeps_them(tmp_path):
    env = os.environ | {"KEYS_DIR": str(tmp_path)}
    subprocess.run(["sh", str(DEPLOY / "make-keys.sh")], env=env, check=True, capture_output=True, timeout=60)
    trusted = TrustedKeys(tmp_path / "trusted")
    first = {}
    for instance in default_key_instances():
        key_file = tmp_path / "private" / f"{instance}.key"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        signer = load_signer(instance, key_file)
        assert trusted.verify(instance, b"checkpoint", signer.sign(b"checkpoint"))
        assert not trusted.verify(instance, b"checkpoint!", signer.sign(b"checkpoint"))
        first[instance] = key_file.read_bytes()
    # what each key speaks for (shared.trust), as the services' own settings name it
    claims = {i: trusted.claims_of(i) for i in default_key_instances()}
    assert claims["nominations-lien-doan-lao-dong-yen-the"].department == "lien-doan-lao-dong-yen-the"
    assert (claims["awards_xa_yen_the"].service, claims["awards_xa_yen_the"].council) == ("awards", "xa-yen-the")
    assert claims["notifications"].service == "notifications"
    secret = (tmp_path / "gateway-token.secret").read_text().strip()
    assert re.fullmatch(r"[0-9a-f]{64}", secret)

    subprocess.run(["sh", str(DEPLOY / "make-keys.sh")], env=env, check=True, capture_output=True, timeout=60)
    assert {i: (tmp_path / "private" / f"{i}.key").read_bytes() for i in first} == first
    assert (tmp_path / "gateway-token.secret").read_text().strip() == secret


# --- Kubernetes ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def manifests() -> list[dict]:
    docs = []
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        docs += load_all_yaml(path)
    return docs


def named(manifests, kind: str) -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for doc in manifests if doc["kind"] == kind}


def structural(schema):
    """A CRD's openAPIV3Schema as JSON Schema with the API server's rule for unknown fields:
    an object that lists its properties accepts no others unless it preserves unknown fields
    (what `kubectl apply` does with server-side strict field validation)."""
    if isinstance(schema, list):
        return [structural(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result = {key: structural(value) for key, value in schema.items()}
    if "properties" in schema and "additionalProperties" not in schema \
            and not schema.get("x-kubernetes-preserve-unknown-fields"):
        result["additionalProperties"] = False
    if schema.get("nullable") and "type" in schema:
        result["type"] = [schema["type"], "null"]
    return result


def crd_schema(path: Path, version: str) -> dict:
    docs = load_all_yaml(path)
    if docs[0].get("kind") == "CustomResourceDefinition":
        (served,) = [v for v in docs[0]["spec"]["versions"] if v["name"] == version]
        return served["schema"]["openAPIV3Schema"]
    return docs[0]  # already the openAPIV3Schema


CRD_VALIDATORS = {
    ("rabbitmq.com/v1beta1", "RabbitmqCluster"): SCHEMAS / "rabbitmq.com_rabbitmqclusters.v1beta1.openapi.yaml",
    ("keda.sh/v1alpha1", "ScaledObject"): SCHEMAS / "keda.sh_scaledobjects.yaml",
}


def validate_custom(doc: dict) -> None:
    path = CRD_VALIDATORS[(doc["apiVersion"], doc["kind"])]
    jsonschema.Draft7Validator(structural(crd_schema(path, doc["apiVersion"].split("/")[1]))).validate(doc)
    assert doc["metadata"].get("name") and doc["metadata"].get("namespace") == "exemplars"


def validate_manifest(doc: dict) -> None:
    if (doc["apiVersion"], doc["kind"]) in CRD_VALIDATORS:
        validate_custom(doc)
        return
    for version in K8S_VERSIONS:
        kubernetes_validate.validate(doc, version, strict=True)


def test_every_manifest_follows_its_schema(manifests):
    kinds = {doc["kind"] for doc in manifests}
    assert {"Deployment", "StatefulSet", "Service", "ConfigMap", "RabbitmqCluster", "ScaledObject"} <= kinds
    for doc in manifests:
        try:
            validate_manifest(doc)
        except (kubernetes_validate.ValidationError, jsonschema.ValidationError) as error:
            pytest.fail(f"{doc['kind']} {doc['metadata']['name']}: {error}")


def _container(doc):
    return doc["spec"]["template"]["spec"]["containers"][0]


@pytest.mark.parametrize("kind, name, break_it", [
    ("Deployment", "gateway", lambda d: _container(d).__setitem__("comand", ["nameko"])),
    ("Deployment", "notifications-worker", lambda d: d["spec"].__setitem__("replicas", "two")),
    ("Deployment", "awards-huyen-yen-the", lambda d: _container(d)["env"][0]["valueFrom"].__setitem__("secretRef", {})),
    ("StatefulSet", "exemplars-postgres", lambda d: d["spec"].pop("selector")),
    ("RabbitmqCluster", "exemplars-rabbitmq", lambda d: d["spec"].__setitem__("replicas", "three")),
    ("RabbitmqCluster", "exemplars-rabbitmq", lambda d: d["spec"]["rabbitmq"].__setitem__("additionalConfg", "")),
    ("RabbitmqCluster", "exemplars-rabbitmq", lambda d: d["spec"]["service"].__setitem__("type", "Ingress")
     if "service" in d["spec"] else d["spec"].__setitem__("service", {"type": "Ingress"})),
    ("ScaledObject", "notifications-worker", lambda d: d["spec"].pop("triggers")),
    ("ScaledObject", "notifications-worker",
     lambda d: d["spec"]["triggers"][0].__setitem__("metadata", {"value": 1000})),  # strings only
    ("ScaledObject", "notifications-worker", lambda d: d["spec"].__setitem__("minReplicas", 2)),
])
def test_a_broken_manifest_is_refused(manifests, kind, name, break_it):
    broken = copy.deepcopy(named(manifests, kind)[name])
    break_it(broken)
    with pytest.raises((kubernetes_validate.ValidationError, jsonschema.ValidationError)):
        validate_manifest(broken)


def test_every_deployment_runs_the_launchers_command(manifests):
    deployments = named(manifests, "Deployment")
    assert set(deployments) == set(APP_SERVICES)
    for name, launcher_name in APP_SERVICES.items():
        (container,) = deployments[name]["spec"]["template"]["spec"]["containers"]
        assert container["command"] == launcher_command(launcher_name), name
        assert "args" not in container, name


def k8s_env(doc: dict) -> dict:
    """A container's environment with each value, or where it comes from."""
    env = {}
    for item in _container(doc)["env"]:
        env[item["name"]] = item.get("value", item.get("valueFrom"))
    return env


def test_kubernetes_runs_two_departments_four_councils_notifications_workers_and_gateway(manifests):
    deployments = named(manifests, "Deployment")
    departments = [k8s_env(deployments[name]) for name in DEPARTMENTS]
    for key in ("NOMINATIONS_INSTANCE_ID", "NOMINATIONS_DEPARTMENT", "NOMINATIONS_DATABASE_URL"):
        assert len({env[key] for env in departments}) == 2, f"two departments share {key}"
    config = named(manifests, "ConfigMap")["exemplars-config"]["data"]
    check_councils({name: k8s_env(deployments[name]) for name in COUNCILS}, config["EXEMPLARS_COUNCILS"])
    for name in APP_SERVICES:
        assert not REMOVED_SETTINGS & set(k8s_env(deployments[name])), name
    assert not REMOVED_SETTINGS & set(config), "exemplars-config sets a removed setting"

    (scaler,) = named(manifests, "ScaledObject").values()
    assert scaler["spec"]["scaleTargetRef"]["name"] == "notifications-worker"
    assert scaler["spec"]["minReplicaCount"] >= 2 <= scaler["spec"]["maxReplicaCount"]
    (trigger,) = scaler["spec"]["triggers"]
    assert trigger["type"] == "rabbitmq" and trigger["metadata"]["queueName"] == DELIVERY_QUEUE
    assert trigger["metadata"]["hostFromEnv"] in k8s_env(deployments["notifications-worker"])
    assert "replicas" not in deployments["notifications-worker"]["spec"], "the autoscaler owns the count"

    (rabbit,) = named(manifests, "RabbitmqCluster").values()
    assert rabbit["spec"]["replicas"] == 3
    assert "default_queue_type = quorum" in rabbit["spec"]["rabbitmq"]["additionalConfig"].splitlines()
    assert not {"affinity", "override"} & set(rabbit["spec"]), "elided from the vendored CRD schema"


def test_each_kubernetes_instance_has_its_own_database_and_it_is_created(manifests):
    init = named(manifests, "ConfigMap")["exemplars-postgres-init"]["data"]["10-databases.sql"]
    assert init == (DEPLOY / "postgres-init.sql").read_text(), "deploy/postgres-init.sql and postgres.yaml differ"
    deployments = named(manifests, "Deployment")
    urls = {name: database_of(k8s_env(deployments[name])[launcher.database_variable(APP_SERVICES[name])])
            for name in APP_SERVICES if name not in NO_DATABASE_OF_ITS_OWN}
    assert urls.pop("notifications-worker") == urls["notifications"]
    assert len(set(urls.values())) == len(urls), f"two instances share a database: {urls}"
    assert set(urls.values()) <= created_databases()


def test_kubernetes_writes_no_secret(manifests):
    assert "Secret" not in {doc["kind"] for doc in manifests}, "secrets are made by hand (deploy/README.md)"
    for doc in manifests:
        if doc["kind"] not in ("Deployment", "StatefulSet"):
            continue
        defined = set()
        for item in _container(doc)["env"]:
            name, value = item["name"], item.get("value")
            if name.endswith(("_FILE", "_DIR")):
                assert value.startswith("/run/"), f"{name} should be a mounted path"
            elif SECRETISH.search(name) or name == "AMQP_URI":
                assert "secretKeyRef" in item.get("valueFrom", {}), f"{doc['metadata']['name']}.{name}"
            for password in URL_PASSWORD.findall(value or ""):
                # $(VAR) is expanded by Kubernetes only from a variable defined above it
                variable = re.fullmatch(r"\$\((\w+)\)", password)
                assert variable and variable[1] in defined, f"{doc['metadata']['name']}.{name} has a password"
            defined.add(name)


def test_each_kubernetes_instance_signs_with_its_own_mounted_key(manifests):
    deployments = named(manifests, "Deployment")
    config = named(manifests, "ConfigMap")["exemplars-config"]["data"]
    secrets_used, instances = set(), set()
    for name in APP_SERVICES:
        doc = deployments[name]
        pod = doc["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        mounts = {m["mountPath"]: m for m in _container(doc)["volumeMounts"]}
        assert _container(doc)["envFrom"] == [{"configMapRef": {"name": "exemplars-config"}}]
        trusted = mounts[config["TRUSTED_KEYS_DIR"]]
        assert trusted["readOnly"] and volumes[trusted["name"]]["configMap"]["name"] == "exemplars-trusted-keys"
        for volume in volumes.values():
            if "secret" in volume:
                secrets_used.add(volume["secret"]["secretName"])
        env = k8s_env(doc)
        if name not in SIGNING:
            assert "SIGNING_KEY_FILE" not in env
            continue
        instance = instance_of(name, env)
        instances.add(instance)
        folder, file = env["SIGNING_KEY_FILE"].rsplit("/", 1)
        mount = mounts[folder]
        secret = volumes[mount["name"]]["secret"]
        assert mount["readOnly"] and secret["items"] == [{"key": file, "path": file}]
        assert secret["secretName"] == "exemplars-key-" + instance.replace("_", "-")
        assert stat.S_IMODE(secret["defaultMode"]) == 0o400
    assert instances == default_key_instances()
    for doc in manifests:
        for container in doc.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
            for item in container.get("env", []):
                if "secretKeyRef" in item.get("valueFrom", {}):
                    secrets_used.add(item["valueFrom"]["secretKeyRef"]["name"])
    documented = (DEPLOY / "README.md").read_text()
    for name in secrets_used | {"exemplars-trusted-keys"}:
        name = "exemplars-key-<instance>" if name.startswith("exemplars-key-") else name
        assert name in documented, f"deploy/README.md does not say how to create {name}"


def test_the_kubernetes_audit_service_reads_every_instance_as_the_auditors_role(manifests):
    deployments = named(manifests, "Deployment")
    services = {name: k8s_env(deployments[name]) for name in APP_SERVICES}
    auditing = services["audit"]
    postgres = named(manifests, "StatefulSet")["exemplars-postgres"]
    check_audit_sources(auditing["AUDIT_SOURCES"], services, k8s_env(postgres)["POSTGRES_USER"])
    auditor_secret = {"secretKeyRef": {"name": "exemplars-postgres-auditor", "key": "password"}}
    assert auditing[AUDITOR_PASSWORD] == auditor_secret
    assert set(URL_PASSWORD.findall(auditing["AUDIT_SOURCES"])) == {f"$({AUDITOR_PASSWORD})"}
    for name in ("audit", "gateway"):
        refs = [v["secretKeyRef"]["name"] for v in services[name].values()
                if isinstance(v, dict) and "secretKeyRef" in v]
        assert "exemplars-postgres" not in refs, f"{name} must not hold the services' password"
        pod = deployments[name]["spec"]["template"]["spec"]
        keys = [v["secret"]["secretName"] for v in pod["volumes"]
                if v.get("secret", {}).get("secretName", "").startswith("exemplars-key-")]
        assert keys == (["exemplars-key-gateway"] if name == "gateway" else []), f"{name}: its own key, no service's"
    gateway = services["gateway"]
    assert not {"AUDIT_SOURCES", AUDITOR_PASSWORD} & set(gateway), "the gateway holds no database setting"
    assert not any("postgresql://" in str(v) for v in gateway.values())

    assert k8s_env(postgres)[AUDITOR_PASSWORD] == auditor_secret
    init = named(manifests, "ConfigMap")["exemplars-postgres-init"]["data"]
    assert sorted(init) == ["10-databases.sql", "20-auditor.sh"]
    assert init["20-auditor.sh"] == AUDITOR_SCRIPT.read_text(), "deploy/postgres-auditor.sh and postgres.yaml differ"
    (volume,) = [v for v in postgres["spec"]["template"]["spec"]["volumes"] if v["name"] == "init"]
    assert volume["configMap"]["defaultMode"] & 0o111 == 0o111, "the image executes it rather than source it"
