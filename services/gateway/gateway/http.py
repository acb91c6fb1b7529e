"""The HTTP JSON API: a thin nameko gateway over the services' RPC.

Errors are RFC 7807 problem details: 400 invalid input (naming the field), 401 no or
a bad token, 403 a role or scope that does not cover the request, 404 not found, 409 a
rule broken or a concurrent change. Titles are Vietnamese (what an officer reads);
``detail`` is English (what goes to logs).

Every route but the public ones (/health, /catalog, /councils) names the roles it is open
to with ``@requires(...)``; the role rules themselves are in ``gateway.access``.

Every answer names its request in ``X-Request-Id``; the id goes with each RPC call the request
makes (shared.observability). The gateway's own /metrics is on GATEWAY_METRICS_ADDRESS, not here.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import os
import re
import time

import eventlet
import kombu
from nameko.exceptions import RemoteError, UnknownService
from nameko.extensions import DependencyProvider
from nameko.rpc import RpcProxy, ServiceProxy
from nameko.web.handlers import HttpRequestHandler
from nameko.web.server import WebServer, WsgiApp
from pydantic import BaseModel
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

import shared.rpc  # noqa: F401 - our errors arrive as themselves
from gateway import access, openapi, web
from gateway.access import ADMIN, AUDITOR, OFFICER, OPERATOR, ROLES, SECRETARY
from gateway.openapi import ACTIONS, CASE_ACTIONS
from shared.catalog import load_catalog
from shared.contracts.awards import AwardFilter
from shared.contracts.nominations import ListFilter, configured_instance
from shared.contracts.nominations import service_name as nominations_service
from shared.contracts.notifications import DeliveryIds, RotateSecret
from shared.council_queues import service_name as council_service
from shared.council_queues import waiting
from shared.errors import DomainError, InvalidInput, NotFound
from shared.observability import (REQUEST_ID_KEY, MetricsServer, Observability, current_request_id, http_metrics,
                                  new_request_id, reset_request_id, set_request_id, valid_request_id)
from shared import callers
from shared.callers import GATEWAY_INSTANCE, may_call, sign_caller
from shared.signing import signer_from_config
from shared.trust import GATEWAY
from shared.validation import Page, parse

log = logging.getLogger(__name__)

# How long a request waits for the services' replies. Replies are not confirmed by the
# broker (shared.rpc): one lost with a broken connection must not hold a worker for ever.
RPC_TIMEOUT_S = float(os.environ.get("GATEWAY_RPC_TIMEOUT_S", "60"))
# The audit service's answers take as long as its logs: a verify of a million events takes
# minutes. Only /audit/* wait this long; the request holds one greenlet, nothing else.
AUDIT_TIMEOUT_S = float(os.environ.get("GATEWAY_AUDIT_TIMEOUT_S", "1800"))
# The councils this deployment runs (readiness waits for each); the topology also names
# councils it does not run, such as the central one, whose cases wait in their queues.
RUNNING_COUNCILS = tuple(c for c in os.environ.get(
    "EXEMPLARS_COUNCILS", "huyen-yen-the,tinh-bac-giang,xa-yen-the,tinh-bac-ninh").split(",") if c)
# A command's signed caller lasts while its request waits (shared.callers bounds it).
CALLER_LIFETIME = min(max(dt.timedelta(seconds=RPC_TIMEOUT_S), callers.LIFETIME), callers.MAX_LIFETIME)
# Request bodies are read up to this size, no further (413 beyond it); commands are small.
MAX_BODY_BYTES = int(os.environ.get("GATEWAY_MAX_BODY_BYTES", str(256 * 1024)))
JURISDICTION = re.compile(r"^[a-z0-9][a-z0-9-]{0,80}$")


REQUEST_ID_HEADER = "X-Request-Id"
REQUEST_ID_ENVIRON = "exemplars.request_id"


def request_id_of(environ: dict) -> str:
    """The request's id: the caller's ``X-Request-Id`` (a proxy's) if well formed, else a new one."""
    if REQUEST_ID_ENVIRON not in environ:
        environ[REQUEST_ID_ENVIRON] = valid_request_id(environ.get("HTTP_X_REQUEST_ID")) or new_request_id()
    return environ[REQUEST_ID_ENVIRON]


class ProblemsWsgiApp(WsgiApp):
    """Werkzeug's own answers (no such route, wrong method) as problem details, like ours."""

    def __call__(self, environ, start_response):
        adapter = self.url_map.bind_to_environ(environ)
        try:
            adapter.match()
        except HTTPException as error:
            started, token = time.perf_counter(), set_request_id(request_id_of(environ))
            try:
                return self._unrouted(environ, start_response, error, started)
            finally:
                reset_request_id(token)
        return super().__call__(environ, start_response)

    def _unrouted(self, environ, start_response, error: HTTPException, started: float):
        log.info("%s %s -> %s", environ.get("REQUEST_METHOD"), printable(environ.get("PATH_INFO", "")),
                 error.code)
        title = {404: "Không có địa chỉ này.", 405: "Địa chỉ này không nhận phương thức đó."}.get(
            error.code, "Yêu cầu không hợp lệ.")
        response = json_response(error.code, {"type": f"urn:exemplars:problem:http-{error.code}",
                                              "title": title, "status": error.code, "detail": error.name},
                                 "application/problem+json")
        for name, value in error.get_headers(environ):
            if name.lower() == "allow":
                response.headers[name] = value
        response.headers[REQUEST_ID_HEADER] = environ[REQUEST_ID_ENVIRON]
        self.server.observe(environ.get("REQUEST_METHOD", ""), "unrouted", error.code, started)
        return response(environ, start_response)


class ProblemsWebServer(WebServer):
    metrics = MetricsServer()

    def setup(self):
        super().setup()
        self.requests, self.latency = http_metrics(self.metrics)

    def get_wsgi_app(self):
        return ProblemsWsgiApp(self)

    def context_data_from_headers(self, request):
        """The request id goes to the worker, and with it in every RPC call's headers."""
        return {REQUEST_ID_KEY: request_id_of(request.environ)}

    def observe(self, method: str, route: str, status: int, started: float) -> None:
        method = method if method in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS") else "other"
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(time.perf_counter() - started)


class ProblemsHttpHandler(HttpRequestHandler):
    """Each answer names its request (``X-Request-Id``) and is counted by route and status."""

    server = ProblemsWebServer()

    def handle_request(self, request):
        started = time.perf_counter()
        response = super().handle_request(request)
        response.headers[REQUEST_ID_HEADER] = request_id_of(request.environ)
        self.server.observe(self.method, self.url, response.status_code, started)
        return response


http = ProblemsHttpHandler.decorator
web.mount(http)  # the officers' pages (gateway.web) are routes of this same server


class AnyServiceRpc(RpcProxy):
    """RPC to a service named at call time: each council is its own service."""

    def __init__(self):
        super().__init__(target_service=None)

    def get_dependency(self, worker_ctx):
        return lambda name: ServiceProxy(worker_ctx, name, self.rpc_reply_listener)


def json_response(status: int, body, content_type: str = "application/json") -> Response:
    return Response(
        json.dumps(body, ensure_ascii=False), status=status, content_type=f"{content_type}; charset=utf-8"
    )


def problem(error: DomainError) -> Response:
    return json_response(error.http_status, error.to_problem(), "application/problem+json")


def server_error(request, what: str) -> Response:
    """A 500 that names only a request id; the full error is logged under the same id."""
    request_id = current_request_id() or request_id_of(request.environ)
    log.error("%s %s -> 500 request_id=%s %s", request.method, printable(request.path), request_id, what)
    response = json_response(
        500,
        {"type": "urn:exemplars:problem:server-error", "title": "Lỗi hệ thống; vui lòng thử lại sau.",
         "status": 500, "detail": f"internal error, logged as request {request_id}", "request_id": request_id},
        "application/problem+json",
    )
    response.headers[REQUEST_ID_HEADER] = request_id
    return response


def translated(handler=None, *, timeout_s: float | None = None):
    """Turn domain errors into problem details and anything else into a logged 500; no reply
    within ``timeout_s`` (RPC_TIMEOUT_S unless given) is a 504."""
    if handler is None:
        return functools.partial(translated, timeout_s=timeout_s)

    @functools.wraps(handler)  # keeps what @requires / @public marked on the handler
    def wrapper(self, request, *args, **kwargs):
        limit = RPC_TIMEOUT_S if timeout_s is None else timeout_s
        try:
            with eventlet.Timeout(limit):
                return handler(self, request, *args, **kwargs)
        except eventlet.Timeout:
            log.error("%s %s -> 504: no reply within %.0f s", request.method, request.path, limit)
            return json_response(
                504,
                {"type": "about:blank", "title": "Dịch vụ không trả lời kịp. Thao tác có thể đã được lưu: "
                 "hãy tải lại để kiểm tra trước khi làm lại.", "status": 504,
                 "detail": f"no reply within {limit:.0f} s"},
                "application/problem+json",
            )
        except UnknownService as error:
            log.info("%s %s -> 404: unknown service %s", request.method, request.path, error)
            return problem(NotFound("Không có hội đồng hoặc dịch vụ này đang hoạt động.", f"unknown service {error}",
                                    str(error)))
        except DomainError as error:
            log.info("%s %s -> %s: %s", request.method, request.path, error.http_status, error.log_message)
            return problem(error)
        except RemoteError as error:
            # the service's exception text (SQL, paths, values) is for the log, never the client
            return server_error(request, f"failed remotely: {error.exc_type}: {error.value}")
        except Exception as error:  # noqa: BLE001 - a bug here: nameko would answer its text
            log.exception("%s %s raised", request.method, printable(request.path))
            return server_error(request, f"failed in the gateway: {type(error).__name__}: {error}")

    return wrapper


# -- access --------------------------------------------------------------------------------

PRINCIPAL = "exemplars.principal"  # where @requires leaves the caller, in the WSGI environ


class AccessSettings(DependencyProvider):
    """The token secret and the department whose exemplars this gateway records, read once
    at start: a missing or short secret file stops the gateway instead of refusing everyone;
    and the gateway's own instance key, which signs each command's caller (shared.callers)."""

    def setup(self):
        config = self.container.config
        self.secret = access.load_secret(config.get("GATEWAY_TOKEN_SECRET_FILE") or None)
        self.department = config.get("NOMINATIONS_DEPARTMENT") or "hoi-nong-dan-yen-the"
        self.signer = signer_from_config(config, config.get("GATEWAY_INSTANCE_ID") or GATEWAY_INSTANCE,
                                         service=GATEWAY)

    def get_dependency(self, worker_ctx):
        return self


class Reference(DependencyProvider):
    """The catalogs and council topology (read and checked once at start), and the broker
    whose council queues the operators' view reads."""

    def setup(self):
        config = self.container.config
        self.catalog = load_catalog(config.get("CATALOG_DIR") or None)
        self.amqp_uri = config["AMQP_URI"]

    def get_dependency(self, worker_ctx):
        return self


def printable(text: str) -> str:
    """A path is the caller's text: escaped, so one refusal stays one log line."""
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)


