"""The published HTTP contract (gateway.openapi): every route is in it, it is served at
/openapi.json and /docs, and schemathesis runs the whole of it against a running system on
PostgreSQL — no server error anywhere, and no refused request stores anything.

Schemathesis draws the requests from the document itself. Only the path parameters that name
things are narrowed to things that exist here (this system's councils and one real exemplar,
besides random ids), so the requests reach past "not found" into the commands' own checks.
"""

from __future__ import annotations

import collections
import copy
import re
import time

import psycopg2
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig
from schemathesis.checks import (content_type_conformance, negative_data_rejection, not_a_server_error,
                                 response_schema_conformance, status_code_conformance)

from conftest import detect_data
from gateway import access, openapi
from gateway.http import GatewayService

DOCUMENT = openapi.document()
EXAMPLES_PER_OPERATION = 12
STATEFUL_SEQUENCES = 40  # sequences of up to 6 linked calls
RUNNING = ("huyen-yen-the", "tinh-bac-giang", "xa-yen-the", "tinh-bac-ninh")


def routes_of_the_gateway() -> set[tuple[str, str]]:
    """(method, OpenAPI path) of every nameko http entrypoint, URL actions expanded."""
    found = set()
    for member in vars(GatewayService).values():
        for entrypoint in getattr(member, "nameko_entrypoints", ()):
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", entrypoint.url)
            if path.endswith("/{action}"):
                actions = openapi.CASE_ACTIONS if path.startswith("/councils") else openapi.ACTIONS
                found |= {(entrypoint.method, path.replace("{action}", action)) for action in actions}
            else:
                found.add((entrypoint.method, path))
    return found


def test_every_route_of_the_gateway_is_in_the_document_and_nothing_else():
    documented = {(method.upper(), path) for path, methods in DOCUMENT["paths"].items() for method in methods}
    assert routes_of_the_gateway() == documented
    for path, methods in DOCUMENT["paths"].items():
        for method, operation in methods.items():
            assert operation["summary"] and "500" in operation["responses"], (method, path)
            if operation.get("security") != []:
                assert operation["x-roles"] and {"401", "403"} <= set(operation["responses"]), (method, path)


