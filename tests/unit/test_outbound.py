"""Where webhooks may go: every class of non-public address refused, the operator's allow-list honoured."""

import ipaddress
import socket

import pytest

from notifications.outbound import AddressPolicy, RefusedAddress, kind_of

STRICT = AddressPolicy()


@pytest.mark.parametrize("address,kind", [
    ("127.0.0.1", "loopback"), ("127.8.9.10", "loopback"), ("::1", "loopback"),
    ("10.1.2.3", "private"), ("172.16.0.1", "private"), ("172.31.255.254", "private"), ("192.168.1.10", "private"),
    ("fd00::1", "private"), ("fc12:3456::7", "private"),  # IPv6 unique-local
    ("169.254.169.254", "metadata"), ("169.254.10.1", "link-local"), ("fe80::1", "link-local"),
    ("224.0.0.1", "multicast"), ("239.255.255.250", "multicast"), ("ff02::1", "multicast"),
    ("0.0.0.0", "unspecified"), ("::", "unspecified"),
    ("240.0.0.1", "reserved"), ("255.255.255.255", "reserved"),
    ("100.64.0.1", "not-global"), ("100.100.100.200", "not-global"),  # shared space (a cloud's metadata too)
    ("192.0.2.1", "private"), ("198.18.0.1", "private"),  # documentation, benchmarking
    ("::ffff:127.0.0.1", "loopback"), ("::ffff:10.0.0.1", "private"),  # IPv4-mapped
    ("::ffff:169.254.169.254", "metadata"),
    ("2002:7f00:1::1", "loopback"), ("2002:a00:1::1", "private"),  # 6to4 around a private IPv4
    ("64:ff9b::a9fe:a9fe", "metadata"), ("64:ff9b::7f00:1", "loopback"),  # NAT64
])
def test_each_class_of_non_public_address_is_refused(address, kind):
    assert kind_of(ipaddress.ip_address(address)) == kind
    with pytest.raises(RefusedAddress) as refused:
        STRICT.resolve(address, 443)
    assert refused.value.kind == kind
    assert str(refused.value).startswith(f"webhook host {address} is ") and "refused" in str(refused.value)
    assert "địa chỉ" in refused.value.vietnamese()


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "203.113.131.1", "2001:4860:4860::8888",
                                     "::ffff:8.8.8.8", "64:ff9b::808:808"])
def test_public_addresses_pass(address):
    assert kind_of(ipaddress.ip_address(address)) is None
    assert STRICT.resolve(address, 443) == [(str(ipaddress.ip_address(address)), 443)]


def test_a_url_with_a_bracketed_ipv6_literal_is_checked():
    with pytest.raises(RefusedAddress):
        STRICT.check_url("http://[::1]:8080/hook")
    with pytest.raises(RefusedAddress):
        STRICT.check_url("https://[fd00:ec2::254]/latest/meta-data")  # a cloud's IPv6 metadata address


def test_a_name_that_resolves_to_a_private_address_is_refused():
    with pytest.raises(RefusedAddress) as refused:
        STRICT.check_url("http://localhost:9000/hook")  # /etc/hosts: 127.0.0.1
    assert refused.value.host == "localhost" and refused.value.kind == "loopback"


def test_a_name_with_one_public_and_one_private_address_is_refused(monkeypatch):
    def resolves_to_both(host, port, *args, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port)),
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.7", port))]

    monkeypatch.setattr(socket, "getaddrinfo", resolves_to_both)
    with pytest.raises(RefusedAddress) as refused:
        STRICT.resolve("hooks.bao-bac-giang.example.vn", 443)
    assert str(refused.value.address) == "10.0.0.7"


def test_a_name_that_resolves_to_public_addresses_gives_them_all_to_connect_to(monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, port, *a, **k: [
        (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("2001:4860:4860::8888", port, 0, 0)),
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port))])
    assert STRICT.resolve("hooks.example.vn", 443) == [("2001:4860:4860::8888", 443), ("93.184.215.14", 443)]


def test_the_operators_allow_list_names_hosts_and_networks():
    policy = AddressPolicy.parse(" 127.0.0.1, localhost,10.20.0.0/16 ,::1,Hooks.Internal.Example. ")
    assert policy.resolve("127.0.0.1", 80) == [("127.0.0.1", 80)]
    assert policy.resolve("[::1]", 80) == [("::1", 80)]
    assert policy.resolve("10.20.3.4", 80) == [("10.20.3.4", 80)]
    assert ("127.0.0.1", 80) in policy.resolve("localhost", 80)  # a named host: whatever it resolves to
    policy.check("hooks.internal.example", ipaddress.ip_address("10.99.0.1"))  # named, in any case
    with pytest.raises(RefusedAddress):
        policy.resolve("10.21.0.1", 80)  # outside the allowed network
    with pytest.raises(RefusedAddress):
        policy.resolve("127.0.0.2", 80)  # only the address named
    with pytest.raises(RefusedAddress):
        policy.resolve("169.254.169.254", 80)


def test_no_allow_list_allows_nothing_private():
    assert AddressPolicy.parse("") == AddressPolicy.parse(None) == AddressPolicy()
    assert AddressPolicy.from_config({"WEBHOOK_ALLOW_HOSTS": "127.0.0.1"}).resolve("127.0.0.1", 1) == [("127.0.0.1", 1)]


def test_a_name_that_does_not_resolve_says_so():
    with pytest.raises(socket.gaierror):
        STRICT.resolve("khong-co-may-nay.invalid", 443)
