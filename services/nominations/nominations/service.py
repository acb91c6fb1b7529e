"""nameko entrypoints of the nominations service: translate, call, translate back.

The service name comes from the instance (NOMINATIONS_INSTANCE_ID), so each department
has its own RPC and event queues and scaled copies of one department share them: RPC side
by side, the councils' events one copy at a time, so each exemplar's steps land in order.
"""

from nominations.bootstrap import build
from shared.contracts.nominations import configured_instance, service_name
from shared.errors import DomainError
from shared.nameko_support import CallerCheck, RuntimeProvider
from shared.observability import Observability
from shared.reliable_events import reliable_event_handler
from shared.rpc import rpc
from shared.wire import WireEvent


class NominationsService:
    name = service_name(configured_instance())
    runtime = RuntimeProvider(build)
    observability = Observability()  # /metrics, the call's request id in its log lines
    callers = CallerCheck("nominations")  # commands take only a gateway-signed caller (shared.callers)

    @reliable_event_handler("awards", "#", ordered=True)
    def on_awards_event(self, event: WireEvent):
        """Councils' steps and decisions land on the exemplar's history (of this department's exemplars)."""
        self.runtime.receive(event)

    @rpc(expected_exceptions=DomainError)
    def detect(self, data, caller=None):
        """``caller``: who asks and their retry key, signed by the gateway (shared.callers)."""
        return self.runtime.app.detect(data, self.callers("detect", caller))

    @rpc(expected_exceptions=DomainError)
    def change(self, exemplar_id, command, data, expected_version=None, caller=None):
        return self.runtime.app.change(exemplar_id, command, data, expected_version, self.callers("change", caller))

    @rpc(expected_exceptions=DomainError)
    def get(self, exemplar_id):
        return self.runtime.app.summary(exemplar_id)

    @rpc(expected_exceptions=DomainError)
    def history(self, exemplar_id):
        return self.runtime.app.history(exemplar_id)

    @rpc(expected_exceptions=DomainError)
    def list(self, filters=None):
        return self.runtime.exemplars.list(filters or {})

    @rpc
    def catalog(self):
        catalog = self.runtime.app.catalog
        return {
            name: [entry.model_dump(mode="json") for entry in getattr(catalog, name).values()]
            for name in ("subject_kinds", "fields", "movements", "award_forms")
        }
