"""The HTTP JSON API: a thin nameko gateway over the services' RPC.

Errors are RFC 7807 problem details: 400 invalid input (naming the field), 404 not
found, 409 a rule broken or a concurrent change. Titles are Vietnamese (what an
officer reads); ``detail`` is English (what goes to logs).
"""

from __future__ import annotations

import json
import logging

import os
import re

from nameko.exceptions import RemoteError, UnknownService
from nameko.rpc import RpcProxy, ServiceProxy
from nameko.web.handlers import http
from werkzeug.wrappers import Response

import shared.rpc  # noqa: F401 - our errors arrive as themselves
from awards.bootstrap import service_name as council_service
from shared.errors import DomainError, InvalidInput, NotFound

log = logging.getLogger(__name__)

# URL action -> nominations command; the one table the HTTP API adds.
ACTIONS = {
    "nurture-plan": "plan_nurture",
    "progress": "record_progress",
    "checks": "record_check",
    "reviews": "review",
    "endorsements": "endorse",
    "nominations": "nominate",
    "publicity": "publicize",
    "adoptions": "start_adoption",
    "adoption-outcomes": "record_adoption_outcome",
    "evaluations": "evaluate_year",
    "holds": "put_on_hold",
    "hold-releases": "release_hold",
    "withdrawal": "withdraw",
}


# URL action -> awards case command.
CASE_ACTIONS = {
    "appraisal": "appraise",
    "sessions": "record_session",
    "consultation": "open_consultation",
    "objections": "record_objection",
    "objection-resolutions": "resolve_objection",
    "decision": "decide",
    "rejection": "reject",
}
COUNCILS = tuple(c for c in os.environ.get("EXEMPLARS_COUNCILS", "huyen-yen-the,tinh-bac-giang").split(",") if c)
JURISDICTION = re.compile(r"^[a-z0-9][a-z0-9-]{0,80}$")


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


def translated(handler):
    """Turn domain errors into problem details and anything else into a logged 500."""

    def wrapper(self, request, *args, **kwargs):
        try:
            return handler(self, request, *args, **kwargs)
        except UnknownService as error:
            log.info("%s %s -> 404: unknown service %s", request.method, request.path, error)
            return problem(NotFound("Không có hội đồng hoặc dịch vụ này đang hoạt động.", f"unknown service {error}",
                                    str(error)))
        except DomainError as error:
            log.info("%s %s -> %s: %s", request.method, request.path, error.http_status, error.log_message)
            return problem(error)
        except RemoteError as error:
            log.error("%s %s failed remotely: %s", request.method, request.path, error)
            return json_response(
                500,
                {"type": "about:blank", "title": "Lỗi hệ thống; vui lòng thử lại sau.", "status": 500,
                 "detail": f"{error.exc_type}: {error.value}"},
                "application/problem+json",
            )

    wrapper.__name__ = handler.__name__
    return wrapper


def body_of(request) -> dict:
    try:
        data = json.loads(request.get_data(as_text=True) or "{}")
    except ValueError:
        raise InvalidInput("Nội dung gửi lên không phải JSON hợp lệ.", "body is not valid JSON", "body") from None
    if not isinstance(data, dict):
        raise InvalidInput("Dữ liệu gửi lên phải là một đối tượng JSON.", "body is not an object", "body")
    return data


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


