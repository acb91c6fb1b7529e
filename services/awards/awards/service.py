"""nameko entrypoints of one council's awards service: translate, call, translate back.

The service name comes from the council's jurisdiction (AWARDS_JURISDICTION), so each
council has its own RPC and event queues and scaled copies of one council share them.
The broker routes to those queues only what this council acts on: cases addressed to
its level and jurisdiction, and the holds and awards every council's eligibility needs.
Copies answer RPC side by side; one at a time takes the event queues (in order: a hold
released before it was put, or a revocation before its grant, would count wrong).
"""

import os

from awards.bootstrap import DEFAULT_JURISDICTION, build, configured_jurisdiction
from shared.catalog import load_catalog
from shared.council_queues import routing_keys, service_name
from shared.errors import DomainError
from shared.nameko_support import CallerCheck, RuntimeProvider
from shared.observability import Observability
from shared.reliable_events import reliable_event_handler
from shared.rpc import rpc
from shared.wire import WireEvent


def routes(source: str):
    """The routing keys of this council's queue for ``source`` (shared.council_queues, which
    every relay uses to declare the same queue before this council has ever started)."""
    def keys(config: dict) -> list[str]:
        council = load_catalog(config.get("CATALOG_DIR") or None).topology.council(configured_jurisdiction(config))
        return routing_keys(source, council.level, council.code)
    return keys


class AwardsService:
    name = service_name(os.environ.get("AWARDS_JURISDICTION", DEFAULT_JURISDICTION))
    runtime = RuntimeProvider(build)
    observability = Observability()  # /metrics, the call's request id in its log lines
    callers = CallerCheck("awards")  # commands take only a gateway-signed caller (shared.callers)

    @reliable_event_handler("nominations", "council", routes=routes("nominations"), ordered=True)
    def on_nominations_event(self, event: WireEvent):
        self.runtime.app.receive(event)

    @reliable_event_handler("awards", "council", routes=routes("awards"), ordered=True)
    def on_awards_event(self, event: WireEvent):
        self.runtime.app.receive(event)

    @rpc(expected_exceptions=DomainError)
    def cases(self, status=None, limit=None, offset=None):
        """A page of this council's cases: ``{"total": N, "items": [...]}``."""
        return self.runtime.cases.list(status, limit, offset)

    @rpc(expected_exceptions=DomainError)
    def case(self, case_id):
        return self.runtime.app.case_view(case_id)

    @rpc(expected_exceptions=DomainError)
    def change_case(self, case_id, command, data, caller=None):
        """``caller``: who asks and their retry key, signed by the gateway (shared.callers)."""
        return self.runtime.app.change_case(case_id, command, data, self.callers("change_case", caller))

    @rpc(expected_exceptions=DomainError)
    def revoke_award(self, award_id, data, caller=None):
        return self.runtime.app.revoke_award(award_id, data, self.callers("revoke_award", caller))

    @rpc(expected_exceptions=DomainError)
    def awards(self, filters=None):
        """A page of the awards register; ``filters`` may carry ``limit`` and ``offset``."""
        return self.runtime.app.list_awards(filters or {})

    @rpc
    def council(self):
        council = self.runtime.app.council
        return {"level": council.level, "jurisdiction": council.code, "name": council.name,
                "in_force": council.span()}
