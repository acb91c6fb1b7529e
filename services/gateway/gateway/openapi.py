"""The HTTP contract as an OpenAPI 3.1 document, built from the pydantic models the services
validate with (so a field's limit is published where it is checked) and from one table of
operations below. ``gateway.http`` serves it at ``/openapi.json`` and as a page at ``/docs``;
``tests/integration/test_openapi.py`` fails when a route of ``gateway.http`` is missing here,
and runs schemathesis over the whole document against a running system.

Pure: no I/O, nothing but the models and the two action tables of ``gateway.http``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel, ConfigDict, Field

from gateway.access import ADMIN, AUDITOR, OFFICER, OPERATOR, ROLE_NAMES_VI, ROLES, SECRETARY
from shared.contracts.accounts import USER_NAME_PATTERN, Disable, NewAccount
from shared.contracts.awards import CASE_COMMANDS, AwardFilter, Revoke
from shared.contracts.nominations import CHANGE_COMMANDS, Detect, ListFilter
from shared.contracts.notifications import Cancel, DeliveryIds, Preferences, RotateSecret, Subscribe
from shared.contracts.wire_events import WIRE_TYPES, fanned_out
from shared.validation import Page
from shared.wire import WireEvent

VERSION = "2.0.0"
CODE_PATTERN = "^[a-z0-9][a-z0-9-]{0,80}$"  # gateway.http.JURISDICTION
IDEMPOTENT = ("/exemplars", "/councils", "/subscriptions")  # the POSTs that honour Idempotency-Key (shared.requests)
NOT_IDEMPOTENT = ("/subscriptions/{subscription_id}/secret",)  # its answer (a secret) is never kept to replay
TEMPLATES = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                        autoescape=select_autoescape(["html", "j2"]))

# URL action -> nominations command; a table of the HTTP API's own.
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
    "initiatives": "record_initiative",
    "initiative-recognitions": "recognise_initiative",
    "rosters": "record_roster",
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

# What each action does, as the officer reads it on /docs.
ACTION_SUMMARIES = {
    "plan_nurture": "Lập kế hoạch bồi dưỡng.", "record_progress": "Ghi tiến độ bồi dưỡng.",
    "record_check": "Ghi kết quả kiểm tra, theo dõi.", "review": "Sơ kết / tổng kết.",
    "endorse": "Ghi kết quả bình xét của tập thể.", "nominate": "Đề nghị khen thưởng.",
    "publicize": "Tuyên truyền, nêu gương.", "start_adoption": "Bắt đầu nhân rộng ở một đơn vị.",
    "record_adoption_outcome": "Ghi kết quả nhân rộng.", "evaluate_year": "Ghi đánh giá, xếp loại năm.",
    "put_on_hold": "Tạm dừng (khiếu nại, kỷ luật, thanh tra).", "release_hold": "Gỡ tạm dừng.",
    "withdraw": "Rút khỏi danh sách điển hình.", "record_initiative": "Ghi sáng kiến.",
    "recognise_initiative": "Công nhận sáng kiến (phạm vi ảnh hưởng).", "record_roster": "Ghi danh sách thành viên năm.",
    "appraise": "Thẩm định hồ sơ: chuyển hội đồng, hoặc trả lại.", "record_session": "Ghi kết quả phiên họp, bỏ phiếu.",
    "open_consultation": "Mở lấy ý kiến nhân dân.", "record_objection": "Ghi ý kiến phản ánh.",
    "resolve_objection": "Giải quyết ý kiến phản ánh.", "decide": "Ghi quyết định khen thưởng.",
    "reject": "Không khen thưởng, ghi rõ lý do.",
}
PUBLIC_GROUP = ("health", "ready", "catalog", "openapi.json", "docs")  # shown together as "hệ thống"


class CaseQuery(Page):
    status: Annotated[str, Field(max_length=40, description="open, appraised, voted, decided, forwarded, "
                                                             "returned, rejected; mặc định: hồ sơ đang chờ")] = ""


class DeliveriesQuery(Page):
    event: Annotated[str, Field(min_length=1, max_length=300, pattern="^[^\\x00-\\x1f\\x7f-\\x9f]+$",
                                description="<nguồn>/<số thứ tự sự kiện>")]


class AsOfQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    at: Annotated[str, Field(max_length=40, description="YYYY-MM-DD hoặc thời điểm ISO 8601; mặc định: bây giờ")] = ""


class TimelineQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: Annotated[str, Field(pattern="^(json|html)$")] = "json"


class ReportQuery(AsOfQuery):
    format: Annotated[str, Field(pattern="^(json|csv|html)$")] = "json"


class Empty(BaseModel):
    """A body with nothing in it: ``{}``."""

    model_config = ConfigDict(extra="forbid")


class ExpectedVersion(BaseModel):
    """Mixed into every exemplar change: refuse if the exemplar changed since (or If-Match)."""

    expected_version: Annotated[int, Field(ge=0)] | None = None


PROBLEM = {
    "type": "object",
    "description": "RFC 9457 problem details; ``title`` in Vietnamese for the officer, ``detail`` in English.",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
        "detail": {"type": "string"}, "field": {"type": "string"}, "rule": {"type": "string"},
        "id": {"type": "string"}, "request_id": {"type": "string"},
    },
}
PROBLEMS = {  # status -> when it is answered
    400: "Dữ liệu không hợp lệ (trường sai được nêu trong «field»).",
    401: "Thiếu hoặc sai mã truy cập.",
    403: "Vai trò hoặc phạm vi của mã truy cập không cho phép.",
    404: "Không có đối tượng này.",
    409: "Quy tắc nghiệp vụ từ chối («rule»), hoặc có người đã thay đổi trước («concurrent-change»).",
    413: "Nội dung gửi lên quá lớn.",
    500: "Lỗi hệ thống; chi tiết ghi trong nhật ký theo «request_id».",
    504: "Dịch vụ không trả lời kịp.",
}
OBJECT = {"type": "object"}
LIST = {"type": "array", "items": OBJECT}
PAGE = {"type": "object", "required": ["total", "items"],
        "properties": {"total": {"type": "integer", "minimum": 0}, "items": LIST}}
UUID = {"type": "string", "format": "uuid"}
CODE = {"type": "string", "pattern": CODE_PATTERN}
IDENT = {"type": "string", "minLength": 1, "maxLength": 200}
USER_NAME = {"type": "string", "pattern": USER_NAME_PATTERN}


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # OpenAPI style: /exemplars/{exemplar_id}
    summary: str
    roles: tuple[str, ...] | None  # None: public
    body: type[BaseModel] | tuple[type[BaseModel], ...] | None = None
    query: type[BaseModel] | None = None
    parameters: dict[str, dict] = field(default_factory=dict)  # path parameter -> schema
    response: dict = field(default_factory=lambda: OBJECT)
    status: int = 200
    media_type: str = "application/json"
    also: tuple[str, ...] = ()  # other media types the same response may take (?format=)


def _operations() -> list[Operation]:
    exemplar = {"exemplar_id": UUID}
    council = {"council": CODE}
    case = council | {"case_id": UUID}
    ops = [
        Operation("GET", "/health", "Dịch vụ cổng đang chạy.", None),
        Operation("GET", "/ready", "Mọi dịch vụ cổng cần đều trả lời.", None),
        Operation("GET", "/catalog", "Danh mục: hình thức khen thưởng, lĩnh vực, phong trào, loại đối tượng.", None),
        Operation("GET", "/openapi.json", "Tài liệu OpenAPI này.", None),
        Operation("GET", "/docs", "Trang đọc tài liệu API.", None, media_type="text/html"),
        Operation("POST", "/exemplars", "Phát hiện một điển hình mới.", (OFFICER,), body=Detect, status=201),
        Operation("GET", "/exemplars", "Danh sách điển hình (một trang).", (OFFICER, AUDITOR), query=ListFilter,
                  response=PAGE),
        Operation("GET", "/exemplars/{exemplar_id}", "Một điển hình.", (OFFICER, AUDITOR), parameters=exemplar),
        Operation("GET", "/exemplars/{exemplar_id}/history", "Lịch sử một điển hình.", (OFFICER, AUDITOR),
                  parameters=exemplar, response=LIST),
    ]
    for action, command in ACTIONS.items():
        ops.append(Operation("POST", f"/exemplars/{{exemplar_id}}/{action}", ACTION_SUMMARIES[command], (OFFICER,),
                             body=(CHANGE_COMMANDS[command], ExpectedVersion), parameters=exemplar))
    ops += [
        Operation("GET", "/councils", "Các hội đồng theo thời gian: cấp, cấp trên, địa bàn, hiệu lực.", None,
                  response=LIST),
        Operation("GET", "/operator/councils", "Hàng đợi của từng hội đồng.", (OPERATOR, AUDITOR), response=LIST),
        Operation("GET", "/councils/{council}/cases", "Hồ sơ của hội đồng (một trang).", (SECRETARY, AUDITOR),
                  query=CaseQuery, parameters=council, response=PAGE),
        Operation("GET", "/councils/{council}/cases/{case_id}", "Một hồ sơ, kèm điều kiện và lịch sử điển hình.",
                  (SECRETARY, AUDITOR), parameters=case),
    ]
    for action, command in CASE_ACTIONS.items():
        ops.append(Operation("POST", f"/councils/{{council}}/cases/{{case_id}}/{action}", ACTION_SUMMARIES[command],
                             (SECRETARY,), body=CASE_COMMANDS[command], parameters=case))
    ops += [
        Operation("POST", "/councils/{council}/awards/{award_id}/revocation", "Thu hồi một quyết định khen thưởng.",
                  (SECRETARY,), body=Revoke, parameters=council | {"award_id": UUID}),
        Operation("GET", "/councils/{council}/awards", "Sổ khen thưởng của hội đồng (một trang).",
                  (SECRETARY, AUDITOR), query=AwardFilter, parameters=council, response=PAGE),
        Operation("POST", "/subscriptions", "Đăng ký nhận thông báo.", (OFFICER, OPERATOR), body=Subscribe, status=201),
        Operation("POST", "/subscriptions/{subscription_id}/preferences", "Đổi cách nhận thông báo.",
                  (OFFICER, OPERATOR), body=Preferences, parameters={"subscription_id": UUID}),
        Operation("POST", "/subscriptions/{subscription_id}/cancellation", "Huỷ đăng ký.", (OFFICER, OPERATOR),
                  body=Cancel, parameters={"subscription_id": UUID}),
        Operation("POST", "/subscriptions/{subscription_id}/secret",
                  "Đổi khóa ký webhook; khóa do hệ thống tạo được trả về một lần («webhook_secret»).", (OPERATOR,),
                  body=RotateSecret, parameters={"subscription_id": UUID}),
        Operation("POST", "/operator/reseal-secrets", "Niêm phong lại mọi khóa ký webhook bằng khóa mới nhất.",
                  (OPERATOR,), body=Empty),
        Operation("GET", "/inbox/{recipient_id}", "Hộp thư (một trang), số chưa đọc.", ROLES, query=Page,
                  parameters={"recipient_id": IDENT}, response=PAGE),
        Operation("POST", "/inbox/{recipient_id}/read", "Đánh dấu đã đọc.", (OFFICER, SECRETARY, OPERATOR),
                  body=DeliveryIds, parameters={"recipient_id": IDENT}),
        Operation("GET", "/deliveries", "Trạng thái gửi của một sự kiện (một trang).", (OPERATOR, AUDITOR),
                  query=DeliveriesQuery, response=PAGE),
        Operation("GET", "/operator/parked", "Thông báo bị giữ lại (một trang).", (OPERATOR, AUDITOR), query=Page,
                  response=PAGE),
        Operation("POST", "/operator/replay", "Gửi lại thông báo bị giữ lại.", (OPERATOR,), body=DeliveryIds),
        Operation("GET", "/accounts", "Tài khoản đăng nhập trang web (một trang).", (ADMIN,), query=Page,
                  response=PAGE),
        Operation("POST", "/accounts", "Tạo tài khoản đăng nhập trang web.", (ADMIN,), body=NewAccount,
                  status=201),
        Operation("POST", "/accounts/{user_name}/disabled", "Vô hiệu hoá một tài khoản (đóng mọi phiên của nó).",
                  (ADMIN,), body=Disable, parameters={"user_name": USER_NAME}),
        Operation("GET", "/audit/timeline/{exemplar_id}", "Dòng thời gian qua mọi dịch vụ.", (AUDITOR,),
                  query=TimelineQuery, parameters=exemplar, response=LIST, also=("text/html",)),
        Operation("GET", "/audit/as-of/{aggregate_id}", "Trạng thái tại một thời điểm.", (AUDITOR,), query=AsOfQuery,
                  parameters={"aggregate_id": UUID}),
        Operation("GET", "/audit/register", "Sổ khen thưởng tại một thời điểm.", (AUDITOR,), query=AsOfQuery,
                  response=LIST),
        Operation("GET", "/audit/verify", "Kiểm tra toàn vẹn nhật ký.", (AUDITOR,), response=LIST),
        Operation("GET", "/audit/reports/{year}", "Báo cáo năm.", (AUDITOR,), query=ReportQuery,
                  parameters={"year": {"type": "integer", "minimum": 0, "maximum": 9999}},
                  also=("text/csv", "text/html")),
    ]
    return ops


def _schema_of(models: type[BaseModel] | tuple[type[BaseModel], ...], components: dict) -> dict:
    """A model's JSON schema with its nested models moved to ``components``; several models: allOf."""
    if isinstance(models, tuple):
        parts = [_schema_of(model, components) for model in models]
        # one object: the command's fields plus the mixed-in ones, nothing else
        merged = {"type": "object", "properties": {}, "required": [], "additionalProperties": False}
        for part in parts:
            resolved = components[part["$ref"].rsplit("/", 1)[1]]
            merged["properties"] |= resolved.get("properties", {})
            merged["required"] += resolved.get("required", [])
        name = "".join(model.__name__ for model in models)
        components[name] = merged
        return {"$ref": f"#/components/schemas/{name}"}
    schema = models.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, nested in schema.pop("$defs", {}).items():
        components[name] = nested
    components[models.__name__] = schema
    return {"$ref": f"#/components/schemas/{models.__name__}"}


