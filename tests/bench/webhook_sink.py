"""The fan-out bench's webhook receiver: a real HTTP/1.1 server on loopback, in a process of its own.

The receiver's cost is not what the bench measures, yet it shares the machine's cores
with the workers, the broker and the database; the standard library's servers spend
about 0.2 ms of CPU per request, a fifth of a worker's. So this one is an asyncio
protocol that understands just what the workers send: keep-alive POSTs with a
Content-Length body. It checks each as a Standard Webhooks receiver does (with the secret
given as its first argument: signature, and timestamp within 5 minutes), answers 401 to
one that fails, and counts distinct delivery ids (webhook-id) of the others.

Control, on the same port:
    POST /expect?count=N   forget what was seen; /wait answers once N distinct ids arrived
    GET  /wait?timeout=S   {"seen": n, "refused": n, "done_at": time.monotonic() of the N-th, or null}

The first line it prints is the port it listens on.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from urllib.parse import parse_qs, urlsplit

from notifications.channels import refusal

NO_CONTENT = b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"
UNAUTHORIZED = b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n"
BAD_REQUEST = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


class Counter:
    def __init__(self):
        self.seen: set[bytes] = set()
        self.refused = 0
        self.expected = 0
        self.done: asyncio.Future | None = None

    def expect(self, count: int) -> None:
        self.seen, self.expected = set(), count
        self.done = asyncio.get_running_loop().create_future()

    def add(self, delivery_id: bytes) -> None:
        self.seen.add(delivery_id)
        if self.done is not None and not self.done.done() and len(self.seen) >= self.expected:
            self.done.set_result(time.monotonic())


class Connection(asyncio.Protocol):
    def __init__(self, counter: Counter, secret: str):
        self.counter = counter
        self.secret = secret
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].split(b"\r\n")
            headers = {}
            for line in head[1:]:
                name, _, value = line.partition(b":")
                headers[name.strip().lower()] = value.strip()
            try:
                length = int(headers.get(b"content-length", b"0"))
                method, target, _ = head[0].split(b" ", 2)
            except ValueError:
                self.transport.write(BAD_REQUEST)
                self.transport.close()
                return
            if len(self.buffer) < end + 4 + length:
                return  # the body is still coming
            body = self.buffer[end + 4:end + 4 + length]
            self.buffer = self.buffer[end + 4 + length:]
            self.handle(method, target.decode(), headers, body)

    def handle(self, method: bytes, target: str, headers: dict, body: bytes) -> None:
        url = urlsplit(target)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if method == b"POST" and url.path == "/hook":
            if refusal(self.secret, {k.decode(): v.decode() for k, v in headers.items()}, body):
                self.counter.refused += 1
                self.transport.write(UNAUTHORIZED)
                return
            self.counter.add(headers.get(b"webhook-id", b""))
            self.transport.write(NO_CONTENT)
        elif method == b"POST" and url.path == "/expect":
            self.counter.expect(int(query["count"]))
            self.transport.write(NO_CONTENT)
        elif method == b"GET" and url.path == "/wait":
            asyncio.ensure_future(self.answer_wait(float(query.get("timeout", 60))))
        else:
            self.transport.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")

    async def answer_wait(self, timeout: float) -> None:
        done_at = None
        if self.counter.done is not None:
            try:
                done_at = await asyncio.wait_for(asyncio.shield(self.counter.done), timeout)
            except asyncio.TimeoutError:
                pass
        body = json.dumps({"seen": len(self.counter.seen), "refused": self.counter.refused,
                           "done_at": done_at}).encode()
        self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                             % (len(body), body))


async def serve(secret: str) -> None:
    counter = Counter()
    server = await asyncio.get_running_loop().create_server(lambda: Connection(counter, secret), "127.0.0.1", 0,
                                                            backlog=1024)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    sys.exit(asyncio.run(serve(sys.argv[1])))
