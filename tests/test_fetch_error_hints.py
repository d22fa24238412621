"""A site's own reading of an HTTP status is appended to the error a person sees (Mastodon's 401: a timeline
for signed-in users only; Reddit's 403: a private subreddit), and only to HTTP-status errors."""

from __future__ import annotations

from scrapers.http.errors import FetchError

HINTS = {401: "this instance shows this timeline only to signed-in users"}


def test_a_status_the_site_explains_gets_its_words() -> None:
    err = FetchError("http_status", "mastodon.example answered HTTP 401", url="https://mastodon.example/x",
                     status=401)
    hinted = err.hinted(HINTS)
    assert str(hinted) == ("mastodon.example answered HTTP 401 (this instance shows this timeline only to "
                           "signed-in users)")
    assert (hinted.kind, hinted.status, hinted.url) == ("http_status", 401, "https://mastodon.example/x")


def test_other_statuses_and_other_kinds_are_left_as_they_are() -> None:
    other = FetchError("http_status", "answered HTTP 500", status=500)
    timeout = FetchError("timeout", "timed out", status=401)
    assert other.hinted(HINTS) is other and timeout.hinted(HINTS) is timeout
