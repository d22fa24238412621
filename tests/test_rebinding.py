"""DNS rebinding: a guarded request connects only to the addresses it vetted, resolved once.

The attack: a name answers a public address to the URL guard and 127.0.0.1 to the connection that
follows (a short TTL is all it takes). Every test here has a real HTTP server on 127.0.0.1 that must
never see the request. DNS is the only thing stood in for: a scripted resolver, either injected
(the ``resolver=`` the guard and the fetcher take) or installed under ``socket.getaddrinfo`` so the
production defaults (the system resolver) are what is exercised.
"""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request
from werkzeug import Response as WResponse

from bot.engine.pipeline import public_url_guard
from bot.engine.urlsafety import IPAddress, UnsafeURL, check_url, forbidden_reason
from scrapers.http.errors import FetchError
from scrapers.http.fetcher import Fetcher, GuardedFetcher, HttpSettings

PUBLIC = "93.184.215.14"


class ScriptedDNS:
    """Answers per host name, one list per successive lookup (the last one repeats); records lookups.

    Usable as an injected resolver (``await dns(host, port)``) and, through :meth:`getaddrinfo`,
    as the system resolver (httpx/anyio pass the host as bytes there).
    """

    def __init__(self, script: dict[str, list[list[str]]]) -> None:
        self.script = script
        self.lookups: list[str] = []

    def answer(self, host: str | bytes) -> list[str] | None:
        name = (host.decode() if isinstance(host, bytes) else host).lower().rstrip(".")
        if name not in self.script:
            return None
        count = sum(1 for h in self.lookups if h == name)
        self.lookups.append(name)
        answers = self.script[name]
        return answers[min(count, len(answers) - 1)]

    async def __call__(self, host: str, port: int) -> list[str]:
        answer = self.answer(host)
        if answer is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return answer

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        real = socket.getaddrinfo

        def getaddrinfo(host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0):
            answer = self.answer(host) if host is not None else None
            if answer is None:
                return real(host, port, family, type, proto, flags)
            out = []
            for address in answer:
                fam = socket.AF_INET6 if ":" in address else socket.AF_INET
                sockaddr = (address, int(port or 0), 0, 0) if fam == socket.AF_INET6 else (address, int(port or 0))
                out.append((fam, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr))
            return out

        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture
def server() -> Iterator[HTTPServer]:
    s = HTTPServer(host="127.0.0.1", port=0)
    s.expect_request("/admin").respond_with_data("internal secret", content_type="text/plain")
    s.start()
    yield s
    s.clear()
    s.stop()


def settings() -> HttpSettings:
    return HttpSettings(per_host_rps=0, max_retries=0, timeout_s=5)


def guard_with(resolver: Any):
    """The production guard's logic (pipeline.public_url_guard) with an injected resolver."""

    async def guard(url: str) -> None:
        try:
            await check_url(url, resolver=resolver)
        except UnsafeURL as exc:
            raise FetchError("invalid_url", f"refused to fetch {url}: {exc}", url=url) from None

    return guard


def only(allowed: str):
    """An address policy that treats ``allowed`` (a loopback stand-in for a public site) as public."""

    def policy(ip: IPAddress) -> str | None:
        return None if ip == ipaddress.ip_address(allowed) else forbidden_reason(ip)

    return policy


async def test_a_name_rebinding_to_loopback_never_reaches_the_local_server(server, monkeypatch):
    """Production defaults: the pipeline's guard and the system resolver (stood in for under getaddrinfo)."""
    dns = ScriptedDNS({"rebind.test": [[PUBLIC], ["127.0.0.1"]]})
    dns.install(monkeypatch)
    async with Fetcher(settings()) as fetcher:
        with pytest.raises(FetchError) as info:
            await GuardedFetcher(fetcher, public_url_guard).get(f"http://rebind.test:{server.port}/admin", expect="any")
    assert info.value.kind == "invalid_url"
    assert "not allowed" in str(info.value)
    assert server.log == []  # nothing reached the internal service
    assert dns.lookups.count("rebind.test") == 2  # the guard's, and the connection's own (vetted) one


async def test_an_injected_resolver_public_then_loopback_is_refused(server):
    dns = ScriptedDNS({"rebind.test": [[PUBLIC], ["127.0.0.1"]]})
    async with Fetcher(settings()) as fetcher:
        guarded = GuardedFetcher(fetcher, guard_with(dns), resolver=dns)
        with pytest.raises(FetchError, match="not allowed"):
            await guarded.get(f"http://rebind.test:{server.port}/admin", expect="any")
    assert server.log == []
    assert dns.lookups == ["rebind.test", "rebind.test"]  # the guard's lookup, then one per connection


async def test_a_mixed_answer_at_connect_time_is_refused_as_a_whole(server):
    """ANY address not allowed refuses the connection: no trying the public one first and falling back."""
    dns = ScriptedDNS({"mixed.test": [[PUBLIC], ["127.0.0.1", PUBLIC]]})
    async with Fetcher(settings()) as fetcher:
        with pytest.raises(FetchError, match="not allowed"):
            await GuardedFetcher(fetcher, guard_with(dns), resolver=dns).get(
                f"http://mixed.test:{server.port}/admin", expect="any")
    assert server.log == []


