"""Addresses in Discourse watches and posts: an id is ASCII digits, a link is http(s).

``str.isdigit`` accepts "²" and "١٢": ``…/t/x/²`` crashed ``load_config`` with a raw ValueError, ``…/c/x/²``
was taken for a category and ``…/t/x/١٢`` silently became topic 12; a quote's ``data-post="²"`` crashed the
parser.
A link preview's ``data-onebox-src="javascript:…"`` became a link and words of the post.
"""

from __future__ import annotations

import pytest

from bot.cli import main
from scrapers.discourse.cooked import render_cooked
from scrapers.discourse.urls import discourse_target
from scrapers.records import UnsupportedWatch
from tests.support.check_helpers import module_server, server, write_config  # noqa: F401 (fixtures)
from tests.test_discourse import config, watch

SITE = "https://forum.example.org/forum"

BAD_URLS = ["/t/x/²", "/t/²", "/c/x/²", "/t/x/١٢", "/c/x/١٢", "/t/x/" + "9" * 40]


@pytest.mark.parametrize("path", BAD_URLS)
def test_an_address_whose_id_is_not_ascii_digits_is_unsupported(path) -> None:
    with pytest.raises(UnsupportedWatch, match="url"):
        discourse_target(f"https://f.example{path}")


@pytest.mark.parametrize("path", ["/t/x/²", "/c/x/²", "/t/x/١٢"])
def test_such_an_address_in_the_config_is_a_configuration_error_naming_url(server, tmp_path, capsys, path) -> None:
    cfg = config(tmp_path, server, watch("d-topic", url=f"{server.url}/forum{path}"))
    assert main(["--config", str(cfg), "check"]) == 2
    captured = capsys.readouterr()
    assert "configuration error" in captured.err and "d-topic" in captured.err
    assert "discourse watch: url" in captured.err  # the key to correct
    assert "Traceback" not in captured.out + captured.err
    assert server.take_requests() == []  # nothing was fetched, least of all topic 12


@pytest.mark.parametrize("path", ["/t/x/²", "/c/x/²", "/t/x/١٢"])
def test_watch_add_refuses_such_an_address_naming_url(server, tmp_path, capsys, path) -> None:
    cfg = write_config(tmp_path, server, "")
    assert main(["--config", str(cfg), "watch", "add", "discourse", f"{server.url}/forum{path}"]) == 2
    err = capsys.readouterr().err
    assert "discourse watch: url" in err and "Traceback" not in err
    assert main(["--config", str(cfg), "watch", "list"]) == 0
    assert "discourse" not in capsys.readouterr().out


@pytest.mark.parametrize("number", ["²", "١٢", "-1", "1e3", "12.5", "9" * 40, ""])
def test_a_quote_whose_post_number_is_not_ascii_digits_has_none(number) -> None:
    cooked = (f'<aside class="quote" data-username="kari" data-post="{number}" data-topic="{number}">'
              f'<blockquote><p>Quoted.</p></blockquote></aside><p>My words.</p>')
    text, quotes, _ = render_cooked(cooked, SITE)
    assert text == "My words."
    assert quotes == [{"author": "kari", "post_number": None, "topic_id": None, "url": None}]


@pytest.mark.parametrize("src", ["javascript:alert(5)", "JavaScript:alert(5)", " javascript:alert(5)",
                                 "data:text/html,<b>x</b>", "vbscript:msgbox(1)", "//evil.example/x", "https://"])
def test_a_preview_of_an_address_that_is_not_http_is_dropped(src) -> None:
    cooked = (f'<aside class="onebox" data-onebox-src="{src}"><article><h3><a href="{src}">Click me</a></h3>'
              f'<p>Remote snippet.</p></article></aside><p>My words.</p>')
    text, _, links = render_cooked(cooked, SITE)
    assert (text, links) == ("My words.", [])


def test_a_preview_with_a_bad_source_falls_back_to_its_web_link() -> None:
    cooked = ('<aside class="onebox" data-onebox-src="javascript:alert(5)"><h3>'
              '<a href="https://www.uib.no/resetme">ResetME</a></h3><p>Remote snippet.</p></aside><p>My words.</p>')
    text, _, links = render_cooked(cooked, SITE)
    assert (text, links) == ("https://www.uib.no/resetme\nMy words.", ["https://www.uib.no/resetme"])
