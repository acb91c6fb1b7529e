"""nameko entrypoints of the audit service: the gateway's ``/audit/*`` routes, answered here.

A process of its own so that a long verify or replay (a million events take minutes) never
holds the gateway: the gateway only waits on the reply. Each entrypoint reads the logs named
in AUDIT_SOURCES (read-only credentials) a page at a time, yielding to the other requests
between pages, and returns JSON-able data, or the rendered document (HTML, CSV) asked for.
"""

from __future__ import annotations

import eventlet
from nameko.extensions import DependencyProvider

from audit import toolkit
from audit.annual_report import annual_report, report_csv, report_html
from shared.catalog import load_catalog
from shared.errors import DomainError
from shared.observability import Observability
from shared.rpc import rpc
from shared.signing import TrustedKeys


class Settings(DependencyProvider):
    """The logs, the trusted public keys and the catalogs, read once at start: a malformed
    AUDIT_SOURCES stops the service instead of failing every audit."""

    def setup(self):
        config = self.container.config
        self.sources = toolkit.default_sources({"AUDIT_SOURCES": config.get("AUDIT_SOURCES") or ""})
        self.trusted = TrustedKeys(config.get("TRUSTED_KEYS_DIR") or None)
        self.catalog = load_catalog(config.get("CATALOG_DIR") or None)
        # psycopg2 does not yield to eventlet: between pages is where other requests get a turn.
        toolkit.between_pages = lambda: eventlet.sleep(0)

    def get_dependency(self, worker_ctx):
        return self


def used(command: str, caller: dict | None, **details) -> None:
    """Auditors' own use is logged, under the name their token carries."""
    toolkit.record_use(command, user=(caller or {}).get("sub"), via="http", **details)


def jsonable(row: dict) -> dict:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}


class AuditService:
    name = "audit"
    settings = Settings()
    observability = Observability()  # /metrics, the call's request id in its log lines

    @rpc
    def ready(self):
        return {"status": "ready", "logs": len(self.settings.sources)}

    @rpc(expected_exceptions=DomainError)
    def timeline(self, exemplar_id, fmt="json", caller=None):
        """The entries, or with ``fmt="html"`` the page an auditor can keep."""
        used("timeline", caller, exemplar_id=exemplar_id, format=fmt)
        entries = toolkit.timeline(self.settings.sources, exemplar_id)
        return toolkit.timeline_html(exemplar_id, entries) if fmt == "html" else entries

    @rpc(expected_exceptions=DomainError)
    def as_of(self, aggregate_id, at=None, caller=None):
        used("as-of", caller, aggregate_id=aggregate_id, at=at)
        return toolkit.as_of(self.settings.sources, aggregate_id, toolkit.Cutoff.parse(at))

    @rpc(expected_exceptions=DomainError)
    def register(self, at=None, caller=None):
        used("as-of", caller, aggregate_id="register", at=at)
        cutoff = toolkit.Cutoff.parse(at)
        return [jsonable(row) for row in toolkit.register_as_of(self.settings.sources, cutoff)]

    @rpc(expected_exceptions=DomainError)
    def verify(self, caller=None):
        used("verify", caller)
        return [toolkit.verify_source(source, self.settings.trusted).to_json() for source in self.settings.sources]

    @rpc(expected_exceptions=DomainError)
    def annual_report(self, year, at=None, fmt="json", caller=None):
        """The report as data, or with ``fmt`` "csv" or "html" the document itself."""
        used("report", caller, year=year, at=at, format=fmt)
        report = annual_report(self.settings.sources, int(year), toolkit.Cutoff.parse(at), self.settings.catalog)
        if fmt == "csv":
            return report_csv(report)
        if fmt == "html":
            return report_html(report)
        return report