async def test_a_redirect_hop_is_resolved_vetted_and_pinned_the_same_way(server):
    server.expect_request("/start").respond_with_response(
        WResponse("", status=302, headers={"Location": f"http://rebind.test:{server.port}/admin"}))
    # start.test stands for a public site (its stand-in is 127.0.0.1, allowed by the test policy); the
    # redirect target's connection-time answer is another loopback address, which is not
    dns = ScriptedDNS({"start.test": [["127.0.0.1"]], "rebind.test": [["127.0.0.2"]]})
    seen: list[str] = []

    async def url_guard(url: str) -> None:
        seen.append(url)

    async with Fetcher(settings()) as fetcher:
        with pytest.raises(FetchError, match="not allowed") as info:
            await GuardedFetcher(fetcher, url_guard, resolver=dns, policy=only("127.0.0.1")).get(
                f"http://start.test:{server.port}/start", expect="any")
    assert "127.0.0.2" not in str(info.value)
    assert [entry[0].path for entry in server.log] == ["/start"]
    assert seen == [f"http://start.test:{server.port}/start", f"http://rebind.test:{server.port}/admin"]
    assert dns.lookups == ["start.test", "rebind.test"]


async def test_the_pinned_connection_keeps_the_host_header(server):
    seen: list[Request] = []

    def handler(request: Request) -> WResponse:
        seen.append(request)
        return WResponse("a public page", content_type="text/plain")

    server.expect_request("/page").respond_with_handler(handler)
    dns = ScriptedDNS({"forum.test": [["127.0.0.1"]]})
    async with Fetcher(settings()) as fetcher:
        guarded = GuardedFetcher(fetcher, guard_with(ScriptedDNS({"forum.test": [[PUBLIC]]})),
                                 resolver=dns, policy=only("127.0.0.1"))
        resp = await guarded.get(f"http://forum.test:{server.port}/page", expect="any")
    assert resp.body == b"a public page"
    assert seen[0].headers["Host"] == f"forum.test:{server.port}"
    assert resp.url == f"http://forum.test:{server.port}/page"


def _certificates(tmp: Path, name: str) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for ``name``, signed by it (PEM files)."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "trialwatch test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                       crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    ca_pem, cert_pem, key_pem = tmp / "ca.pem", tmp / "cert.pem", tmp / "key.pem"
    ca_pem.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return ca_pem, cert_pem, key_pem


async def test_tls_to_a_pinned_address_uses_the_host_name_for_sni_and_the_certificate(tmp_path, monkeypatch):
    ca, cert, key = _certificates(tmp_path, "secure.test")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server_names: list[str | None] = []
    context.sni_callback = lambda sock, name, ctx: server_names.append(name)  # type: ignore[assignment,misc]
    tls = HTTPServer(host="127.0.0.1", port=0, ssl_context=context)
    seen: list[Request] = []

    def handler(request: Request) -> WResponse:
        seen.append(request)
        return WResponse("over TLS", content_type="text/plain")

    tls.expect_request("/page").respond_with_handler(handler)
    tls.start()
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))  # how httpx's default verification finds a CA
    dns = ScriptedDNS({"secure.test": [["127.0.0.1"]]})
    try:
        async with Fetcher(settings()) as fetcher:
            guarded = GuardedFetcher(fetcher, guard_with(ScriptedDNS({"secure.test": [[PUBLIC]]})),
                                     resolver=dns, policy=only("127.0.0.1"))
            resp = await guarded.get(f"https://secure.test:{tls.port}/page", expect="any")
            # the certificate names secure.test, not 127.0.0.1: reaching it by address must fail verification
            with pytest.raises(FetchError):
                await fetcher.get(f"https://127.0.0.1:{tls.port}/page", expect="any")
    finally:
        tls.clear()
        tls.stop()
    assert resp.body == b"over TLS"
    assert server_names[0] == "secure.test"
    assert seen[0].headers["Host"] == f"secure.test:{tls.port}"


async def test_a_refused_fetch_says_the_same_for_an_open_and_a_closed_internal_port(server, monkeypatch):
    """A /check report must not tell a Discord user which internal ports answer."""
    with socket.socket() as probe:  # a port with nothing listening
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    dns = ScriptedDNS({"open.test": [[PUBLIC], ["127.0.0.1"]], "closed.test": [[PUBLIC], ["127.0.0.1"]]})
    dns.install(monkeypatch)
    messages = []
    async with Fetcher(settings()) as fetcher:
        guarded = GuardedFetcher(fetcher, public_url_guard)
        for name, port in (("open.test", server.port), ("closed.test", closed)):
            with pytest.raises(FetchError) as info:
                await guarded.get(f"http://{name}:{port}/admin", expect="any")
            messages.append(str(info.value).replace(name, "HOST").replace(str(port), "PORT"))
    assert messages[0] == messages[1]
    assert "not allowed" in messages[0]
    for word in ("127.0.0.1", "connection", "timed out", "could not reach"):
        assert word not in messages[0]
    assert server.log == []


async def test_a_long_label_is_a_clean_refusal_at_connect_time_too(server):
    label = "a" * 64
    async with Fetcher(settings()) as fetcher:
        async def no_guard(url: str) -> None:
            return None

        with pytest.raises(FetchError) as info:
            await GuardedFetcher(fetcher, no_guard).get(f"http://{label}.test:{server.port}/admin", expect="any")
    assert info.value.kind == "invalid_url"
    assert server.log == []
