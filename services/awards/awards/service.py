"""nameko entrypoints of one council's awards service: translate, call, translate back.

The service name comes from the council's jurisdiction (AWARDS_JURISDICTION), so each
council has its own RPC and event queues and scaled copies of one council share them.
"""

import os

from nameko.rpc import rpc

from awards.bootstrap import build, service_name
from shared.errors import DomainError
from shared.nameko_support import RuntimeProvider
from shared.reliable_events import reliable_event_handler
from shared.wire import WireEvent


class AwardsService:
    name = service_name(os.environ.get("AWARDS_JURISDICTION", "huyen-yen-the"))
    runtime = RuntimeProvider(build)

    @reliable_event_handler("nominations", "#")
    def on_nominations_event(self, body):
        self.runtime.app.receive(WireEvent.model_validate(body))

    @reliable_event_handler("awards", "#")
    def on_awards_event(self, body):
        self.runtime.app.receive(WireEvent.model_validate(body))

    @rpc(expected_exceptions=DomainError)
    def cases(self, status=None):
        return self.runtime.cases.list(status)

    @rpc(expected_exceptions=DomainError)
    def case(self, case_id):
        return self.runtime.app.case_view(case_id)

    @rpc(expected_exceptions=DomainError)
    def change_case(self, case_id, command, data):
        return self.runtime.app.change_case(case_id, command, data)

    @rpc(expected_exceptions=DomainError)
    def revoke_award(self, award_id, data):
        return self.runtime.app.revoke_award(award_id, data)

    @rpc(expected_exceptions=DomainError)
    def awards(self, filters=None):
        return self.runtime.app.list_awards(filters or {})

    @rpc
    def council(self):
        council = self.runtime.app.council
        return {"level": council.level, "jurisdiction": council.jurisdiction, "name": council.name}
