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
