"""The log formatters and the request-id filter (shared.observability), without any service."""

import io
import json
import logging

import pytest

from shared import requests
from shared.observability import ContextFilter, JsonFormatter, PlainFormatter


@pytest.fixture
def logger():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter(service="nominations", instance="nominations-hoi-nong-dan-yen-the"))
    log = logging.getLogger(f"test.observability.{id(stream)}")
    log.propagate, log.level = False, logging.INFO
    log.addHandler(handler)
    yield log, handler, stream
    log.removeHandler(handler)


def test_a_json_line_names_time_level_logger_service_instance_and_the_request(logger):
    log, handler, stream = logger
    handler.setFormatter(JsonFormatter())
    log.info("ngoài yêu cầu")
    token = requests.set_request_id("0123456789abcdef0123456789abcdef")
    try:
        log.warning("%s refused: %s", "change", "Phải sơ kết \"trước\"", extra={"rule": "review-required"})
    finally:
        requests.reset_request_id(token)
    outside, inside = (json.loads(line) for line in stream.getvalue().splitlines())
    assert set(outside) == {"time", "level", "logger", "message", "service", "instance"}  # no request: no id
    assert outside["message"] == "ngoài yêu cầu" and "ngoài" in stream.getvalue()  # Vietnamese stays readable
    assert inside == inside | {"level": "WARNING", "logger": log.name, "service": "nominations",
                               "instance": "nominations-hoi-nong-dan-yen-the", "rule": "review-required",
                               "message": 'change refused: Phải sơ kết "trước"',
                               "request_id": "0123456789abcdef0123456789abcdef"}
    assert inside["time"].endswith("+00:00")


def test_an_exception_stays_inside_its_one_json_line(logger):
    log, handler, stream = logger
    handler.setFormatter(JsonFormatter())
    try:
        raise ValueError("hỏng\ndòng hai")
    except ValueError:
        log.exception("failed")
    (line,) = stream.getvalue().splitlines()
    assert "ValueError: hỏng" in json.loads(line)["exc_info"]


def test_a_plain_line_for_a_terminal_names_the_request_when_there_is_one(logger):
    log, handler, stream = logger
    handler.setFormatter(PlainFormatter())
    log.info("không có yêu cầu")
    token = requests.set_request_id("abcdef0123456789")
    log.info("có yêu cầu")
    requests.reset_request_id(token)
    first, second = stream.getvalue().splitlines()
    assert first.endswith("INFO nominations-hoi-nong-dan-yen-the " + log.name + ": không có yêu cầu")
    assert second.endswith(": có yêu cầu [request_id=abcdef0123456789]")


@pytest.mark.parametrize("given", ["short", "has space in it", "x" * 65, "line\nbreak12345", 42, None, "-leading-dash"])
def test_a_malformed_request_id_from_a_header_is_no_request_id(given):
    token = requests.set_request_id(given)
    try:
        assert requests.current_request_id() is None
    finally:
        requests.reset_request_id(token)


def test_events_stored_while_handling_a_request_carry_its_id_and_keep_an_earlier_one():
    class Event:
        pass

    first, second = Event(), Event()
    second.__dict__[requests.REQUEST_ID] = "an-earlier-request-id"
    token = requests.set_request_id("0123456789abcdef0123456789abcdef")
    try:
        requests.stamp([first, second], None, "", {})
    finally:
        requests.reset_request_id(token)
    assert requests.request_id_of(first) == "0123456789abcdef0123456789abcdef"
    assert requests.request_id_of(second) == "an-earlier-request-id"
    requests.stamp([third := Event()], None, "", {})  # no request being handled: nothing stamped
    assert requests.REQUEST_ID not in third.__dict__