def refused(request, principal: access.Principal | None, refusal: access.AccessDenied) -> Response:
    log.warning("access refused: %s %s -> %s %s; role=%s sub=%s token_id=%s: %s",
                request.method, printable(request.path), refusal.http_status, refusal.detail,
                principal.scope() if principal else "-", principal.sub if principal else "-",
                (principal.token_id or "-") if principal else "-", refusal.log_message)
    response = problem(refusal)
    if isinstance(refusal, access.Unauthenticated):
        response.headers["WWW-Authenticate"] = refusal.challenge
    return response


def requires(*roles: str):
    """Open the route to a valid bearer token of one of ``roles``.

    Also: auditors never get past a GET, and a council secretary only reaches routes of her
    own council (the ``council`` path value). Finer scopes (an exemplar's department, an
    inbox's recipient) are checked in the handler with ``gateway.access`` and refused the
    same way. Every refusal is logged with method, path, role and reason — never the token.
    """
    unknown = set(roles) - set(ROLES)
    if not roles or unknown:
        raise ValueError(f"requires() needs known roles, got {roles}")

    def decorate(handler):
        @functools.wraps(handler)
        def wrapper(self, request, *args, **kwargs):
            principal = None
            try:
                principal = self.browser_principal(request) or access.authenticate(
                    self.settings.secret, request.headers.get("Authorization"))
                access.authorize(principal, roles, request.method)
                if "council" in kwargs:
                    access.check_council(principal, kwargs["council"])
                request.environ[PRINCIPAL] = principal
                return handler(self, request, *args, **kwargs)
            except access.AccessDenied as refusal:
                return refused(request, principal, refusal)

        wrapper.required_roles = roles
        return wrapper

    return decorate


