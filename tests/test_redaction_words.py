"""Redacting a URL inside a message keeps the sentence around it: the punctuation after the URL is the
sentence's, not the URL's."""

from __future__ import annotations

from scrapers.http.errors import FetchError, describe


def test_the_words_after_a_redacted_url_stay() -> None:
    err = FetchError("invalid_url", "refused to fetch https://m.example/api/v1/timelines/tag/MECFS?limit=40: "
                                    "127.0.0.1 is a loopback address.")
    assert describe(err) == ("refused to fetch https://m.example/api/v1/timelines/tag/MECFS?limit=***: "
                             "127.0.0.1 is a loopback address.")


def test_a_secret_in_a_query_is_still_redacted_before_a_comma_or_a_bracket() -> None:
    text = describe(ValueError("see https://a.example/x?token=abc123, then (https://b.example/p?key=zz9)."))
    assert "abc123" not in text and "zz9" not in text
    assert text.endswith("?key=***).") and "?token=***, then" in text


def test_discord_error_text_keeps_the_words_after_a_url_too() -> None:
    from bot.discord.webhook import redact_secrets

    assert redact_secrets("failed https://x.example/a?key=SECRET&b=2: 127.0.0.1 is down") == \
        "failed https://x.example/a?key=***&b=***: 127.0.0.1 is down"
