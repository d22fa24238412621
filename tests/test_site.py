"""The static tracker website (``trialwatch site OUTDIR``), built from a database the real pipeline filled.

The world, on one local replay server, in the real formats: a ClinicalTrials.gov trial whose enrollment
grows over four check cycles (CtgovStandin), the pilot's CTIS record whose status moves (tests/fixtures/ctis),
a XenForo 2 thread where a post reports figures, an Europe PMC search that finds a paper, and an Atom feed
whose entry carries markup in its title and a ``javascript:`` link. Cycles run through the pipeline with an
injected clock, months apart. The site is written by the command line and read back: every page parses as
HTML5 without an error and says its language, every link inside the site reaches a file, the chart's figures
are the database's, the feeds parse, and nothing scraped becomes markup.
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
import sqlite3
import textwrap
from pathlib import Path
from urllib.parse import unquote, urlsplit

import feedparser
import html5lib
import pytest

from bot.cli import main
from bot.demo.replay import Reply
from bot.demo.world.ctgov import study
from bot.demo.world.feeds import atom
from bot.demo.world.papers import epmc_page, epmc_record
from bot.demo.world.xenforo import World as Forum
from bot.engine.config import ConfigError, config_from_dict, load_config
from bot.engine.pipeline import Checker
from bot.site.gather import LATEST
from bot.site.paths import MARKER, trial_feed, trial_page, trial_slug
from scrapers.http.fetcher import Fetcher
from storage.db import connect
from storage.repo import Repo
from tests.support.check_helpers import module_server, server, write_config  # noqa: F401 (fixtures)
from tests.support.ctgov_standin import CtgovStandin

NCT = "NCT09990001"
PILOT = "2024-512500-19-00"
CTIS_FIXTURES = Path(__file__).parent / "fixtures" / "ctis"
REPORT = "Fluge gave an update today: 38 of the 66 patients have now been enrolled."
HOSTILE = "<script>alert('x')</script> <b>bold</b> & more"
CYCLES = ("2026-06-01T09:00:00Z", "2026-07-15T09:00:00Z", "2026-09-01T09:00:00Z", "2027-01-16T09:00:00Z")

BODY = """
[sources.ctis]
base_url = "{url}/ctis"

[[watch]]
id = "resetme-ctgov"
kind = "ctgov"
trial = "NCT09990001"
labels = ["resetme"]

[[watch]]
id = "pilot-ctis"
kind = "ctis"
trial = "2024-512500-19-00"
labels = ["pilot"]

[[watch]]
id = "resetme-thread"
kind = "xenforo_thread"
url = "{thread}"
labels = ["resetme"]

[[watch]]
id = "resetme-papers"
kind = "europepmc"
query = "daratumumab"
labels = ["resetme"]