class GatewayService:
    name = "gateway"
    nominations = RpcProxy("nominations")
    notifications = RpcProxy("notifications")
    rpc = AnyServiceRpc()

    @http("GET", "/health")
    def health(self, request):
        return json_response(200, {"status": "ok"})

    @http("GET", "/catalog")
    @translated
    def catalog(self, request):
        return json_response(200, self.nominations.catalog())

    @http("POST", "/exemplars")
    @translated
    def detect(self, request):
        created = self.nominations.detect(body_of(request))
        response = json_response(201, created)
        response.headers["Location"] = f"/exemplars/{created['id']}"
        return response

    @http("GET", "/exemplars")
    @translated
    def list_exemplars(self, request):
        return json_response(200, self.nominations.list(dict(request.args.items())))

    @http("GET", "/exemplars/<string:exemplar_id>")
    @translated
    def get_exemplar(self, request, exemplar_id):
        return json_response(200, self.nominations.get(exemplar_id))

    @http("GET", "/exemplars/<string:exemplar_id>/history")
    @translated
    def history(self, request, exemplar_id):
        return json_response(200, self.nominations.history(exemplar_id))

    @http("POST", "/exemplars/<string:exemplar_id>/<string:action>")
    @translated
    def change(self, request, exemplar_id, action):
        if action not in ACTIONS:
            raise InvalidInput(f"Thao tác «{action}» không tồn tại.", f"unknown action {action!r}", "action")
        data = body_of(request)
        expected = expected_version_of(request, data)
        return json_response(200, self.nominations.change(exemplar_id, ACTIONS[action], data, expected))

    # -- councils (awards service instances) ---------------------------------------------

    @http("GET", "/councils")
    @translated
    def councils(self, request):
        return json_response(200, [council_proxy(self.rpc, c).council() for c in COUNCILS])

    @http("GET", "/councils/<string:council>/cases")
    @translated
    def cases(self, request, council):
        return json_response(200, council_proxy(self.rpc, council).cases(request.args.get("status")))

    @http("GET", "/councils/<string:council>/cases/<string:case_id>")
    @translated
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
    def change_case(self, request, council, case_id, action):
        if action not in CASE_ACTIONS:
            raise InvalidInput(f"Thao tác «{action}» không tồn tại.", f"unknown action {action!r}", "action")
        result = council_proxy(self.rpc, council).change_case(case_id, CASE_ACTIONS[action], body_of(request))
        return json_response(200, result)

    @http("POST", "/councils/<string:council>/awards/<string:award_id>/revocation")
    @translated
    def revoke(self, request, council, award_id):
        return json_response(200, council_proxy(self.rpc, council).revoke_award(award_id, body_of(request)))

    @http("GET", "/councils/<string:council>/awards")
    @translated
    def awards(self, request, council):
        return json_response(200, council_proxy(self.rpc, council).awards(dict(request.args.items())))

    # -- notifications ---------------------------------------------------------------------

    @http("POST", "/subscriptions")
    @translated
    def subscribe(self, request):
        return json_response(201, self.notifications.subscribe(body_of(request)))

    @http("POST", "/subscriptions/<string:subscription_id>/preferences")
    @translated
    def preferences(self, request, subscription_id):
        return json_response(200, self.notifications.change_preferences(subscription_id, body_of(request)))

    @http("POST", "/subscriptions/<string:subscription_id>/cancellation")
    @translated
    def cancel_subscription(self, request, subscription_id):
        return json_response(200, self.notifications.cancel(subscription_id, body_of(request)))

    @http("GET", "/inbox/<string:recipient_id>")
    @translated
    def inbox(self, request, recipient_id):
        return json_response(200, self.notifications.inbox(recipient_id))

    @http("POST", "/inbox/<string:recipient_id>/read")
    @translated
    def mark_read(self, request, recipient_id):
        ids = body_of(request).get("delivery_ids", [])
        return json_response(200, {"marked": self.notifications.mark_read(recipient_id, ids)})

    @http("GET", "/deliveries")
    @translated
    def deliveries(self, request):
        """Each delivery's status for one event: ?event=<source instance>/<notification id>."""
        return json_response(200, self.notifications.deliveries(request.args.get("event", "")))

    @http("GET", "/operator/parked")
    @translated
    def parked(self, request):
        return json_response(200, self.notifications.parked())

    @http("POST", "/operator/replay")
    @translated
    def replay(self, request):
        return json_response(200, {"replayed": self.notifications.replay(body_of(request).get("delivery_ids", []))})
