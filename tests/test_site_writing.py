"""The website is written whole or not at all, by ``run`` only after checks with events, and by the demo.

The service runs its real check job (``Service._scheduled_check``: check, deliver, back off, rewrite the site)
against a CT.gov stand-in on 127.0.0.1, with an injected clock; the scheduler is not started, so each
"cycle" happens exactly when the test says.
"""

from __future__ import annotations

import asyncio
import io
import logging
from pathlib import Path

import html5lib
import jinja2
import pytest

from bot.demo.run import run_demo
from bot.engine.config import config_from_dict
from bot.engine.service import Service
from bot.demo.world.ctgov import study
from bot.site.build import build_site, write_site
from bot.site.gather import gather_site
from bot.site.paths import MARKER, trial_page
from bot.site.render import render_site
from bot.site.write import SiteWriteError, exchange_dirs, write_atomically
from storage.db import connect
from storage.repo import Repo
from tests.support.check_helpers import module_server, server  # noqa: F401 (fixtures)
from tests.support.ctgov_standin import CtgovStandin

NCT = "NCT09990001"


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}."))


def service_config(tmp_path: Path, server, out: Path, **site: str):
    return config_from_dict({
        "database": {"path": str(tmp_path / "tw.db")},
        "http": {"per_host_rps": 0, "backoff_s": 0.01, "max_retries": 0, "timeout_s": 5},
        "sources": {"ctgov": {"base_url": f"{server.url}/ctgov"}},
        "site": {"out_dir": str(out), **site},
        "watch": [{"id": "resetme", "kind": "ctgov", "trial": NCT, "interval": "6h", "labels": ["resetme"]}],
    })


class Clock:
    def __init__(self, now: str) -> None:
        self.now = now

    def __call__(self) -> str:
        return self.now


# ------------------------------------------------------------------------------------- whole or nothing


@pytest.fixture
def trial_db(server, tmp_path) -> Repo:
    """A database with one CT.gov trial seen twice (its enrollment grew), through the real pipeline."""
    standin = CtgovStandin(server)
    clock = Clock("2026-06-01T09:00:00Z")

    async def two_checks() -> None:
        service = Service(service_config(tmp_path, server, tmp_path / "unused"), stdout=io.StringIO(), now=clock)
        service.cfg.site.out_dir = None
        await service.open()
        try:
            for at, count in (("2026-06-01T09:00:00Z", 30), ("2026-09-01T09:00:00Z", 41)):
                clock.now = at
                standin.put(study(NCT, count=count, count_type="ACTUAL", last_update=at[:10]))
                await service._scheduled_check("resetme")
        finally:
            await service.close()

    asyncio.run(two_checks())
    repo = Repo(connect(tmp_path / "tw.db"))
    yield repo
    repo.db.close()


def test_a_template_error_midway_leaves_the_old_site_whole(trial_db, tmp_path) -> None:
    out = tmp_path / "site"
    data = gather_site(trial_db, [], now="2026-09-01T10:00:00Z")
    write_site(data, out)
    before = snapshot(out)
    assert f"{trial_page(NCT)}" in before and MARKER in before

    # A real bad input: a replacement trial page that names a value the data does not have.
    broken = tmp_path / "templates"
    broken.mkdir()
    (broken / "trial.html").write_text('{% extends "base.html" %}{% block main %}{{ t.no_such_value }}{% endblock %}')
    written = []

    def counted(files):
        for name, text in files:
            written.append(name)
            yield name, text

    later = gather_site(trial_db, [], now="2026-12-01T10:00:00Z")
    with pytest.raises(jinja2.UndefinedError):
        write_atomically(out, counted(render_site(later, broken)))
    assert written == ["style.css", "favicon.svg", "index.html"]  # it failed midway, after three files
    assert snapshot(out) == before  # the old site, every file as it was
    assert leftovers(out) == []  # and the half-written new one is gone


