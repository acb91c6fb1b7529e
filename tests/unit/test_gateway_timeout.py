"""A request whose service never replies gets a 504 after GATEWAY_RPC_TIMEOUT_S, not a worker held for ever."""

import json
from types import SimpleNamespace

import eventlet

from gateway import http


def test_a_reply_that_never_comes_is_a_504_that_says_the_change_may_be_stored(monkeypatch):
    monkeypatch.setattr(http, "RPC_TIMEOUT_S", 0.05)

    @http.translated
    def waits_for_a_lost_reply(self, request):
        eventlet.sleep(5)  # as RpcReply.result() waits on its event
        return http.json_response(200, {})

    response = waits_for_a_lost_reply(None, SimpleNamespace(method="POST", path="/exemplars/x/progress"))
    assert response.status_code == 504
    problem = json.loads(response.get_data())
    assert "có thể đã được lưu" in problem["title"] and problem["status"] == 504


def test_audit_routes_wait_longer_than_commands(monkeypatch):
    monkeypatch.setattr(http, "RPC_TIMEOUT_S", 0.05)

    @http.translated(timeout_s=1.0)
    def a_verify_that_takes_a_while(self, request):
        eventlet.sleep(0.2)  # longer than a command may wait, shorter than an audit
        return http.json_response(200, {"verified": True})

    @http.translated(timeout_s=0.05)
    def a_verify_that_takes_too_long(self, request):
        eventlet.sleep(5)
        return http.json_response(200, {})

    request = SimpleNamespace(method="GET", path="/audit/verify")
    assert a_verify_that_takes_a_while(None, request).status_code == 200
    late = a_verify_that_takes_too_long(None, request)
    assert late.status_code == 504 and json.loads(late.get_data())["detail"] == "no reply within 0 s"
