"""A Bluesky login (``createSession``) or session refresh (``refreshSession``) answered with a redirect: the
password or the refresh token never follows it to another host, and the check fails saying where the redirect
pointed. Real HTTP against two Bluesky stand-ins on 127.0.0.1, the second one ready to accept the password."""

from __future__ import annotations

import json

import pytest

from bot.demo.replay import ReplayServer
from scrapers.bluesky.session import forget_sessions
from tests.support.bluesky_standin import HANDLE, PASSWORD, FakeBluesky
from tests.support.check_helpers import module_server, run_check, server, write_config  # noqa: F401


@pytest.fixture(autouse=True)
def no_session_left():
    """Sessions live for the process: each test starts logged out."""
    forget_sessions()
    yield
    forget_sessions()


def search_config(tmp_path, server):
    return write_config(tmp_path, server, f"""
        [sources.bluesky]
        auth_base = "{server.url}"
        handle = "{HANDLE}"
        app_password = "${{BLUESKY_APP_PASSWORD}}"
        [[watch]]
        id = "bsky-search"
        kind = "bluesky"
        query = "daratumumab"
    """)


def test_a_login_answered_with_a_redirect_never_sends_the_password_on(server, tmp_path, capsys, monkeypatch) -> None:
    """createSession answers 307 (which keeps the body) to another server that would accept the password: the
    check fails, saying where the redirect pointed, and the other server receives nothing."""
    monkeypatch.setenv("BLUESKY_APP_PASSWORD", PASSWORD)
    bluesky = FakeBluesky(server)
    bluesky.post("daratumumab: first")
    cfg = search_config(tmp_path, server)
    with ReplayServer() as elsewhere:
        FakeBluesky(elsewhere)  # would log in with the same password, and answer searches
        bluesky.auth_redirect = elsewhere.url
        code, events = run_check(cfg, capsys)
        assert elsewhere.take_requests() == []
    assert (code, [e["kind"] for e in events]) == (3, ["source_error"])
    error = events[0]["detail"]["error"]
    other = elsewhere.url.removeprefix("http://")
    assert f"Bluesky's login at {server.url.removeprefix('http://')} answered a redirect (HTTP 307) to {other}" in error
    assert "not following it with the password" in error and PASSWORD not in error
    assert bluesky.calls == ["createSession"]


def test_a_session_refresh_answered_with_a_redirect_is_not_followed(server, tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("BLUESKY_APP_PASSWORD", PASSWORD)
    bluesky = FakeBluesky(server)
    bluesky.post("daratumumab: first")
    cfg = search_config(tmp_path, server)
    assert run_check(cfg, capsys) == (0, [])
    bluesky.expire_access()  # the next search answers ExpiredToken: the session is refreshed
    with ReplayServer() as elsewhere:
        FakeBluesky(elsewhere)
        bluesky.auth_redirect = elsewhere.url
        code, events = run_check(cfg, capsys)
        assert elsewhere.take_requests() == []
    assert (code, [e["kind"] for e in events]) == (3, ["source_error"])
    assert "Bluesky's session refresh" in events[0]["detail"]["error"]
    assert "not following it with the refresh token" in events[0]["detail"]["error"]
    assert not any(token in json.dumps(events) for token in bluesky.issued)
