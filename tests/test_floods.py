"""A flood is announced as a few events and one summary (issue 4, point 4): a feed that grows by thousands
of entries must not queue hours of webhook rate limit ahead of real trial news."""

from __future__ import annotations

import sqlite3

from bot.demo.replay import Reply
from bot.demo.world.feeds import atom
from tests.support.check_helpers import module_server, run_check, server, write_config  # noqa: F401 (fixtures)


def feed(n: int) -> str:
    return atom(*((f"urn:e:{i}", f"Entry {i}", f"https://news.example.org/{i}", f"<p>{i}</p>") for i in range(n)))


def test_a_flood_is_capped_and_summarised_and_every_item_is_stored(server, tmp_path, capsys) -> None:
    server.route("GET", "/news.atom", Reply(body=feed(1), content_type="application/atom+xml"))
    cfg = write_config(tmp_path, server, f"""
        [[watch]]
        id = "news"
        kind = "feed"
        url = "{server.url}/news.atom"
    """)
    assert run_check(cfg, capsys) == (0, [])
    server.route("GET", "/news.atom", Reply(body=feed(1001), content_type="application/atom+xml"))
    code, events = run_check(cfg, capsys)
    assert code == 0
    assert [e["kind"] for e in events].count("new_entry") == 49
    (summary,) = [e for e in events if e["kind"] == "events_summarised"]
    assert summary["detail"]["count"] == 951 and summary["detail"]["kinds"] == {"new_entry": 951}
    con = sqlite3.connect(tmp_path / "tw.db")
    assert con.execute("SELECT count(*) FROM items WHERE watch_id = 'news'").fetchone()[0] == 1001  # all stored
    assert con.execute("SELECT count(DISTINCT event_id) FROM outbox").fetchone()[0] == 50  # only those are sent
    # the next check announces nothing again
    assert run_check(cfg, capsys) == (0, [])