[[watch]]
id = "resetme-news"
kind = "feed"
url = "{url}/news.atom"
labels = ["resetme"]
"""


class World:
    """Everything the site is built from, changed cycle by cycle."""

    def __init__(self, server) -> None:
        self.server = server
        self.ctgov = CtgovStandin(server)
        self.forum = Forum(server)
        self.thread = self.forum.thread("ResetME: daratumumab in ME/CFS at Haukeland", 3)
        self.ctis_rec = json.loads((CTIS_FIXTURES / f"search_{PILOT}.json").read_text())["data"][0]
        self.ctis_doc = json.loads((CTIS_FIXTURES / f"retrieve_{PILOT}.json").read_text())
        self.papers: list[dict] = []
        self.news: list[tuple[str, str, str, str]] = [("urn:news:1", "The trial is recruiting", "/news/1",
                                                      "<p>Recruitment goes on.</p>")]

    def cycle(self, n: int) -> None:
        """The world as it is at cycle ``n`` (0 … 3)."""
        enrollment = [(66, "ESTIMATED", "RECRUITING"), (66, "ESTIMATED", "RECRUITING"), (41, "ACTUAL", "RECRUITING"),
                      (58, "ACTUAL", "ACTIVE_NOT_RECRUITING")][n]
        self.ctgov.put(study(NCT, count=enrollment[0], count_type=enrollment[1], status=enrollment[2],
                             last_update=CYCLES[n][:10], version_holder=CYCLES[n][:10]))
        if n == 1:
            self.thread.add(1, author="Hutan", text=REPORT)
            self.news.append(("urn:news:2", "<b>Bold</b> claims", "javascript:alert(1)", "<p>Read this.</p>"))
        if n == 2:  # chatter: the report is no longer among the newest posts
            self.thread.add(LATEST + 1, author="Kalliope", text="Thanks for the update.")
            self.thread.add(1, author="Mallory", text=HOSTILE)
        if n == 2:  # the pilot's CTIS status: ongoing, recruiting (4) → ongoing, recruitment ended (5)
            self.ctis_rec["lastPublicationUpdate"] = self.ctis_rec["lastUpdated"] = "02/09/2026"
            self.ctis_rec["ctStatus"] = 5
            self.ctis_rec["trialCountries"] = ["Norway:5"]
            self.ctis_doc["ctPublicStatusCode"] = 5
            self.ctis_doc["authorizedApplication"]["memberStatesConcerned"][0]["mscPublicStatusCode"] = 5
        if n == 3:
            self.papers.append(epmc_record("49990002", title="Daratumumab in ME/CFS: the ResetME trial (test record)",
                                           doi="10.9999/resetme.2027", published="2027-01-10"))
        self.forum.publish()
        page = {"pagination": {"totalRecords": 1, "currentPage": 1, "totalPages": 1, "nextPage": False,
                               "prevPage": False}, "data": [self.ctis_rec]}
        self.server.route("POST", "/ctis/search", Reply(body=page), body_contains='"number"')
        self.server.route("GET", f"/ctis/retrieve/{PILOT}", Reply(body=copy.deepcopy(self.ctis_doc)))
        self.server.route("GET", "/europepmc/search", Reply(body=epmc_page(*self.papers)))
        self.server.route("GET", "/news.atom", Reply(body=atom(*self.news), content_type="application/atom+xml"))


async def run_cycles(cfg_path: Path, world: World) -> list[dict]:
    """The four cycles through the real pipeline, with the clock at each cycle's date; every report."""
    cfg = load_config(cfg_path)
    repo = Repo(connect(cfg.db_path))
    from bot.app import sync_config_watches

    sync_config_watches(repo, cfg)
    reports = []
    try:
        async with Fetcher(cfg.http) as fetcher:
            for n, at in enumerate(CYCLES):
                world.cycle(n)
                checker = Checker(cfg, repo, fetcher, now=lambda at=at: at)
                reports += await checker.check_all(repo.list_watches(enabled_only=True))
    finally:
        repo.db.close()
    return reports


@pytest.fixture(scope="module")
def built(module_server, tmp_path_factory) -> dict:
    """The world checked four times, and its site written by ``trialwatch site``."""
    module_server.clear()
    tmp = tmp_path_factory.mktemp("site")
    world = World(module_server)
    cfg = write_config(tmp, module_server, BODY.format(url=module_server.url, thread=world.forum.url(world.thread)))
    reports = asyncio.run(run_cycles(cfg, world))
    assert not [r for r in reports if r.failed], [(r.watch, r.error) for r in reports if r.failed]
    out = tmp / "site"
    assert main(["--config", str(cfg), "-q", "site", str(out)]) == 0
    return {"cfg": cfg, "db": tmp / "tw.db", "out": out, "world": world}


def parse_html(path: Path):
    parser = html5lib.HTMLParser(strict=False, namespaceHTMLElements=False)
    doc = parser.parse(path.read_bytes())
    return doc, parser.errors


SVG = "{http://www.w3.org/2000/svg}"


def svg_of(root, cls: str):
    """The first inline ``<svg class=cls>`` (html5lib puts SVG elements in the SVG namespace)."""
    return next((el for el in root.iter(f"{SVG}svg") if el.get("class") == cls), None)