def _query_parameters(model: type[BaseModel], components: dict) -> list[dict]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, nested in schema.pop("$defs", {}).items():
        components[name] = nested
    required = set(schema.get("required", []))
    parameters = []
    for name, prop in schema.get("properties", {}).items():
        prop = copy.deepcopy(prop)
        prop.pop("default", None)
        # a query parameter is absent or text, never JSON null
        choices = [choice for choice in prop.pop("anyOf", []) if choice.get("type") != "null"]
        if choices:
            prop |= choices[0] if len(choices) == 1 else {"anyOf": choices}
        description = prop.pop("description", None)
        prop.pop("title", None)
        parameter = {"name": name, "in": "query", "required": name in required, "schema": prop}
        if description:
            parameter["description"] = description
        parameters.append(parameter)
    return parameters


class WebhookDelivery(BaseModel):
    """What a subscriber's webhook receives (notifications' worker), signed by Standard Webhooks headers."""

    delivery_id: str
    recipient_id: str
    subject: str
    body: str
    locale: str
    event: WireEvent


def _webhooks(components: dict) -> dict:
    """One entry per event type a subscription may name (the wire registry): the body sent,
    with that type's payload schema."""
    delivery = _schema_of(WebhookDelivery, components)
    hooks = {}
    for name in sorted(fanned_out()):
        entry = WIRE_TYPES[name]
        payload = _schema_of(entry.payload, components)
        hooks[name] = {"post": {
            "operationId": "webhook_" + name.replace(".", "_"),
            "summary": f"{entry.summary_vi}; do dịch vụ {entry.emitted_by} phát.",
            "requestBody": {"required": True, "content": {"application/json": {"schema": {"allOf": [
                delivery, {"type": "object", "properties": {"event": {"type": "object", "properties": {
                    "type": {"const": name}, "payload": payload}}}}]}}}},
            "responses": {"200": {"description": "Đã nhận."}},
        }}
    return hooks