def public(handler):
    """A route anyone may call: liveness and reference data (the launcher's readiness probe)."""
    handler.public = True
    return handler


def principal_of(request) -> access.Principal:
    return request.environ[PRINCIPAL]


class BodyTooLarge(DomainError):
    http_status = 413
    kind = "body-too-large"
    detail_key = "limit"


def read_body(request, limit: int | None = None) -> bytes:
    """The request's body, never more than ``limit`` bytes read, chunked or not.

    A declared Content-Length over the limit is refused before reading anything; a chunked
    body is read until one byte past the limit. eventlet's input stream ends where the
    request's body ends (it decodes chunks itself), so it is read directly: werkzeug's own
    stream would read a chunked body without Content-Length as empty.
    """
    limit = MAX_BODY_BYTES if limit is None else limit
    too_large = BodyTooLarge(f"Nội dung gửi lên lớn quá {limit // 1024} KiB.",
                             f"request body over {limit} bytes", str(limit))
    if (request.content_length or 0) > limit:
        raise too_large
    stream, parts, size = request.environ["wsgi.input"], [], 0
    while size <= limit:
        part = stream.read(min(64 * 1024, limit + 1 - size))
        if not part:
            break
        parts.append(part)
        size += len(part)
    if size > limit:
        raise too_large
    return b"".join(parts)