def db_rows(db: Path, sql: str, *args) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, args).fetchall()


# ---------------------------------------------------------------------------------------- pages and links


def test_every_trial_has_a_page_and_a_feed(built) -> None:
    keys = [k for (k,) in db_rows(built["db"], "SELECT key FROM trials ORDER BY key")]
    assert keys == [PILOT, NCT]  # the CT.gov trial and the CTIS pilot (EudraCT alias joined, one trial)
    for key in keys:
        assert (built["out"] / trial_page(key)).is_file(), key
        assert (built["out"] / trial_feed(key)).is_file(), key
    assert (built["out"] / "index.html").is_file() and (built["out"] / MARKER).is_file()
    index, _ = parse_html(built["out"] / "index.html")
    linked = {a.get("href") for a in index.iter("a")}
    assert {trial_page(k) for k in keys} <= linked


def test_every_page_is_html5_without_errors_and_says_its_language(built) -> None:
    pages = sorted(built["out"].rglob("*.html"))
    assert len(pages) == 3
    for page in pages:
        doc, errors = parse_html(page)
        assert errors == [], (page, errors)
        assert doc.get("lang") == "en", page
        assert doc.find(".//title").text.strip(), page
        assert doc.find(".//h1") is not None, page
        assert doc.find(".//meta[@name='viewport']") is not None, page


def test_every_internal_link_reaches_a_file_and_every_other_is_http(built) -> None:
    out = built["out"].resolve()
    checked = 0
    for page in built["out"].rglob("*.html"):
        doc, _ = parse_html(page)
        ids = {el.get("id") for el in doc.iter() if el.get("id")}
        for el in doc.iter():
            for attr in ("href", "src"):
                link = el.get(attr)
                if link is None:
                    continue
                parts = urlsplit(link)
                if parts.scheme:
                    assert parts.scheme in ("http", "https"), (page, link)
                    continue
                if not parts.path:
                    assert parts.fragment in ids, (page, link)  # an anchor on the same page
                    continue
                target = (page.parent / unquote(parts.path)).resolve()
                assert target.is_file() and out in target.parents, (page, link)
                checked += 1
    assert checked >= 12  # style sheets, icons, trial pages, feeds, the way back to the index


def test_registry_ids_link_to_their_registries(built) -> None:
    doc, _ = parse_html(built["out"] / trial_page(PILOT))
    links = {a.text: a.get("href") for a in doc.iter("a") if a.text}
    assert links[PILOT] == f"https://euclinicaltrials.eu/search-for-clinical-trials/?lang=en&EUCT={PILOT}"
    assert links["2022-000281-18"] == "https://www.clinicaltrialsregister.eu/ctr-search/search?query=2022-000281-18"
    doc, _ = parse_html(built["out"] / trial_page(NCT))
    assert {a.get("href") for a in doc.iter("a") if a.text == NCT} == {f"https://clinicaltrials.gov/study/{NCT}"}


def test_scraped_text_is_escaped_and_never_a_link_but_http(built) -> None:
    for page in built["out"].rglob("*.html"):
        doc, _ = parse_html(page)
        assert doc.find(".//script") is None and doc.find(".//b") is None, page
        assert not re.search(r"(?i)\bjavascript:", page.read_text(encoding="utf-8")), page
    doc, _ = parse_html(built["out"] / trial_page(NCT))
    text = " ".join("".join(doc.itertext()).split())
    assert HOSTILE in text  # shown as the words it is
    # the feed entry whose link is javascript: is listed, without a link
    (stored,) = db_rows(built["db"], "SELECT fields FROM items WHERE key = 'urn:news:2'")
    assert json.loads(stored[0])["url"] == "javascript:alert(1)"
    entry = next(h for h in doc.iter("h3") if "".join(h.itertext()) == json.loads(stored[0])["title"])
    assert entry.find("a") is None


