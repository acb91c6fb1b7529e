"""nameko entrypoints of the accounts service: the gateway's sign-in, sessions and the
administrator's account routes, answered here."""

from __future__ import annotations

from nameko.extensions import DependencyProvider

from accounts.application import AccountsApplication
from shared.catalog import load_catalog
from shared.errors import DomainError
from shared.nameko_support import CallerCheck
from shared.observability import Observability
from shared.persistence import default_database_url
from shared.rpc import rpc
from shared.validation import page


class Accounts(DependencyProvider):
    """The application on ACCOUNTS_DATABASE_URL, built once at start."""

    def setup(self):
        config = self.container.config
        self.app = AccountsApplication(config.get("ACCOUNTS_DATABASE_URL") or default_database_url("accounts"),
                                       load_catalog(config.get("CATALOG_DIR") or None))

    def get_dependency(self, worker_ctx):
        return self.app


def who(caller: dict) -> str:
    return str(caller.get("sub") or "-")


class AccountsService:
    name = "accounts"
    app = Accounts()
    observability = Observability()  # /metrics on METRICS_ADDRESS, the call's request id in its log lines
    callers = CallerCheck("accounts")  # commands take only a gateway-signed administrator (shared.callers)

    @rpc
    def ready(self):
        return {"status": "ready"}

    @rpc(expected_exceptions=DomainError)
    def create_account(self, data, caller=None):
        return self.app.create(data, who(self.callers("create_account", caller)))

    @rpc(expected_exceptions=DomainError)
    def disable_account(self, user_name, data=None, caller=None):
        return self.app.disable(user_name, data or {}, who(self.callers("disable_account", caller)))

    @rpc(expected_exceptions=DomainError)
    def accounts(self, limit=None, offset=None):
        wanted = page(limit, offset)
        return self.app.list(wanted.limit, wanted.offset)

    @rpc(expected_exceptions=DomainError)
    def sign_in(self, data):
        return self.app.sign_in(data)

    @rpc(expected_exceptions=DomainError)
    def session(self, session_id):
        return self.app.session(session_id)

    @rpc(expected_exceptions=DomainError)
    def sign_out(self, session_id, everywhere=False):
        return {"ended": self.app.sign_out(session_id, bool(everywhere))}