def test_a_rewrite_replaces_every_file_with_either_swap(trial_db, tmp_path) -> None:
    out = tmp_path / "site"
    write_site(gather_site(trial_db, [], now="2026-09-01T10:00:00Z"), out)
    (out / "trials" / "gone-trial.html").write_text("a page of a trial merged away since")
    files = list(render_site(gather_site(trial_db, [], now="2026-12-01T10:00:00Z")))
    write_atomically(out, files, exchange=lambda a, b: False)  # the two-rename swap (no renameat2)
    assert not (out / "trials" / "gone-trial.html").exists()
    assert "2026-12-01 10:00 UTC" in (out / "index.html").read_text()
    assert leftovers(out) == []
    files = list(render_site(gather_site(trial_db, [], now="2027-01-01T10:00:00Z")))
    write_atomically(out, files)  # the one-step exchange where the system has it
    assert "2027-01-01 10:00 UTC" in (out / "index.html").read_text()
    assert leftovers(out) == []


def test_folders_are_exchanged_in_one_step(tmp_path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "which").write_text("a")
    (b / "which").write_text("b")
    if not exchange_dirs(a, b):
        pytest.skip("this system has no renameat2(RENAME_EXCHANGE); the site is swapped with two renames here")
    assert ((a / "which").read_text(), (b / "which").read_text()) == ("b", "a")


def test_only_a_folder_trialwatch_wrote_is_replaced(trial_db, tmp_path) -> None:
    data = gather_site(trial_db, [], now="2026-09-01T10:00:00Z")
    empty = tmp_path / "empty"
    empty.mkdir()
    write_site(data, empty)  # an empty folder is fine
    assert (empty / "index.html").is_file()
    thesis = tmp_path / "thesis"
    thesis.mkdir()
    (thesis / "chapter1.tex").write_text("years of work")
    with pytest.raises(SiteWriteError, match="did not write"):
        write_site(data, thesis)
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(SiteWriteError, match="not a folder"):
        write_site(data, a_file)
    assert snapshot(thesis) == {"chapter1.tex": b"years of work"} and a_file.read_text() == "x"


# ------------------------------------------------------------------------------------------ the service


async def test_run_rewrites_the_site_after_a_check_with_events_and_only_then(server, tmp_path) -> None:
    standin = CtgovStandin(server)
    standin.put(study(NCT, count=66, count_type="ESTIMATED", last_update="2026-06-01"))
    out = tmp_path / "site"
    clock = Clock("2026-06-01T09:00:00Z")
    service = Service(service_config(tmp_path, server, out, base_url="https://example.org/trials/"),
                      stdout=io.StringIO(), now=clock)
    await service.open()
    try:
        await service._scheduled_check("resetme")  # the baseline: no event, no site
        assert not out.exists()

        clock.now = "2026-09-01T09:00:00Z"
        standin.put(study(NCT, count=41, count_type="ACTUAL", status="ACTIVE_NOT_RECRUITING", last_update="2026-09-01"))
        await service._scheduled_check("resetme")  # two events: the site is written
        first = out.stat().st_ino
        index = (out / "index.html").read_text()
        assert "Updated <time datetime=\"2026-09-01T09:00:00Z\">" in index and "Active, not recruiting" in index
        page = (out / trial_page(NCT)).read_text()
        assert '<link rel="canonical" href="https://example.org/trials/trials/NCT09990001.html">' in page

        clock.now = "2026-10-01T09:00:00Z"
        await service._scheduled_check("resetme")  # nothing changed: the site is left as it is
        assert out.stat().st_ino == first and (out / "index.html").read_text() == index

        clock.now = "2026-11-01T09:00:00Z"
        standin.put(study(NCT, count=58, count_type="ACTUAL", status="ACTIVE_NOT_RECRUITING", last_update="2026-11-01"))
        await service._scheduled_check("resetme")
        assert out.stat().st_ino != first  # a new folder was swapped in
        assert 'data-registry="58"' in (out / "index.html").read_text()
        assert leftovers(out) == []
    finally:
        await service.close()


