"""The rooms: no service imports another service's package (nor the dev/ tools); what they share is in shared/.

Walks every module of every service (and shared/) with the standard library's parser and
fails on an import of another service's package, wherever it stands (top level, inside a
function, ``import x`` or ``from x import y``). Services talk over RabbitMQ only, through
the contracts in shared.contracts.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVICES = {path.name: path / path.name for path in (ROOT / "services").iterdir() if (path / path.name).is_dir()}
# The sanctioned crossings, each a module named precisely:
# - the auditors' toolkit replays each service's log through that service's own read-model code
#   (nominations.projections, awards.projections, awards.domainmodel.Award, notifications'
#   SubscriptionsProjection and delivery ledger), so a replayed table is the live one's by
#   construction, never a copy that drifts. Read-only, and only the audit service does it.
NOT_YET_MOVED = {("audit", "audit/toolkit.py")}
# The CLI (cli/, a package of its own) is a client of the HTTP API: it may import, besides shared/,
# only the auditors' commands it mounts as `exemplars audit` (audit.cli, offline by design), the
# gateway's definition of a token to mint development tokens (gateway.access), and dev.launcher
# for the logs of `make run` when the auditors name none. No RPC, no broker, no service's domain.
CLI_ALLOWED = {"audit.cli", "gateway.access", "dev.launcher"}
CLI_FORBIDDEN = {"nameko", "kombu", "eventlet", "sqlalchemy", "psycopg2", "eventsourcing"}


def imported_packages(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def crossings() -> list[str]:
    found = []
    for owner, package in SERVICES.items():
        for path in sorted(package.rglob("*.py")):
            where = f"{owner}/{path.relative_to(package.parent).as_posix().split('/', 1)[1]}"
            for other in imported_packages(path) & (set(SERVICES) - {owner} | {"dev"}):
                if (owner, where) not in NOT_YET_MOVED:
                    found.append(f"{where} imports {other}")
    for path in sorted((ROOT / "shared").rglob("*.py")):
        for other in imported_packages(path) & set(SERVICES):
            found.append(f"shared/{path.relative_to(ROOT / 'shared').as_posix()} imports {other}")
    return found


def test_the_walk_sees_every_service():
    assert {"nominations", "awards", "notifications", "gateway", "audit"} <= set(SERVICES)
    assert "shared" in imported_packages(SERVICES["nominations"] / "application.py")


def test_no_service_imports_another_and_shared_imports_no_service():
    assert crossings() == []


DATABASE_MODULES = {"sqlalchemy", "psycopg2", "eventsourcing", "shared.recorders", "shared.follower", "shared.sealer"}


def test_the_gateway_serves_http_and_opens_no_database():
    """Auditors' reading is the audit service's: the gateway only waits on its replies."""
    found = []
    for path in sorted(SERVICES["gateway"].rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
            found += [f"{path.name} imports {name}" for name in names
                      if any(name == m or name.startswith(m + ".") for m in DATABASE_MODULES)]
            if isinstance(node, ast.Name) and node.id in ("create_engine", "open_log", "default_database_url"):
                found.append(f"{path.name} uses {node.id}")
    assert found == []
    assert "AUDIT_SOURCES" not in (SERVICES["gateway"] / "http.py").read_text()


def imported_modules(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found |= {f"{node.module}.{alias.name}" if node.module in SERVICES or node.module == "dev" else node.module
                      for alias in node.names}
    return found


def test_the_cli_is_a_client_of_the_http_api_and_imports_no_service():
    found = []
    for path in sorted((ROOT / "cli").rglob("*.py")):
        for module in imported_modules(path):
            top = module.split(".")[0]
            if (top in SERVICES or top == "dev") and module not in CLI_ALLOWED:
                found.append(f"cli/{path.name} imports {module}")
            if top in CLI_FORBIDDEN:
                found.append(f"cli/{path.name} imports {module}")
    assert found == []
    assert imported_modules(ROOT / "cli" / "commands.py") & CLI_ALLOWED == CLI_ALLOWED  # the walk sees them