# What a producer's answer names, and the operations that take it (OpenAPI links): a client, or a
# stateful fuzzer, follows them from a made exemplar, subscription, or a listed case to its actions.
LINKS = (  # (producer, answer's pointer, path parameter, consumers: paths starting so, other parameters)
    ("post /exemplars", "/id", "exemplar_id", "/exemplars/{exemplar_id}", {}),
    ("post /exemplars", "/id", "exemplar_id", "/audit/timeline/{exemplar_id}", {}),
    ("post /subscriptions", "/id", "subscription_id", "/subscriptions/{subscription_id}", {}),
    ("get /councils/{council}/cases", "/items/0/id", "case_id", "/councils/{council}/cases/{case_id}",
     {"council": "$request.path.council"}),
    ("get /councils/{council}/awards", "/items/0/id", "award_id", "/councils/{council}/awards/{award_id}",
     {"council": "$request.path.council"}),
)


def _links(paths: dict) -> None:
    for producer, pointer, name, prefix, others in LINKS:
        method, path = producer.split(" ", 1)
        answer = paths[path][method]["responses"]
        links = answer[next(iter(answer))].setdefault("links", {})
        for consumer_path, methods in paths.items():
            if consumer_path.startswith(prefix):
                for operation in methods.values():
                    links[operation["operationId"]] = {"operationId": operation["operationId"], "parameters": {
                        name: f"$response.body#{pointer}", **others}}