def test_the_trial_page_shows_its_story_in_words(built) -> None:
    doc, _ = parse_html(built["out"] / trial_page(NCT))
    text = " ".join("".join(doc.itertext()).split())
    for expected in (
        "Status Active, not recruiting",
        "ClinicalTrials.gov: NCT09990001 — Active, not recruiting; enrollment 58 (actual)",
        "NCT09990001 Enrollment: 41 (actual) → 58 (actual)",  # the timeline, as `trialwatch history` says it
        "NCT09990001 Status: Recruiting → Active, not recruiting",
        "reported: 38 enrolled, target 66",
        "Reported enrollment: 38 enrolled, target 66",  # beside the post that said it
        "Daratumumab in ME/CFS: the ResetME trial (test record)",
    ):
        assert expected in text, expected
    assert "ACTIVE_NOT_RECRUITING" not in text and "ESTIMATED" not in text  # codes never reach a person
    status_rows = [["".join(td.itertext()) for td in tr.iter("td")] for tr in doc.iter("tr")
                   if tr.find("td") is not None and not tr.get("data-kind")]
    assert status_rows == [["2026-06-01", NCT, "Recruiting"], ["2027-01-16", NCT, "Active, not recruiting"]]
    pilot, _ = parse_html(built["out"] / trial_page(PILOT))
    pilot_text = " ".join("".join(pilot.itertext()).split())
    assert "Ongoing, recruiting → Ongoing, recruitment ended" in pilot_text


def test_the_latest_posts_come_newest_first_and_a_post_that_reported_figures_stays(built) -> None:
    doc, _ = parse_html(built["out"] / trial_page(NCT))
    section = next(s for s in doc.iter("section") if s.get("aria-labelledby") == "posts")
    items = [li for li in section.iter("li")]
    assert len(items) == LATEST + 1  # the newest ten, and the older post that reported the figures
    times = [li.find(".//time").get("datetime") for li in items]
    assert times[:LATEST] == sorted(times[:LATEST], reverse=True)
    assert times[LATEST] < times[LATEST - 1]
    last = " ".join("".join(items[-1].itertext()).split())
    assert last.startswith("Post by Hutan") and "Reported enrollment: 38 enrolled, target 66" in last
    assert REPORT in last
    entries = [li for li in items if "Research Foundation" in "".join(li.itertext())]
    assert len(entries) == 2  # the feed's entries are listed with the posts (the same label ties them)


# ------------------------------------------------------------------------------------ the chart and the bar


def test_the_chart_shows_the_figures_of_the_database(built) -> None:
    key = NCT
    expected = set()
    for observed_at, new in db_rows(built["db"], "SELECT observed_at, new FROM field_history WHERE trial = ? "
                                                 "AND field = 'enrollment' ORDER BY id", key):
        value = json.loads(new)
        if value["type"] == "ACTUAL":
            expected.add(("registry", observed_at, value["count"]))
    for at, new in db_rows(built["db"], "SELECT at, new FROM events WHERE trial = ? AND kind = 'enrollment_reported'",
                           key):
        expected.add(("reported", at, json.loads(new)["enrolled"]))
    assert expected == {("registry", CYCLES[2], 41), ("registry", CYCLES[3], 58), ("reported", CYCLES[1], 38)}

    doc, _ = parse_html(built["out"] / trial_page(key))
    svg = svg_of(doc, "chart")
    assert svg.get("role") == "img" and svg.find(f"{SVG}title") is not None and svg.find(f"{SVG}desc") is not None
    marks = {(m.get("data-kind"), m.get("data-date"), int(m.get("data-value"))) for m in svg.iter()
             if m.get("data-value") is not None}
    assert marks == expected
    table = {(tr.get("data-kind"), tr.get("data-date"), int(tr.get("data-value"))) for tr in doc.iter("tr")
             if tr.get("data-value") is not None}
    assert table == expected  # the text alternative lists the same figures
    target = [el.get("data-target") for el in svg.iter() if el.get("data-target")]
    assert target == ["66"]
    # higher figures are drawn higher, later ones further right
    points = sorted((m.get("data-date"), int(m.get("data-value")), float(m.get("cy") or 0)) for m in svg.iter(f"{SVG}circle")
                    if m.get("data-kind") == "registry")
    assert points[0][2] > points[1][2]


