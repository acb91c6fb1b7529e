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


@pytest.fixture
def receiver():
    server = ThreadingHTTPServer(("127.0.0.1", 0), ClosesAfterEachReply)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    server.server_close()


def test_a_connection_the_receiver_closed_is_replaced(receiver):
    pools = WebhookPools(concurrency=1)
    for n in range(3):  # reusing the hung-up socket would fail the next post
        assert pools.post(receiver, b"{}", {"Content-Type": "application/json"}) == 204
        pool, _ = pools._by_url[receiver]
        connection = pool.pool.queue[-1]  # the connection the pool keeps for the next request
        threading.Event().wait(0.2)  # the receiver's hang-up arrives
        assert not connection.is_connected
    assert ClosesAfterEachReply.served == ["/hook"] * 3
