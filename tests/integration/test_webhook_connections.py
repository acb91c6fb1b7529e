"""Kept-alive webhook connections: one the receiver closed is noticed and replaced, not reused."""

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from notifications.channels import DeliveryFailed, Undeliverable, WebhookPools, send_webhook
from notifications.outbound import AddressPolicy, RefusedAddress
from notifications.sealing import new_webhook_secret


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
    pools = WebhookPools(concurrency=1, addresses=LOOPBACK)
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
        pools = WebhookPools(concurrency=1, receivers=2, addresses=LOOPBACK)
        for _ in range(2):
            for served in servers:
                assert pools.post(served.url, b"{}", {"Content-Type": "application/json"}) == 204
        assert len(pools._manager.pools) == 2  # the connections kept open stay bounded
    finally:
        for served in servers:
            served.close()


# -- outbound calls are safe ---------------------------------------------------------------

class Answers(BaseHTTPRequestHandler):
    """``/big``: a 4 MiB answer; ``/trickle-head``, ``/trickle-body``: a byte every 0.2 s, for ever."""

    protocol_version = "HTTP/1.1"
    hosts: list[str] = []

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        Answers.hosts.append(self.headers["Host"])
        try:
            if self.path == "/trickle-head":
                self.wfile.write(b"HTTP/1.1 200 OK\r\n")
                for _ in range(600):
                    self.wfile.write(b"X")
                    self.wfile.flush()
                    time.sleep(0.2)
            elif self.path == "/trickle-body":
                self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
                for _ in range(600):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(0.2)
            elif self.path == "/big":
                self.send_response(200)
                self.send_header("Content-Length", str(4 * 1024 * 1024))
                self.end_headers()
                for _ in range(64):
                    self.wfile.write(b"x" * 65536)
            else:
                self.send_response(204)
                self.end_headers()
        except (BrokenPipeError, ConnectionResetError):
            pass  # we stopped reading and hung up: as meant

    def log_message(self, *args):
        pass


@pytest.fixture
def answers():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Answers)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


LOOPBACK = AddressPolicy.parse("127.0.0.1")


def test_a_loopback_receiver_is_refused_at_send_time_unless_allowed(answers):
    with pytest.raises(RefusedAddress):
        WebhookPools(concurrency=1).post(answers + "/hook", b"{}", {})
    with pytest.raises(Undeliverable) as refused:
        send_webhook(WebhookPools(concurrency=1), url=answers + "/hook", secret=new_webhook_secret(), payload={},
                     delivery_id="d-1")
    assert "127.0.0.1" in str(refused.value) and "loopback" in str(refused.value)
    assert WebhookPools(concurrency=1, addresses=LOOPBACK).post(answers + "/hook", b"{}", {}) == 204


def test_the_connection_goes_to_the_address_checked_and_a_rebound_name_is_refused(answers, monkeypatch):
    """A name checked when subscribing may resolve elsewhere later (DNS rebinding): it is
    resolved again when connecting, checked, and the connection goes to that very address."""
    port = int(answers.rsplit(":", 1)[1])
    resolves_to = {"hooks.bao-bac-giang.example.vn": "93.184.215.14"}
    real = socket.getaddrinfo

    def fake_dns(host, *args, **kwargs):
        if host in resolves_to:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (resolves_to[host], args[0] if args else 0))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake_dns)
    url = f"http://hooks.bao-bac-giang.example.vn:{port}/hook"
    LOOPBACK.check_url(url)  # public when subscribing
    resolves_to["hooks.bao-bac-giang.example.vn"] = "127.0.0.1"  # then the name is rebound to us
    with pytest.raises(RefusedAddress):
        WebhookPools(concurrency=1, addresses=AddressPolicy()).post(url, b"{}", {})
    # Allowed (here: by the address), it is reached at the address resolved, under its own name.
    assert WebhookPools(concurrency=1, addresses=LOOPBACK).post(url, b"{}", {}) == 204
    assert Answers.hosts[-1] == f"hooks.bao-bac-giang.example.vn:{port}"


def test_at_most_64_kib_of_an_answer_is_read_and_its_connection_is_not_reused(answers):
    pools = WebhookPools(concurrency=1, addresses=LOOPBACK)
    started = time.monotonic()
    assert pools.post(answers + "/big", b"{}", {}) == 200
    assert time.monotonic() - started < 5
    pool = pools._manager.connection_from_url(answers + "/big")
    assert all(conn is None or conn.sock is None for conn in pool.pool.queue)  # dropped, not kept with unread bytes
    assert pools.post(answers + "/hook", b"{}", {}) == 204  # the next call makes a fresh connection


@pytest.mark.parametrize("path", ["/trickle-head", "/trickle-body"])
def test_a_receiver_that_trickles_its_answer_is_cut_off_at_the_total_deadline(answers, path):
    """A byte every 0.2 s never trips a per-read timeout; the whole call still ends on time."""
    pools = WebhookPools(concurrency=1, addresses=LOOPBACK, total_s=1.5)
    started = time.monotonic()
    with pytest.raises(DeliveryFailed):
        send_webhook(pools, url=answers + path, secret=new_webhook_secret(), payload={}, delivery_id="d-2")
    assert time.monotonic() - started < 3