async def test_a_site_that_cannot_be_written_is_one_log_line_and_the_service_goes_on(server, tmp_path, caplog) -> None:
    standin = CtgovStandin(server)
    standin.put(study(NCT, status="RECRUITING", last_update="2026-06-01"))
    out = tmp_path / "not-a-site"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    console = io.StringIO()
    service = Service(service_config(tmp_path, server, out), stdout=console, now=Clock("2026-06-01T09:00:00Z"))
    await service.open()
    try:
        await service._scheduled_check("resetme")
        standin.put(study(NCT, status="COMPLETED", last_update="2026-07-01"))
        with caplog.at_level(logging.INFO, logger="trialwatch"):
            await service._scheduled_check("resetme")
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1 and "\n" not in errors[0].getMessage()
        assert str(out) in errors[0].getMessage() and "did not write" in errors[0].getMessage()
        assert errors[0].exc_info is None  # no traceback at the default level
        await service.deliver_now()
        assert "Status: Recruiting → Completed" in console.getvalue()  # the event was saved and delivered
        assert [p.name for p in out.iterdir()] == ["notes.txt"]
        standin.put(study(NCT, status="TERMINATED", last_update="2026-08-01"))
        report = await service._check_one(service.repo.get_watch("resetme"))
        assert not report.failed and report.events  # the next check runs as ever
    finally:
        await service.close()


async def test_rewrites_asked_for_during_a_rewrite_share_one(server, tmp_path) -> None:
    CtgovStandin(server).put(study(NCT))
    service = Service(service_config(tmp_path, server, tmp_path / "site"), stdout=io.StringIO(),
                      now=Clock("2026-06-01T09:00:00Z"))
    await service.open()
    try:
        await service._scheduled_check("resetme")
        # the first writes; the second waits, and its rewrite (which starts after the third asked) covers the third
        assert await asyncio.gather(*(service.refresh_site() for _ in range(3))) == [True, True, False]
    finally:
        await service.close()


# --------------------------------------------------------------------------------------------- the demo


def test_the_demo_writes_the_site_of_its_world_and_says_where(tmp_path) -> None:
    out = io.StringIO()
    site = tmp_path / "demo-site"
    assert run_demo(out, env={}, site_dir=site) == 0
    text = out.getvalue()
    assert "── The tracker website of this world (2 trials) ──" in text
    assert f"open {(site / 'index.html').as_uri()}" in text and f"python -m http.server -d {site}" in text
    assert text.index("── Dossier:") < text.index("tracker website") < text.index("demo finished")
    pages = sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html"))
    assert pages == ["index.html", "trials/2024-512500-19-00.html", "trials/2025-599999-99-00.html"]
    parser = html5lib.HTMLParser(strict=False)
    parser.parse((site / "trials" / "2025-599999-99-00.html").read_bytes())
    assert parser.errors == []
    assert "Updated <time datetime=\"2028-02-02T09:00:00Z\">" in (site / "index.html").read_text()  # the world's time


def test_build_site_reads_the_declared_trials_too(tmp_path) -> None:
    from storage.reported import DeclaredTrial

    repo = Repo(connect(tmp_path / "tw.db"))
    try:
        resetme = DeclaredTrial("resetme", ("resetme",), acronym="ResetME", enrolled=38, target=66, completed=17,
                                as_of="2026", evidence="ME/CFS Research Foundation Conference 2026")
        repo.sync_declared_trials([resetme], "2026-06-01T09:00:00Z")
        report = build_site(repo, [resetme], tmp_path / "site", now="2026-06-02T09:00:00Z")
    finally:
        repo.db.close()
    assert report.trials == 1
    page = (tmp_path / "site" / "trials" / "resetme.html").read_text()
    assert "not in a registry yet" in page and "no registry id yet" in page
    assert 'data-kind="declared"' in page and 'data-value="38"' in page  # the config's figures, charted as such
    assert "Reported: 38 enrolled of 66" in (tmp_path / "site" / "index.html").read_text()
