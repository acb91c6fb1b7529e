"""Kept-alive webhook connections: one the receiver closed is noticed and replaced, not reused."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from notifications.channels import WebhookPools


class ClosesAfterEachReply(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # the client keeps the connection for the next request
    served: list[str] = []

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        ClosesAfterEachReply.served.append(self.path)
        self.send_response(204)
        self.end_headers()
        self.close_connection = True  # then hangs up without saying so

    def log_message(self, *args):
        pass


class Served:
    def __init__(self):
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), ClosesAfterEachReply)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    served = Served()
    yield served.url
    served.close()


def test_a_connection_the_receiver_closed_is_replaced(receiver):
    pools = WebhookPools(concurrency=1)
    for n in range(3):  # reusing the hung-up socket would fail the next post
        assert pools.post(receiver, b"{}", {"Content-Type": "application/json"}) == 204
        pool = pools._manager.connection_from_url(receiver)
        connection = pool.pool.queue[-1]  # the connection the pool keeps for the next request
        threading.Event().wait(0.2)  # the receiver's hang-up arrives
        assert not connection.is_connected
    assert ClosesAfterEachReply.served[-3:] == ["/hook"] * 3


def test_more_receivers_than_kept_pools_are_all_reached():
    """The manager keeps pools for the ``receivers`` most used; the others are reached
    through a fresh pool, again and again."""
    servers = [Served() for _ in range(3)]
    try:
        pools = WebhookPools(concurrency=1, receivers=2)
        for _ in range(2):
            for served in servers:
                assert pools.post(served.url, b"{}", {"Content-Type": "application/json"}) == 204
        assert len(pools._manager.pools) == 2  # the connections kept open stay bounded
    finally:
        for served in servers:
            served.close()
