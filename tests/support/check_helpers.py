"""A config pointing every source at one local replay server, and ``check --json`` as a function.

``server`` is a per-test view of one replay server per test module (routes and recorded requests are
cleared before each test): stopping a server costs half a second, once per module instead of per test.
Import both fixtures into a test module to use them.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli import main
from bot.demo.replay import ReplayServer


@pytest.fixture(scope="module")
def module_server() -> Iterator[ReplayServer]:
    with ReplayServer() as s:
        yield s


@pytest.fixture
def server(module_server: ReplayServer) -> ReplayServer:
    module_server.clear()
    module_server.take_requests()
    return module_server


def write_config(tmp_path: Path, server: ReplayServer, body: str, *, user_agent: str = "trialwatch-test/0.1",
                 alert_after: int = 1) -> Path:
    """``trialwatch.toml`` in ``tmp_path``: fast HTTP settings, every base URL on ``server``, then ``body``."""
    cfg = tmp_path / "trialwatch.toml"
    cfg.write_text(textwrap.dedent(f"""
        [database]
        path = "{tmp_path / 'tw.db'}"
        [check]
        failure_alert_after = {alert_after}
        [http]
        user_agent = "{user_agent}"
        per_host_rps = 0
        backoff_s = 0.01
        max_retries = 1
        timeout_s = 2.0
        [sources.ctgov]
        base_url = "{server.url}/ctgov"
        [sources.europepmc]
        base_url = "{server.url}/europepmc"
        [sources.pubmed]
        base_url = "{server.url}/pubmed"
    """) + textwrap.dedent(body))
    return cfg


def local_header(tmp_path: Path) -> str:
    """The start of a test config that talks only to local servers: the database in ``tmp_path``, no
    politeness delay, no retries, nothing on the console (a test reads ``--json`` or the database)."""
    return (f'[database]\npath = "{tmp_path / "tw.db"}"\n[http]\nper_host_rps = 0\nmax_retries = 0\n'
            "[notify]\nconsole = false\n")


def run_check(cfg: Path, capsys, *extra: str) -> tuple[int, list[dict]]:
    """``trialwatch check --json``: exit code and the events printed."""
    code = main(["--config", str(cfg), "-q", "check", "--json", *extra])
    out = capsys.readouterr().out
    return code, [json.loads(line) for line in out.splitlines() if line.strip()]


def stored_events(cfg: Path, capsys) -> list[dict]:
    main(["--config", str(cfg), "events", "--json"])
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
