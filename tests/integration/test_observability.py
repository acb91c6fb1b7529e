"""What operators see, end to end: every process's /metrics (prometheus-client's text format),
JSON log lines, and one request's id from the HTTP request through RPC to the events it stored."""

import datetime as dt
import json
import uuid

import kombu
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from conftest import LIFECYCLE, STEPS, detect_data, start_system, wait_for
from gateway.http import ACTIONS

pytestmark = pytest.mark.integration
ACTION_OF = {command: action for action, command in ACTIONS.items()}


@pytest.fixture(scope="module")
def json_system(tmp_path_factory):
    """The system of `make run`, logging as deployments do: one JSON object a line."""
    yield from start_system(tmp_path_factory, extra_env={"LOG_FORMAT": "json"})


def scrape(process) -> tuple[str, dict]:
    response = requests.get(process.metrics_url + "/metrics", timeout=10)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/plain")
    return response.text, {family.name: family for family in text_string_to_metric_families(response.text)}


def value(families: dict, family: str, sample: str | None = None, **labels) -> float:
    """One sample's value (0 if the labelled sample is not there yet)."""
    found = [s.value for s in families[family].samples
             if s.name == (sample or family) and all(s.labels.get(k) == v for k, v in labels.items())]
    return sum(found)


def post(system, path, body, headers=None):
    return requests.post(system.url(path), json=body, timeout=30, headers=system.auth_for(path) | (headers or {}))


def listen(connection, exchange: str, routing_key: str):
    """A queue of the test's own on a services' events exchange: what the relays publish, headers and all."""
    queue = kombu.Queue(f"observability-{uuid.uuid4().hex[:8]}", kombu.Exchange(exchange, type="topic", durable=True),
                        routing_key=routing_key, exclusive=True)(connection.default_channel)
    queue.declare()
    return queue


def log_lines(system, name: str) -> list[dict]:
    """The process's log lines, each one JSON object (Python's own start-up warnings are no log lines)."""
    text = (system.logs / f"{name}.log").read_text(errors="replace")
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_every_process_serves_its_metrics_with_help_and_type(json_system):
    wanted = {"nominations": {"exemplars_calls", "exemplars_events_stored", "exemplars_relay_backlog_events",
                              "exemplars_read_model_lag_events", "exemplars_read_model_parked_events",
                              "exemplars_parked_messages"},
              "awards-huyen-yen-the": {"exemplars_calls", "exemplars_events_stored", "exemplars_relay_backlog_events",
                                       "exemplars_read_model_lag_events", "exemplars_parked_messages"},
              "notifications": {"exemplars_deliveries", "exemplars_deliveries_sent", "exemplars_delivery_queue_depth",
                                "exemplars_delivery_lag_seconds", "exemplars_events_stored"},
              "notifications-worker-1": {"exemplars_calls", "exemplars_parked_messages"},
              "gateway": {"exemplars_http_requests", "exemplars_http_request_duration_seconds", "exemplars_calls"}}
    addresses = set()
    for name, process in json_system.processes.items():
        addresses.add(process.metrics_url)
        text, families = scrape(process)
        for family in wanted.get(name, {"exemplars_calls"}):
            assert family in families, (name, family)
            exposed = family + ("_total" if families[family].type == "counter" else "")
            assert f"# HELP {exposed} " in text and f"# TYPE {exposed} {families[family].type}" in text
            assert families[family].documentation
    assert len(addresses) == len(json_system.processes)  # each process its own address


