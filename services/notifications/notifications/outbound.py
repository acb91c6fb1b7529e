"""Where a webhook may go: public addresses only, unless an operator allows a host.

A subscription names any URL it likes, and the worker that posts to it sits inside our
network: without a check, a subscriber could make it post to the database's host, the
broker's management port or the cloud's metadata service (169.254.169.254), and read the
answers' fate in the delivery status. So the host is checked when subscribing and again
when connecting, after resolving its name, and the connection goes to the very address
checked (a name that resolved to a public address at subscribe time may resolve to
127.0.0.1 a minute later: DNS rebinding).

Refused: loopback, private (RFC 1918, IPv6 unique-local), link-local (with the metadata
address), multicast, unspecified, reserved and any other address not globally routable,
also when written inside an IPv6 form (IPv4-mapped, 6to4, Teredo, NAT64). A name that
resolves to several addresses is refused if any of them is.

The operator's allow-list (``WEBHOOK_ALLOW_HOSTS``, env NOTIFICATIONS_WEBHOOK_ALLOW_HOSTS)
is comma-separated: a host name (``localhost``, ``hooks.internal.example``) is allowed
whatever it resolves to; an address or network (``127.0.0.1``, ``10.20.0.0/16``, ``::1``)
allows the addresses inside it. Tests and `make run` deliver to receivers on 127.0.0.1
and allow it explicitly; production allows nothing by default.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from dataclasses import dataclass, field
from urllib.parse import urlparse

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
METADATA = ipaddress.ip_address("169.254.169.254")
NAT64 = ipaddress.ip_network("64:ff9b::/96")

# kind -> (English for logs and the ledger, Vietnamese for officers)
KINDS = {
    "metadata": ("cloud metadata service", "dịch vụ siêu dữ liệu của máy chủ đám mây"),
    "loopback": ("loopback", "nội bộ của chính máy chủ (loopback)"),
    "link-local": ("link-local", "liên kết cục bộ (link-local)"),
    "multicast": ("multicast", "đa hướng (multicast)"),
    "unspecified": ("unspecified", "không xác định"),
    "private": ("private network", "mạng riêng"),
    "reserved": ("reserved", "dành riêng"),
    "not-global": ("not globally routable", "không công khai trên Internet"),
}


class RefusedAddress(Exception):
    """The host is, or resolves to, an address webhooks may not reach. Permanent."""

    def __init__(self, host: str, address: IPAddress, kind: str):
        super().__init__(host, address, kind)
        self.host, self.address, self.kind = host, address, kind

    def __str__(self) -> str:
        return (f"webhook host {self.host} is {self.address}, a {KINDS[self.kind][0]} address; refused "
                "(not named in NOTIFICATIONS_WEBHOOK_ALLOW_HOSTS)")

    def vietnamese(self) -> str:
        return f"máy chủ «{self.host}» có địa chỉ {self.address}, là địa chỉ {KINDS[self.kind][1]}"


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 form carries (mapped, 6to4, Teredo client, NAT64), if any."""
    if address.version != 6:
        return None
    if address.ipv4_mapped:
        return address.ipv4_mapped
    if address.sixtofour:
        return address.sixtofour
    if address.teredo:
        return address.teredo[1]
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def kind_of(address: IPAddress) -> str | None:
    """Why ``address`` is refused (a key of KINDS), or None for a public address."""
    inner = _embedded_ipv4(address)
    if inner is None:
        return kind_of_plain(address)
    if kind_of_plain(inner):
        return kind_of_plain(inner)
    if address.ipv4_mapped or address in NAT64:  # the connection goes to the IPv4 address itself
        return None
    return kind_of_plain(address)  # 6to4, Teredo: the tunnel's own address counts too


def kind_of_plain(address: IPAddress) -> str | None:
    if address == METADATA:
        return "metadata"
    for kind in ("loopback", "link-local", "multicast", "unspecified", "reserved", "private"):
        if getattr(address, "is_" + kind.replace("-", "_")):
            return kind
    if not address.is_global:  # shared address space (100.64/10), documentation ranges, …
        return "not-global"
    return None


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


@dataclass(frozen=True)
class AddressPolicy:
    names: frozenset[str] = frozenset()
    networks: tuple = field(default_factory=tuple)

    @classmethod
    def parse(cls, text: str | None) -> AddressPolicy:
        names, networks = set(), []
        for entry in (e.strip() for e in (text or "").split(",")):
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                names.add(entry.lower().rstrip("."))
        return cls(frozenset(names), tuple(networks))

    @classmethod
    def from_config(cls, config: dict) -> AddressPolicy:
        return cls.parse(config.get("WEBHOOK_ALLOW_HOSTS"))

    @classmethod
    def from_environ(cls) -> AddressPolicy:
        return cls.parse(os.environ.get("NOTIFICATIONS_WEBHOOK_ALLOW_HOSTS"))

    def _named(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.names

    def check(self, host: str, address: IPAddress) -> None:
        """Raise RefusedAddress unless ``address`` (``host``'s) may be reached."""
        if self._named(host) or any(address.version == n.version and address in n for n in self.networks):
            return
        kind = kind_of(address)
        if kind:
            raise RefusedAddress(host, address, kind)

    def resolve(self, host: str, port: int) -> list[tuple[str, int]]:
        """The addresses to connect to for ``host``, each checked: every one, or none (a name
        that resolves to one public and one private address is refused). Raises
        RefusedAddress, or socket.gaierror when the name does not resolve."""
        literal = _literal(host)
        if literal is not None:
            self.check(host, literal)
            return [(str(literal), port)]
        found = []
        for *_, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP):
            address = ipaddress.ip_address(sockaddr[0].split("%", 1)[0])
            self.check(host, address)
            if (sockaddr[0], port) not in found:
                found.append((sockaddr[0], port))
        return found

    def check_url(self, url: str) -> None:
        """Subscribe-time check of a webhook URL (resolving its host now)."""
        parts = urlparse(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        self.resolve(parts.hostname or "", port)