def test_the_document_is_valid_openapi_3_1_and_bodies_carry_the_validators_limits():
    schemathesis.openapi.from_dict(DOCUMENT)  # refuses a document that is not OpenAPI
    schemas = DOCUMENT["components"]["schemas"]
    assert schemas["Detect"]["properties"]["name"]["maxLength"] == 500
    assert schemas["Detect"]["additionalProperties"] is False
    body = DOCUMENT["paths"]["/exemplars/{exemplar_id}/nominations"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/NominateExpectedVersion"}
    assert "award_year" in schemas["NominateExpectedVersion"]["properties"]


def test_webhooks_document_every_event_a_subscription_may_name_from_the_wire_registry():
    from shared.contracts.wire_events import WIRE_TYPES, fanned_out

    assert set(DOCUMENT["webhooks"]) == set(fanned_out()) and "exemplar.detected" in DOCUMENT["webhooks"]
    granted = DOCUMENT["webhooks"]["award.granted"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    event = granted["allOf"][1]["properties"]["event"]["properties"]
    assert event["type"] == {"const": "award.granted"}
    payload = DOCUMENT["components"]["schemas"][event["payload"]["$ref"].rsplit("/", 1)[1]]
    assert set(payload["required"]) == set(WIRE_TYPES["award.granted"].payload.model_fields) >= {"jurisdiction"}


def test_the_document_and_its_page_are_served_without_a_token(system):
    served = requests.get(system.url("/openapi.json"), timeout=10)
    assert served.status_code == 200 and served.json() == DOCUMENT
    page = requests.get(system.url("/docs"), timeout=10)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    for path in DOCUMENT["paths"]:
        assert f"<code>{path}</code>" in page.text
    assert "Phát hiện một điển hình mới." in page.text


# -- schemathesis over the whole document ------------------------------------------------------

def narrowed(document: dict, exemplar_id: str | None) -> dict:
    """The document with the naming path parameters drawn from what exists here (or random);
    no ``exemplar_id``: exemplars only as the links bring them (or random)."""
    doc = copy.deepcopy(document)
    for methods in doc["paths"].values():
        for operation in methods.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] != "path":
                    continue
                if parameter["name"] == "council":
                    parameter["schema"] = {"enum": [*RUNNING, "trung-uong"]}
                elif parameter["name"] == "exemplar_id" and exemplar_id:
                    parameter["schema"] = {"anyOf": [{"enum": [exemplar_id]}, parameter["schema"]]}
    return doc


@pytest.fixture(scope="module")
def fuzzed(system):
    created = requests.post(system.url("/exemplars"), json=detect_data(), headers=system.auth(), timeout=30)
    assert created.status_code == 201, created.text
    return schemathesis.openapi.from_dict(narrowed(DOCUMENT, created.json()["id"]))


def stores_of(system) -> dict[str, tuple]:
    """Each instance's database (a connection kept open) and the table its event log is in."""
    stores = {}
    for source in system.env["AUDIT_SOURCES"].split(","):
        name, url = source.split("=", 1)
        conn = psycopg2.connect(url)
        conn.autocommit = True
        stores[name] = (conn, f"{name.split(':')[0]}_events")
    return stores


def stored_events(stores: dict[str, tuple]) -> dict[str, int]:
    counts = {}
    for name, (conn, table) in stores.items():
        with conn.cursor() as cur:
            cur.execute(f"SELECT count(*) FROM {table}")
            counts[name] = cur.fetchone()[0]
    return counts


def headers_for(system, case) -> dict:
    """Whom the operation is for: its first role, scoped to the path it names."""
    roles = case.operation.definition.raw.get("x-roles")
    if not roles:
        return {}
    params = case.path_parameters or {}
    if "recipient_id" in params:
        sub = params["recipient_id"] if access.SUBJECT.fullmatch(str(params["recipient_id"])) else "schemathesis"
        return system.auth(access.OFFICER, sub=sub)
    role = roles[0]
    if role == access.SECRETARY:
        council = params.get("council") if params.get("council") in RUNNING else RUNNING[0]
        return system.auth(role, council=council)
    return system.auth(role)


def settled(stores, quiet: float = 0.3, longest: float = 15.0) -> None:
    """Wait until no log grows for ``quiet`` seconds: what a successful command set going in other
    services (a case opened, the exemplar's step recorded) lands before the next refusal is judged."""
    deadline, counts = time.monotonic() + longest, stored_events(stores)
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = stored_events(stores)
        if now == counts:
            return
        counts = now


def refusals_change_nothing(system, stores, case, call):
    before = stored_events(stores)
    response = call()
    if response.status_code >= 400:
        after = stored_events(stores)
        assert after == before, f"{case.method} {case.formatted_path} -> {response.status_code} stored events"
    return response


CHECKS = {GenerationMode.POSITIVE: [not_a_server_error, status_code_conformance, content_type_conformance,
                                     response_schema_conformance],
          GenerationMode.NEGATIVE: [not_a_server_error, status_code_conformance, content_type_conformance,
                                     negative_data_rejection]}


def fuzz(system, stores, operation, mode, checks, operations: set, statuses: collections.Counter):
    """A hypothesis test of one operation in one generation mode."""

    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(operation.as_strategy(generation_mode=mode))
    def run(case):
        operations.add(f"{case.method} {case.path}")
        response = refusals_change_nothing(system, stores, case, lambda: case.call(
            base_url=system.base_url, headers=headers_for(system, case), timeout=60))
        statuses[mode.value, response.status_code] += 1
        case.validate_response(response, checks=checks)

    return run


def takes_input(operation) -> bool:
    raw = operation.definition.raw
    return bool(raw.get("parameters") or raw.get("requestBody"))


def test_schemathesis_finds_no_server_error_and_no_refusal_that_stores_anything(system, fuzzed):
    """Each operation with data its schema allows and data it does not: no 5xx, every answer
    documented, invalid data refused, and a refusal leaves every event log as it was."""
    stores = stores_of(system)
    failures, operations, statuses = [], set(), collections.Counter()
    for result in fuzzed.get_all_operations():
        operation = result.ok()
        for mode, checks in CHECKS.items():
            if mode is GenerationMode.NEGATIVE and not takes_input(operation):
                continue  # nothing in the request to get wrong
            try:
                fuzz(system, stores, operation, mode, checks, operations, statuses)()
            except (Exception, BaseExceptionGroup) as error:  # collected: one run names every failing operation
                failures.append(f"{mode.value} {operation.method.upper()} {operation.path}: {error}")
    for mode in CHECKS:
        print(f"\nschemathesis {mode.value}: {sum(n for (m, _), n in statuses.items() if m == mode.value)} requests, "
              f"statuses {dict(sorted((s, n) for (m, s), n in statuses.items() if m == mode.value))}")
    print(f"schemathesis: {len(operations)} operations, {len(failures)} failing")
    for conn, _ in stores.values():
        conn.close()
    assert not failures, "\n\n".join(failures)
    assert len(operations) == sum(len(m) for m in DOCUMENT["paths"].values())
    # the requests got past authentication into the routes: answers, not only refusals
    assert statuses["positive", 200] > 50 and statuses["positive", 401] == 0 and statuses["negative", 400] > 50


# -- schemathesis following the document's links ---------------------------------------------

def nominated_over_http(system) -> str:
    """An exemplar taken through review and nominated over the API, so its council lists a case."""
    from conftest import LIFECYCLE, STEPS

    route = {command: action for action, command in openapi.ACTIONS.items()}
    made = requests.post(system.url("/exemplars"), json=detect_data(), headers=system.auth(), timeout=30).json()["id"]
    for step in [*LIFECYCLE[:4], "nominate"]:
        answer = requests.post(system.url(f"/exemplars/{made}/{route[step]}"), json=STEPS[step],
                               headers=system.auth(), timeout=30)
        assert answer.status_code == 200, answer.text
    return made


def test_schemathesis_follows_the_links_from_what_it_made_to_what_it_can_change(system):
    """Stateful: sequences that begin by making an exemplar or a subscription, or by listing a
    council's cases, and go on with the ids those answers name (the document's links) — so the
    actions run on real exemplars, cases and subscriptions, not only on ids that do not exist.
    Every answer is checked as above, and a refusal stores nothing."""
    assert "post_exemplars_exemplar_id_progress" in DOCUMENT["paths"]["/exemplars"]["post"]["responses"]["201"]["links"]
    nominated = nominated_over_http(system)
    wait_for_case = [c for _ in range(60) for c in [requests.get(
        system.url(f"/councils/{RUNNING[0]}/cases"), headers=system.auth(access.SECRETARY, council=RUNNING[0]),
        timeout=30).json()["items"]] if any(case["exemplar_id"] == nominated for case in c) or time.sleep(0.5)]
    assert wait_for_case, "the nomination never reached its council"
    stores, statuses = stores_of(system), collections.Counter()
    doc = narrowed(DOCUMENT, exemplar_id=None)
    # a detection the catalogs accept (otherwise nearly every random one is refused, and nothing is made)
    detect = doc["components"]["schemas"]["Detect"]["properties"]
    detect["subject_kind"] = {"enum": ["household", "individual"]}
    detect["field"] = {"enum": ["household-economy", "new-rural-areas"]}
    detect["movement"] = {"enum": ["farmers-good-business"]}
    detect["business_date"] = {"enum": ["2018-04-16", "2019-11-02"]}
    for name, schema in doc["components"]["schemas"].items():  # later steps on later days, forms the catalog has
        properties = schema.get("properties", {})
        if name != "Detect" and "business_date" in properties:
            properties["business_date"] = {"enum": ["2020-03-02", "2020-10-15"]}
        if "award_form" in properties:
            properties["award_form"] = {"enum": ["giay-khen", "bang-khen-tinh"]}
    for name in ("national_id", "unit_code", "subject_id"):
        detect.pop(name)  # a new subject each time, not a guess at another's identity
    for path in ("/councils/{council}/cases", "/councils/{council}/awards"):  # the producers list what exists
        get = doc["paths"][path]["get"]
        get["parameters"] = [p for p in get["parameters"] if p["in"] != "query"]
    for methods in doc["paths"].values():  # the council the nominated exemplar went to
        for operation in methods.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path" and parameter["name"] == "council":
                    parameter["schema"] = {"enum": [RUNNING[0]]}
    subscribe = doc["components"]["schemas"]["Subscribe"]["properties"]
    subscribe["fields"] = {"type": "array", "items": {"enum": ["household-economy"]}, "maxItems": 1}
    subscribe["movements"] = {"type": "array", "items": {"enum": ["farmers-good-business"]}, "maxItems": 1}
    subscribe["event_types"] = {"type": "array", "items": {"enum": ["exemplar.awarded", "case.opened"]}, "maxItems": 2}
    subscribe["channels"] = {"type": "array", "minItems": 1, "maxItems": 1, "items": {
        "type": "object", "properties": {"channel": {"const": "inbox"}}, "required": ["channel"],
        "additionalProperties": False}}
    # only the document's own links: no links guessed from names (GET /councils' codes are not case ids)
    config = SchemathesisConfig.from_dict({"generation": {"mode": "positive", "with-security-parameters": False},
                                           "phases": {"stateful": {"inference": {"algorithms": []}}}})
    schema = schemathesis.openapi.from_dict(doc, config=config)

    changed = [False]

    def workflow(part):
        class Workflow(part.as_state_machine()):
            def before_call(self, case):
                # who would make this call, over whatever headers were generated
                who = (system.auth(access.OPERATOR) if case.path.startswith("/subscriptions")
                       else headers_for(system, case))
                case.headers = {**(case.headers or {}), **who}

            def get_call_kwargs(self, case):
                return {"base_url": system.base_url, "timeout": 60}

            def call(self, case, **kwargs):
                if changed[0]:  # the last call changed something: let what it set going land first
                    settled(stores)
                response = refusals_change_nothing(system, stores, case,
                                                   lambda: super(Workflow, self).call(case, **kwargs))
                changed[0] = case.method == "POST" and response.status_code < 300
                return response

            def validate_response(self, response, case, additional_checks=None, **kwargs):
                statuses[f"{case.method} {case.path}", response.status_code] += 1
                case.validate_response(response, checks=CHECKS[GenerationMode.POSITIVE])

        return Workflow

    try:  # one story at a time: what each producer makes, then what can be done to it
        for part in (r"^/(exemplars|audit/timeline)", r"^/subscriptions", r"^/councils/\{council\}/(cases|awards)"):
            settled(stores)
            workflow(schema.include(path_regex=part)).run(settings=settings(
                max_examples=STATEFUL_SEQUENCES, stateful_step_count=6, deadline=None, database=None,
                derandomize=True, suppress_health_check=list(HealthCheck),
                phases=[Phase.generate]))  # no shrinking: a replay meets a system already changed
    finally:
        for conn, _ in stores.values():
            conn.close()
    reached = {op for (op, status), n in statuses.items() if status == 200 and "{" in op}
    print(f"\nschemathesis stateful: {sum(statuses.values())} requests; operations with a real id answered 200: "
          f"{len(reached)}; statuses {dict(collections.Counter(s for (_, s) in statuses.elements()))}")
    # the links led somewhere: actions on a made exemplar, and on a listed case, were carried out
    assert any(op.startswith("POST /exemplars/{exemplar_id}/") for op in reached), "\n".join(map(str, sorted(statuses.items())))
    assert any(op.split(" ")[1].startswith("/councils/{council}/cases/{case_id}") for op in reached), "\n".join(map(str, sorted(statuses.items())))
    assert any(op.startswith("POST /subscriptions/{subscription_id}/") for op in reached), "\n".join(map(str, sorted(statuses.items())))
