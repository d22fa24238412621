"""URLs added from Discord: only public http(s) addresses, in every spelling an attacker may try."""

from __future__ import annotations

import ipaddress

import pytest

from bot.engine.urlsafety import (
    UnsafeURL,
    check_addresses,
    check_url,
    forbidden_reason,
    parse_ip_literal,
    parse_ipv4_literal,
    system_resolver,
)


async def no_dns(host: str, port: int) -> list[str]:
    raise AssertionError(f"an IP literal must not be resolved ({host})")


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/",
    "http://localhost:8080/admin",
    "http://LOCALHOST./",
    "http://api.localhost/",
    "http://10.1.2.3/",
    "http://172.16.0.1/",
    "http://192.168.1.1/router",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[fe80::1]/",
    "http://[2002:7f00:1::]/",          # 6to4 around 127.0.0.1
    "http://0x7f000001/",
    "http://2130706433/",
    "http://0177.0.0.1/",
    "http://127.1/",
    "http://0x7f.1/",
    "http://0.0.0.0/",
    "http://100.64.0.1/",               # carrier-grade NAT: not public
    "http://224.0.0.1/",
    "http://240.0.0.1/",
])
async def test_private_loopback_and_link_local_are_refused(url):
    with pytest.raises(UnsafeURL) as info:
        await check_url(url, resolver=no_dns)
    assert "public" in str(info.value) or "loopback" in str(info.value)


@pytest.mark.parametrize("url, why", [
    ("file:///etc/passwd", "file://"),
    ("gopher://127.0.0.1:70/_stats", "gopher://"),
    ("ftp://example.org/", "ftp://"),
    ("javascript:alert(1)", "javascript://"),
    ("example.org/page", "no scheme"),
    ("http://user:pw@example.org/", "password"),
    ("http:///nohost", "no host"),
    ("http://example.org:99999/", "not a valid URL"),
])
async def test_other_schemes_and_malformed_urls_are_refused(url, why):
    with pytest.raises(UnsafeURL) as info:
        await check_url(url, resolver=no_dns)
    assert why in str(info.value)


async def test_a_public_literal_ip_is_accepted_without_dns():
    assert await check_url(" http://93.184.215.14/forum/thread ", resolver=no_dns) == "http://93.184.215.14/forum/thread"


async def test_a_name_is_refused_when_any_address_is_private():
    async def mixed(host: str, port: int) -> list[str]:
        assert (host, port) == ("forum.example.org", 443)
        return ["93.184.215.14", "10.0.0.5"]

    with pytest.raises(UnsafeURL, match="forum.example.org resolves to 10.0.0.5 is a private address"):
        await check_url("https://forum.example.org/threads/1", resolver=mixed)

    async def public(host: str, port: int) -> list[str]:
        return ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"]

    assert await check_url("https://forum.example.org/threads/1", resolver=public)


async def test_localhost_resolves_locally_to_loopback_and_is_refused():
    addresses = await system_resolver("localhost", 80)  # /etc/hosts: no network involved
    assert addresses and all(ipaddress.ip_address(a).is_loopback for a in addresses)
    with pytest.raises(UnsafeURL, match="loopback"):
        check_addresses("localhost", addresses)


async def test_allow_private_urls_lifts_the_address_rules_but_not_the_scheme():
    for url in ("http://127.0.0.1:8080/", "http://localhost/", "http://0x7f000001/", "http://[::1]/"):
        assert await check_url(url, allow_private=True, resolver=no_dns) == url
    with pytest.raises(UnsafeURL):
        await check_url("file:///etc/passwd", allow_private=True)


@pytest.mark.parametrize("text, expected", [
    ("127.0.0.1", "127.0.0.1"), ("2130706433", "127.0.0.1"), ("0x7f000001", "127.0.0.1"),
    ("0177.0.0.1", "127.0.0.1"), ("127.1", "127.0.0.1"), ("10.0x10.1", "10.16.0.1"),
    ("0", "0.0.0.0"), ("example.org", None), ("1.2.3.4.5", None), ("256.1.1.1", None), ("09.1.1.1", None),
    ("4294967296", None),
])
def test_ipv4_spellings(text, expected):
    parsed = parse_ipv4_literal(text)
    assert (str(parsed) if parsed else None) == expected


def test_ipv6_literals_and_reasons():
    assert parse_ip_literal("[::ffff:127.0.0.1]") == ipaddress.IPv6Address("::ffff:127.0.0.1")
    assert "loopback" in (forbidden_reason(ipaddress.IPv6Address("::ffff:127.0.0.1")) or "")
    assert forbidden_reason(ipaddress.IPv4Address("93.184.215.14")) is None
    assert forbidden_reason(ipaddress.IPv6Address("2606:4700::1111")) is None


@pytest.mark.parametrize("url", ["http://[fec0::1]/", "http://[fec0:1:2::3]:8080/", "http://[feff::1]/"])
async def test_site_local_ipv6_is_refused_as_private(url):
    with pytest.raises(UnsafeURL, match="site-local"):
        await check_url(url, resolver=no_dns)


def test_a_name_resolving_to_a_site_local_address_is_refused():
    with pytest.raises(UnsafeURL, match="site-local"):
        check_addresses("intranet.example.org", ["93.184.215.14", "fec0::5"])


async def test_a_label_over_63_characters_is_a_clean_refusal_not_a_unicode_error():
    url = f"http://{'a' * 64}.example.org/page"
    with pytest.raises(UnsafeURL, match="longer than 63"):
        await check_url(url)  # the default (system) resolver: it must never be asked
    # the resolver itself refuses cleanly too (IDNA would raise UnicodeError out of getaddrinfo)
    with pytest.raises(UnsafeURL):
        await system_resolver(f"{'b' * 64}.example.org", 80)