def document() -> dict:
    """The whole OpenAPI 3.1 document."""
    components: dict[str, dict] = {"Problem": PROBLEM}
    paths: dict[str, dict] = {}
    for op in _operations():
        operation = {
            "operationId": f"{op.method.lower()}{op.path.replace('/', '_').replace('{', '').replace('}', '')}",
            "summary": op.summary,
            "responses": {str(op.status): {"description": "Thành công.", "content": {
                media: {"schema": op.response if media == "application/json" else {"type": "string"}}
                for media in (op.media_type, *op.also)}}},
        }
        parameters = [{"name": name, "in": "path", "required": True, "schema": schema}
                      for name, schema in op.parameters.items()]
        if op.query is not None:
            parameters += _query_parameters(op.query, components)
        if parameters:
            operation["parameters"] = parameters
        if op.body is not None:
            operation["requestBody"] = {"required": True, "content": {
                "application/json": {"schema": _schema_of(op.body, components)}}}
        if op.roles is None:
            operation["security"] = []
        else:
            operation["x-roles"] = list(op.roles)
            operation["description"] = "Vai trò: " + ", ".join(op.roles) + "."
        for status, description in PROBLEMS.items():
            if op.roles is None and status in (401, 403):
                continue
            operation["responses"][str(status)] = {"description": description, "content": {
                "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
        if op.method == "POST" and op.path.startswith(IDEMPOTENT) and op.path not in NOT_IDEMPOTENT:
            operation.setdefault("parameters", []).append({
                "name": "Idempotency-Key", "in": "header", "required": False,
                "schema": {"type": "string", "pattern": "^[\\x21-\\x7e]{1,200}$"},
                "description": "Mã thử lại: gửi lại cùng mã thì nhận lại câu trả lời lần đầu, không tạo thay đổi thứ hai."})
        if op.method == "POST" and op.path.startswith("/exemplars/{"):
            operation["parameters"].append({"name": "If-Match", "in": "header", "required": False,
                                            "schema": {"type": "string", "pattern": '^"?[0-9]{1,9}"?$'},
                                            "description": "Phiên bản mong đợi của điển hình."})
        paths.setdefault(op.path, {})[op.method.lower()] = operation
    _links(paths)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Điển hình tiên tiến — API", "version": VERSION,
                 "description": "Phát hiện, bồi dưỡng, khen thưởng và nhân rộng điển hình tiên tiến."},
        "paths": paths,
        "webhooks": _webhooks(components),
        "components": {"schemas": components, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}},
        "security": [{"bearer": []}],
    }


def docs_html(doc: dict) -> str:
    """The browsable page of ``doc`` (/docs): every operation grouped by its first path part."""
    groups: dict[str, list] = {}
    for path, methods in doc["paths"].items():
        for method, operation in methods.items():
            first = path.strip("/").split("/")[0]
            groups.setdefault("hệ thống" if first in PUBLIC_GROUP else first, []).append((path, method, operation))

    def body_schema(operation: dict) -> dict:
        ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        return doc["components"]["schemas"][ref.rsplit("/", 1)[1]]

    def webhook_fields(hook: dict) -> list[str]:
        schema = hook["post"]["requestBody"]["content"]["application/json"]["schema"]["allOf"][1]
        ref = schema["properties"]["event"]["properties"]["payload"]["$ref"]
        return list(doc["components"]["schemas"][ref.rsplit("/", 1)[1]]["properties"])

    return TEMPLATES.get_template("docs.html.j2").render(
        doc=doc, groups=list(groups.items()), body_schema=body_schema, webhook_fields=webhook_fields,
        roles_vi=lambda roles: ", ".join(ROLE_NAMES_VI[role] for role in roles))