def test_the_index_bar_tells_registry_and_reported_figures_apart(built) -> None:
    doc, _ = parse_html(built["out"] / "index.html")
    card = next(li for li in doc.iter("li") if li.get("class") == "trial-card"
                and li.find(".//h3/a").get("href") == trial_page(NCT))
    bar = svg_of(card, "bar")
    assert (bar.get("data-registry"), bar.get("data-reported"), bar.get("data-target")) == ("58", "38", "66")
    widths = {r.get("class"): float(r.get("width")) for r in bar.iter(f"{SVG}rect") if "fill" in r.get("class")}
    assert widths == {"fill registry": round(58 / 66 * 100, 1), "fill reported": round(38 / 66 * 100, 1)}
    text = " ".join("".join(card.itertext()).split())
    assert "Registry: 58 (actual) of 66" in text and "Reported: 38 enrolled of 66" in text
    assert "Last change 2027-01-16: NCT09990001" in text
    # grouped by label: the pilot under "pilot", the CT.gov trial under "resetme"
    groups = {"".join(s.find("h2").itertext()): [h.find("a").text for h in s.iter("h3")] for s in doc.iter("section")}
    assert groups == {"pilot": ["Daratumumab ME/CFS pilot"], "resetme": ["RESETME"]}


# ---------------------------------------------------------------------------------------------- the feeds


def test_each_trial_feed_parses_and_carries_its_events(built) -> None:
    for key in (NCT, PILOT):
        feed = feedparser.parse((built["out"] / trial_feed(key)).read_bytes())
        assert not feed.bozo, (key, feed.get("bozo_exception"))
        ids = {e.id for e in feed.entries}
        stored = {f"urn:trialwatch:event:{i}" for (i,) in db_rows(built["db"], "SELECT id FROM events WHERE trial = ?",
                                                                   key)}
        assert stored and stored <= ids, key
    feed = feedparser.parse((built["out"] / trial_feed(NCT)).read_bytes())
    kinds = {t.term for e in feed.entries for t in e.tags}
    assert {"enrollment_changed", "status_changed", "enrollment_reported", "new_post", "new_publication"} <= kinds
    page, _ = parse_html(built["out"] / trial_page(NCT))
    alternate = page.find(".//link[@rel='alternate']")
    assert alternate.get("type") == "application/atom+xml" and alternate.get("href") == f"{trial_slug(NCT)}.atom"


# ------------------------------------------------------------------------------------ config and commands