def body_of(request) -> dict:
    raw = read_body(request)
    try:
        data = json.loads(raw.decode("utf-8") or "{}")
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError; nesting too deep
        raise InvalidInput("Nội dung gửi lên không phải JSON hợp lệ.", "body is not valid JSON", "body") from None
    if not isinstance(data, dict):
        raise InvalidInput("Dữ liệu gửi lên phải là một đối tượng JSON.", "body is not an object", "body")
    return data


def query_of(request, model: type[BaseModel]):
    """The query string as the route's model (gateway.openapi publishes the same): a bad value or
    a parameter the route does not take (a typo such as ``?stgae=``) is a 400 naming it."""
    return parse(model, {name: value for name, value in request.args.items() if value != ""})


IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")  # printable ASCII, as shared.requests.Caller takes


def caller_of(request) -> dict:
    """Who asks (the token's subject, role and scope) and the retry key of ``Idempotency-Key``: a
    POST retried with the same key gets the first attempt's answer instead of making a second
    change. The services take it only signed (GatewayService.caller)."""
    principal = principal_of(request)
    key = request.headers.get("Idempotency-Key")
    if key is not None and not IDEMPOTENCY_KEY.fullmatch(key):
        raise InvalidInput("Tiêu đề Idempotency-Key phải là 1–200 ký tự ASCII in được, không có dấu cách.",
                           "malformed Idempotency-Key header", "Idempotency-Key")
    return {"sub": principal.sub, "role": principal.role, "department": principal.department,
            "council": principal.council, "idempotency_key": key}