def test_counters_rise_after_a_command_and_the_request_id_follows_it(json_system):
    nominations, gateway = json_system.processes["nominations"], json_system.processes["gateway"]
    _, before = scrape(nominations)
    _, gateway_before = scrape(gateway)
    request_id = f"test-{uuid.uuid4().hex}"

    with kombu.Connection(json_system.amqp_uri) as connection:
        published = listen(connection, "nominations.events", "#")
        created = post(json_system, "/exemplars", detect_data(), {"X-Request-Id": request_id})
        assert created.status_code == 201, created.text
        assert created.headers["X-Request-Id"] == request_id
        message = wait_for(lambda: published.get(no_ack=True), what="the detected event on the exchange")
        assert message.payload["type"] == "exemplar.detected"
        assert message.headers["nameko.request_id"] == request_id  # beside the signed body, not in it
        assert "request_id" not in message.payload["payload"]

    _, after = scrape(nominations)
    assert value(after, "exemplars_calls", "exemplars_calls_total", entrypoint="detect", outcome="handled") == \
        value(before, "exemplars_calls", "exemplars_calls_total", entrypoint="detect", outcome="handled") + 1
    assert value(after, "exemplars_events_stored", "exemplars_events_stored_total") > \
        value(before, "exemplars_events_stored", "exemplars_events_stored_total")
    _, gateway_after = scrape(gateway)
    route = dict(method="POST", route="/exemplars", status="201")
    assert value(gateway_after, "exemplars_http_requests", "exemplars_http_requests_total", **route) == \
        value(gateway_before, "exemplars_http_requests", "exemplars_http_requests_total", **route) + 1
    assert value(gateway_after, "exemplars_http_request_duration_seconds",
                 "exemplars_http_request_duration_seconds_count", method="POST", route="/exemplars") >= 1

    # a refused command: the nominations service logs it, as JSON, under the request's id
    exemplar_id = created.json()["id"]
    refused_id = f"test-{uuid.uuid4().hex}"
    early = post(json_system, f"/exemplars/{exemplar_id}/nominations", STEPS["nominate"], {"X-Request-Id": refused_id})
    assert early.status_code == 409 and early.headers["X-Request-Id"] == refused_id
    line = wait_for(lambda: [e for e in log_lines(json_system, "nominations") if e.get("request_id") == refused_id
                             and e["logger"] == "shared.nameko_support"], timeout=10, what="the refusal's log line")[0]
    assert line["level"] == "INFO" and line["message"].startswith("change refused: rule 'review-required'")
    assert line["service"] == "nominations" and line["instance"] == json_system.env["NOMINATIONS_INSTANCE_ID"]
    assert dt.datetime.fromisoformat(line["time"]).utcoffset() == dt.timedelta(0)
    said = [e for e in log_lines(json_system, "gateway") if e.get("request_id") == refused_id]  # its 409
    assert said and said[0]["service"] == said[0]["instance"] == "gateway" and "409" in said[0]["message"]
    _, refused = scrape(nominations)
    assert value(refused, "exemplars_calls", "exemplars_calls_total", entrypoint="change", command="nominate",
                 outcome="refused") >= 1


def test_a_request_without_an_id_gets_one_and_the_council_names_it_on_the_case_it_opened(json_system):
    created = post(json_system, "/exemplars", detect_data())
    assert created.status_code == 201
    made = created.headers["X-Request-Id"]
    assert len(made) == 32 and int(made, 16) >= 0  # ours: a uuid4's hex
    exemplar_id = created.json()["id"]
    with kombu.Connection(json_system.amqp_uri) as connection:
        opened = listen(connection, "awards.events", "case.opened")
        nominate_id = f"test-{uuid.uuid4().hex}"
        for step in LIFECYCLE[:LIFECYCLE.index("nominate") + 1]:
            headers = {"X-Request-Id": nominate_id} if step == "nominate" else {}
            response = post(json_system, f"/exemplars/{exemplar_id}/{ACTION_OF[step]}", STEPS[step], headers)
            assert response.status_code == 200, response.text
        # the council consumed the nomination under its request id, and stamped the case it opened
        message = wait_for(lambda: opened.get(no_ack=True), timeout=30, what="the district's case.opened")
        assert message.payload["payload"]["exemplar_id"] == exemplar_id
        assert message.headers["nameko.request_id"] == nominate_id