def test_site_config_keys_and_their_errors(tmp_path) -> None:
    cfg = config_from_dict({"site": {"out_dir": "site", "base_url": "https://example.org/trials"}})
    assert (cfg.site.out_dir, cfg.site.base_url) == ("site", "https://example.org/trials/")
    for table, key in (({"out_dirr": "x"}, "out_dirr"), ({"base_url": "ftp://example.org/"}, "base_url"),
                       ({"out_dir": 3}, "out_dir"), ({"out_dir": " "}, "out_dir")):
        with pytest.raises(ConfigError, match=rf"\[site\].*{key}"):
            config_from_dict({"site": table}, source="t.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text('[site]\nbase_url = "javascript:alert(1)"\n')
    assert main(["--config", str(bad), "site", str(tmp_path / "out")]) == 2


def test_site_refuses_a_folder_it_did_not_write(built, tmp_path, capsys) -> None:
    mine = tmp_path / "notes"
    mine.mkdir()
    (mine / "thesis.txt").write_text("years of work")
    assert main(["--config", str(built["cfg"]), "site", str(mine)]) == 2
    assert "did not write" in capsys.readouterr().err
    assert [p.name for p in mine.iterdir()] == ["thesis.txt"]
    assert main(["--config", str(built["cfg"]), "site"]) == 2  # no OUTDIR and no [site] out_dir
    assert "OUTDIR" in capsys.readouterr().err


def test_discord_trial_answer_links_to_the_page_when_base_url_is_set(built) -> None:
    from bot.discord.answers import trial_dossier
    from bot.site.paths import public_url

    repo = Repo(connect(built["db"]))
    try:
        trial = repo.identity.trial(NCT)
        url = public_url("https://example.org/trials/", trial_page(trial["key"]))
        embed = trial_dossier(trial, repo.events(trial=NCT), repo.field_history(trial=NCT), page_url=url)
        assert embed["url"] == f"https://example.org/trials/trials/{NCT}.html"
        assert embed["fields"][0] == {"name": "Tracker page", "value": embed["url"], "inline": False}
        assert "url" not in trial_dossier(trial, [], [], page_url=None)
    finally:
        repo.db.close()


def test_page_names_are_safe_and_distinct() -> None:
    assert trial_slug(NCT) == NCT and trial_slug("resetme") == "resetme"
    odd = [trial_slug(k) for k in ("nct09990001", "a/b", "a b", "../x", ".hidden")]
    assert all(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", s) for s in odd), odd
    assert len(set(odd + [NCT])) == len(odd) + 1


# ------------------------------------------------------------------------------------ the layout, pure


def test_the_bar_is_drawn_only_against_a_target_and_never_past_it() -> None:
    from bot.site.gather import Enrollment
    from bot.site.svg import enrollment_bar

    def enrollment(target, registry, reported):
        return Enrollment(target, registry, None, reported, None, None, "—", None)

    bar = enrollment_bar(enrollment(66, 70, 33))
    assert (bar.registry_width, bar.reported_width) == (100.0, 50.0)  # over-enrolled: full, not past the end
    assert bar.label == "Enrollment: registry count 70 of 66; reported in text 33 of 66"
    assert enrollment_bar(enrollment(None, 41, None)) is None  # no target: the figures are told in words only
    assert enrollment_bar(enrollment(66, None, None)) is None
    only = enrollment_bar(enrollment(66, None, 12))
    assert only.registry is None and only.height == 10


def test_the_chart_places_figures_by_date_and_value() -> None:
    from bot.present.charts import chart_model
    from bot.present.timeline import build_timeline
    from bot.site.svg import HEIGHT, WIDTH, chart_geometry

    history = [
        {"item_key": NCT, "field": "status", "old": None, "new": "RECRUITING", "observed_at": "2026-01-05T10:00:00Z"},
        {"item_key": NCT, "field": "enrollment", "old": None, "new": {"count": 66, "type": "ESTIMATED"},
         "observed_at": "2026-01-05T10:00:00Z"},
        {"item_key": NCT, "field": "enrollment", "old": None, "new": {"count": 20, "type": "ACTUAL"},
         "observed_at": "2026-04-01T10:00:00Z"},
        {"item_key": NCT, "field": "enrollment", "old": None, "new": {"count": 60, "type": "ACTUAL"},
         "observed_at": "2029-04-01T10:00:00Z"},
    ]
    geo = chart_geometry(chart_model(build_timeline(NCT, history, [])))
    (early, late) = geo.marks
    assert early.x < late.x and early.y > late.y  # later: further right; more: higher
    assert geo.left <= early.x and late.x <= geo.right and geo.top <= late.y <= geo.bottom
    assert geo.target == 66 and geo.target_y < late.y  # the target is above 60
    assert [t.label for t in geo.y_ticks] == ["0", "20", "40", "60"]
    assert 2 <= len(geo.x_ticks) <= 4 and all(re.fullmatch(r"\d{4}", t.label) for t in geo.x_ticks)  # years
    assert all(0 <= t.pos <= WIDTH for t in geo.x_ticks) and 0 < geo.bottom < HEIGHT
    assert geo.step.count(",") == 3  # 20, then a step up to 60
    assert chart_geometry(chart_model(build_timeline(NCT, [], []))) is None  # nothing to draw, no chart