def answered(status: int, answer: dict) -> Response:
    """A command's answer; one replayed for a retried Idempotency-Key says so in a header."""
    replayed = answer.pop("replayed", False)
    response = json_response(status, answer)
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


def expected_version_of(request, data: dict) -> int | None:
    """Optimistic concurrency: If-Match header or ``expected_version`` in the body."""
    value = request.headers.get("If-Match") or data.pop("expected_version", None)
    if value in (None, ""):
        return None
    try:
        return int(str(value).strip('"'))
    except ValueError:
        raise InvalidInput("Phiên bản mong đợi phải là số nguyên.", "bad expected version", "expected_version") from None


def council_proxy(rpc, jurisdiction: str):
    if not JURISDICTION.match(jurisdiction):
        raise InvalidInput(f"Mã hội đồng «{jurisdiction}» không hợp lệ.", f"bad council {jurisdiction!r}", "council")
    return rpc(council_service(jurisdiction))


class GatewayService(web.WebPages):
    name = "gateway"
    nominations = RpcProxy(nominations_service(configured_instance()))  # the department this gateway serves
    notifications = RpcProxy("notifications")
    audit = RpcProxy("audit")  # read-only, over every log: /audit/* are answered there
    rpc = AnyServiceRpc()
    settings = AccessSettings()
    reference = Reference()
    observability = Observability()  # /metrics on METRICS_ADDRESS, the request id in RPC and log lines

    def caller(self, request) -> dict:
        """The ``caller=`` of a command: who asks, signed with this gateway's key for as long as
        the request waits for its answer (a minute at least, five at most)."""
        return sign_caller(self.settings.signer, caller_of(request), lifetime=CALLER_LIFETIME)

    def signed_caller(self, principal: access.Principal) -> dict:
        """The same for a signed-in browser's command (a page's form: no retry key)."""
        return sign_caller(self.settings.signer, {"sub": principal.sub, "role": principal.role,
                                                  "department": principal.department, "council": principal.council,
                                                  "idempotency_key": None}, lifetime=CALLER_LIFETIME)

    def browser_principal(self, request) -> access.Principal | None:
        """A signed-in browser may GET the JSON routes its role may (the pages link to them); a
        change always needs a bearer token, so no cross-site form can make one with the cookie."""
        if request.method not in access.READ_METHODS or request.headers.get("Authorization"):
            return None
        visitor = self.visitor(request)
        return visitor.principal if visitor else None

    def own_exemplar(self, request, exemplar_id) -> dict | None:
        """An officer's exemplar (its summary) or a 403; other roles pass unchecked (None)."""
        principal = principal_of(request)
        if principal.role != OFFICER:
            return None
        summary = self.nominations.get(exemplar_id)
        access.check_department(principal, summary["department"])
        return summary

    @http("GET", "/health")
    @public
    def health(self, request):
        return json_response(200, {"status": "ok"})

    @http("GET", "/ready")
    @translated
    @public
    def ready(self, request):
        """Readiness: every service this gateway needs answers over RPC (launcher and tests wait on it)."""
        self.nominations.catalog()
        for council in RUNNING_COUNCILS:
            council_proxy(self.rpc, council).council()
        self.notifications.ready()
        self.audit.ready()
        self.accounts.ready()
        return json_response(200, {"status": "ready"})

    @http("GET", "/openapi.json")
    @translated
    @public
    def openapi_document(self, request):
        return json_response(200, OPENAPI)

    @http("GET", "/docs")
    @translated
    @public
    def docs(self, request):
        return Response(DOCS_HTML, content_type="text/html; charset=utf-8")

    @http("GET", "/catalog")
    @translated
    @public
    def catalog(self, request):
        return json_response(200, self.nominations.catalog())

    @http("POST", "/exemplars")
    @translated
    @requires(*may_call("nominations", "detect"))
    def detect(self, request):
        # the nominations service records every exemplar under its own department
        access.check_department(principal_of(request), self.settings.department)
        created = self.nominations.detect(body_of(request), self.caller(request))
        response = answered(201, created)
        response.headers["Location"] = f"/exemplars/{created['id']}"
        return response

    @http("GET", "/exemplars")
    @translated
    @requires(OFFICER, AUDITOR)
    def list_exemplars(self, request):
        query_of(request, ListFilter)  # refused here with the field named, before any service is asked
        filters = access.list_filters(principal_of(request), dict(request.args.items()))
        return json_response(200, self.nominations.list(filters))

    @http("GET", "/exemplars/<string:exemplar_id>")
    @translated
    @requires(OFFICER, AUDITOR)
    def get_exemplar(self, request, exemplar_id):
        return json_response(200, self.own_exemplar(request, exemplar_id) or self.nominations.get(exemplar_id))

    @http("GET", "/exemplars/<string:exemplar_id>/history")
    @translated
    @requires(OFFICER, AUDITOR)
    def history(self, request, exemplar_id):
        self.own_exemplar(request, exemplar_id)
        return json_response(200, self.nominations.history(exemplar_id))

    @http("POST", "/exemplars/<string:exemplar_id>/<string:action>")
    @translated
    @requires(*may_call("nominations", "change"))
    def change(self, request, exemplar_id, action):
        self.own_exemplar(request, exemplar_id)  # the department never changes, so checking first is enough
        if action not in ACTIONS:
            raise InvalidInput(f"Thao tác «{action}» không tồn tại.", f"unknown action {action!r}", "action")
        data = body_of(request)
        expected = expected_version_of(request, data)
        return answered(200, self.nominations.change(exemplar_id, ACTIONS[action], data, expected, self.caller(request)))

    # -- councils (awards service instances) ---------------------------------------------

    @http("GET", "/councils")
    @translated
    @public
    def councils(self, request):
        """The dated council topology: who exists, at which level, answering to whom, when."""
        return json_response(200, [
            council.model_dump(mode="json") | {"in_force": council.span()}
            for council in self.reference.catalog.topology.councils.values()])

    @http("GET", "/operator/councils")
    @translated
    @requires(OPERATOR, AUDITOR)
    def council_queues(self, request):
        """Each council's queue: cases waiting, and whether a council takes them (shared.council_queues)."""
        with kombu.Connection(self.reference.amqp_uri, connect_timeout=5) as connection:
            rows = waiting(connection, self.reference.catalog.topology.councils.values())
        return json_response(200, rows)

    @http("GET", "/councils/<string:council>/cases")
    @translated
    @requires(SECRETARY, AUDITOR)
    def cases(self, request, council):
        wanted = query_of(request, openapi.CaseQuery)
        return json_response(200, council_proxy(self.rpc, council).cases(
            wanted.status or None, wanted.limit, wanted.offset))

    @http("GET", "/councils/<string:council>/cases/<string:case_id>")
    @translated
    @requires(SECRETARY, AUDITOR)
    def case(self, request, council, case_id):
        """The case with its eligibility and the exemplar's history, as the secretary sees it."""
        case = council_proxy(self.rpc, council).case(case_id)
        try:
            case["exemplar_history"] = self.nominations.history(case["exemplar_id"])
        except NotFound:
            case["exemplar_history"] = None  # kept by a department this gateway does not serve
        return json_response(200, case)

    @http("POST", "/councils/<string:council>/cases/<string:case_id>/<string:action>")
    @translated
    @requires(*may_call("awards", "change_case"))
    def change_case(self, request, council, case_id, action):
        if action not in CASE_ACTIONS:
            raise InvalidInput(f"Thao tác «{action}» không tồn tại.", f"unknown action {action!r}", "action")
        return answered(200, council_proxy(self.rpc, council).change_case(
            case_id, CASE_ACTIONS[action], body_of(request), self.caller(request)))

    @http("POST", "/councils/<string:council>/awards/<string:award_id>/revocation")
    @translated
    @requires(*may_call("awards", "revoke_award"))
    def revoke(self, request, council, award_id):
        return answered(200, council_proxy(self.rpc, council).revoke_award(award_id, body_of(request),
                                                                          self.caller(request)))

    @http("GET", "/councils/<string:council>/awards")
    @translated
    @requires(SECRETARY, AUDITOR)
    def awards(self, request, council):
        query_of(request, AwardFilter)
        return json_response(200, council_proxy(self.rpc, council).awards(dict(request.args.items())))

    # -- notifications ---------------------------------------------------------------------

    # Subscribing: officers (kept to their own department's events) and operators, who set up
    # units' and the press's subscriptions. Not secretaries: no subscription filter can keep
    # them to their own council. Preferences and cancellation go by the subscription's id.

    @http("POST", "/subscriptions")
    @translated
    @requires(*may_call("notifications", "subscribe"))
    def subscribe(self, request):
        data = access.subscription(principal_of(request), body_of(request))
        return answered(201, self.notifications.subscribe(data, self.caller(request)))

    @http("POST", "/subscriptions/<string:subscription_id>/preferences")
    @translated
    @requires(*may_call("notifications", "change_preferences"))
    def preferences(self, request, subscription_id):
        return answered(200, self.notifications.change_preferences(subscription_id, body_of(request),
                                                                   self.caller(request)))

    @http("POST", "/subscriptions/<string:subscription_id>/cancellation")
    @translated
    @requires(*may_call("notifications", "cancel"))
    def cancel_subscription(self, request, subscription_id):
        return answered(200, self.notifications.cancel(subscription_id, body_of(request), self.caller(request)))

    @http("POST", "/subscriptions/<string:subscription_id>/secret")
    @translated
    @requires(*may_call("notifications", "rotate_secret"))
    def rotate_secret(self, request, subscription_id):
        """A new webhook secret (given, or made by the service and answered once). Operators
        only: the answer is a credential. Not idempotent by key: the secret is never stored in
        a replayable answer."""
        data = parse(RotateSecret, body_of(request)).model_dump()
        return json_response(200, self.notifications.rotate_secret(subscription_id, data, self.caller(request)))

    @http("POST", "/operator/reseal-secrets")
    @translated
    @requires(*may_call("notifications", "reseal_secrets"))
    def reseal_secrets(self, request):
        """After a new key was put first in NOTIFICATIONS_SECRETS_KEY_FILE: every webhook secret
        sealed again under it."""
        parse(openapi.Empty, body_of(request))  # nothing to say but {}
        return json_response(200, self.notifications.reseal_secrets(self.caller(request)))

    @http("GET", "/inbox/<string:recipient_id>")
    @translated
    @requires(*ROLES)
    def inbox(self, request, recipient_id):
        access.check_recipient(principal_of(request), recipient_id)
        wanted = query_of(request, Page)
        return json_response(200, self.notifications.inbox(recipient_id, wanted.limit, wanted.offset))

    @http("POST", "/inbox/<string:recipient_id>/read")
    @translated
    @requires(*may_call("notifications", "mark_read"))
    def mark_read(self, request, recipient_id):
        access.check_recipient(principal_of(request), recipient_id)
        ids = parse(DeliveryIds, body_of(request)).delivery_ids
        return json_response(200, {"marked": self.notifications.mark_read(recipient_id, list(ids),
                                                                          self.caller(request))})

    @http("GET", "/deliveries")
    @translated
    @requires(OPERATOR, AUDITOR)
    def deliveries(self, request):
        """Each delivery's status for one event: ?event=<source instance>/<notification id>."""
        wanted = query_of(request, openapi.DeliveriesQuery)
        return json_response(200, self.notifications.deliveries(wanted.event, wanted.limit, wanted.offset))

    @http("GET", "/operator/parked")
    @translated
    @requires(OPERATOR, AUDITOR)
    def parked(self, request):
        wanted = query_of(request, Page)
        return json_response(200, self.notifications.parked(wanted.limit, wanted.offset))

    @http("POST", "/operator/replay")
    @translated
    @requires(*may_call("notifications", "replay"))
    def replay(self, request):
        ids = parse(DeliveryIds, body_of(request)).delivery_ids
        return json_response(200, {"replayed": self.notifications.replay(list(ids), self.caller(request))})

    # -- accounts of the web pages (the administrator's; `exemplars accounts` calls these) ----

    @http("GET", "/accounts")
    @translated
    @requires(ADMIN)
    def list_accounts(self, request):
        wanted = query_of(request, Page)
        return json_response(200, self.accounts.accounts(wanted.limit, wanted.offset))

    @http("POST", "/accounts")
    @translated
    @requires(ADMIN)
    def create_account(self, request):
        created = self.accounts.create_account(body_of(request), self.caller(request))
        response = json_response(201, created)
        response.headers["Location"] = f"/accounts/{created['user_name']}"
        return response

    @http("POST", "/accounts/<string:user_name>/disabled")
    @translated
    @requires(ADMIN)
    def disable_account(self, request, user_name):
        return json_response(200, self.accounts.disable_account(user_name, body_of(request), self.caller(request)))

    # -- auditors: read-only views computed from the logs, by the audit service -------------

    @http("GET", "/audit/timeline/<string:exemplar_id>")
    @translated(timeout_s=AUDIT_TIMEOUT_S)
    @requires(AUDITOR)
    def audit_timeline(self, request, exemplar_id):
        wanted = query_of(request, openapi.TimelineQuery)
        answer = self.audit.timeline(exemplar_id, wanted.format, auditor(request))
        if wanted.format == "html":
            return Response(answer, content_type="text/html; charset=utf-8")
        return json_response(200, answer)

    @http("GET", "/audit/as-of/<string:aggregate_id>")
    @translated(timeout_s=AUDIT_TIMEOUT_S)
    @requires(AUDITOR)
    def audit_as_of(self, request, aggregate_id):
        at = query_of(request, openapi.AsOfQuery).at or None
        return json_response(200, self.audit.as_of(aggregate_id, at, auditor(request)))

    @http("GET", "/audit/register")
    @translated(timeout_s=AUDIT_TIMEOUT_S)
    @requires(AUDITOR)
    def audit_register(self, request):
        at = query_of(request, openapi.AsOfQuery).at or None
        return json_response(200, self.audit.register(at, auditor(request)))

    @http("GET", "/audit/verify")
    @translated(timeout_s=AUDIT_TIMEOUT_S)
    @requires(AUDITOR)
    def audit_verify(self, request):
        return json_response(200, self.audit.verify(auditor(request)))

    @http("GET", "/audit/reports/<int:year>")
    @translated(timeout_s=AUDIT_TIMEOUT_S)
    @requires(AUDITOR)
    def audit_report(self, request, year):
        wanted = query_of(request, openapi.ReportQuery)
        answer = self.audit.annual_report(year, wanted.at or None, wanted.format, auditor(request))
        if wanted.format == "csv":
            return Response(answer, content_type="text/csv; charset=utf-8")
        if wanted.format == "html":
            return Response(answer, content_type="text/html; charset=utf-8")
        return json_response(200, answer)


# The published contract, built once (tests/integration/test_openapi.py checks it against the routes).
OPENAPI = openapi.document()
DOCS_HTML = openapi.docs_html(OPENAPI)


def auditor(request) -> dict:
    """Who audits: the audit service logs each use under the name their token carries."""
    return {"sub": principal_of(request).sub}
