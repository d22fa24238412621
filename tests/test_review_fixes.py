"""Found by an independent review as a new user and an attacker; each is a test that failed before the fix."""

from __future__ import annotations

import textwrap

import pytest

from bot.cli import main
from scrapers.json_body import loads_json
from scrapers.records import ParseError
from scrapers.signals import find_signals


def test_a_directory_or_binary_file_as_the_config_is_a_clear_error(tmp_path, capsys) -> None:
    assert main(["--config", str(tmp_path), "check"]) == 2
    assert f"{tmp_path} is a directory" in capsys.readouterr().err
    binary = tmp_path / "c.toml"
    binary.write_bytes(b"\xe9\x00\xff")
    assert main(["--config", str(binary), "check"]) == 2
    err = capsys.readouterr().err
    assert "is not UTF-8 text" in err and "Traceback" not in err


def test_a_config_starting_with_a_byte_order_mark_is_read(tmp_path, capsys) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_bytes("\ufeff[notify]\nconsole = false\n".encode("utf-8"))
    assert main(["--config", str(cfg), "--db", str(tmp_path / "tw.db"), "watch", "list"]) == 0


def test_intervals_are_positive_and_at_most_a_year(tmp_path, capsys) -> None:
    db = str(tmp_path / "tw.db")
    for interval, message in (("99999999999999999999d", "at most a year"), ("0m", "longer than zero")):
        assert main(["--db", db, "watch", "add", "pubmed", "fatigue", "--interval", interval]) == 2
        assert message in capsys.readouterr().err


def test_an_unset_secret_is_said_on_stderr(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.delenv("TW_TEST_WEBHOOK", raising=False)
    cfg = tmp_path / "c.toml"
    cfg.write_text(textwrap.dedent("""
        [notify]
        console = false
        [discord]
        webhook_url = "${TW_TEST_WEBHOOK}"
    """))
    assert main(["--config", str(cfg), "--db", str(tmp_path / "tw.db"), "watch", "list"]) == 0
    assert "TW_TEST_WEBHOOK" in capsys.readouterr().err


def test_global_options_also_after_the_command(tmp_path, capsys) -> None:
    assert main(["--db", str(tmp_path / "tw.db"), "watch", "list", "-q"]) == 0
    assert main(["--db", str(tmp_path / "tw.db"), "-v", "trials", "-q"]) == 0


def test_watch_list_shows_what_a_watch_follows(tmp_path, capsys) -> None:
    db = str(tmp_path / "tw.db")
    assert main(["--db", db, "watch", "list"]) == 0  # the seed watchlist
    lines = {line.split("\t")[0]: line.split("\t")[1] for line in capsys.readouterr().out.splitlines()}
    assert lines["s4me-resetme-thread"].startswith("xenforo_thread url=https://www.s4me.info/threads/")
    assert lines["ctgov-daratumumab-mecfs"].startswith("ctgov params=query.cond=")


def test_a_number_too_big_to_be_a_count_gives_no_figure() -> None:
    assert find_signals("We have enrolled 1234567 of the 66 patients.") == []


def test_json_with_a_six_thousand_digit_integer_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="number too long"):
        loads_json(b'{"count": ' + b"9" * 6000 + b"}")


@pytest.mark.parametrize("args, message", [
    (["events", "--since", "garbage"], "give an ISO date or time"),
    (["events", "--watch", "nope"], "no such watch"),
    (["feed", "--label", "nope"], "no watch carries it"),
    (["history", "resetme", "--chart", "/no/such/dir/x.png"], "cannot write the chart there"),
])
def test_a_mistyped_option_is_a_usage_error_not_silence(tmp_path, capsys, args, message) -> None:
    assert main(["--db", str(tmp_path / "tw.db"), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_an_empty_feed_is_dated_now_not_1970(tmp_path, capsys) -> None:
    assert main(["--db", str(tmp_path / "tw.db"), "feed", "--label", "resetme"]) == 0
    assert "<updated>1970" not in capsys.readouterr().out


def test_the_demo_says_so_and_fails_when_discord_took_no_post(tmp_path) -> None:
    import io

    from bot.demo.run import run_demo
    from tests.support.discord_standin import DiscordStandIn

    with DiscordStandIn() as standin:
        standin.delete_webhook()  # every post is refused (404, Unknown Webhook)
        out = io.StringIO()
        code = run_demo(out, env={"DISCORD_WEBHOOK_URL": standin.url})
    assert code == 3
    assert "Discord refused or could not be reached for every post" in out.getvalue()


def test_a_short_interval_is_noted_and_an_unset_webhook_is_named_in_explain(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.delenv("TW_TEST_HOOK", raising=False)
    cfg = tmp_path / "c.toml"
    cfg.write_text(textwrap.dedent("""
        [notify]
        console = false
        [discord]
        webhook_url = "${TW_TEST_HOOK}"
        [[watch]]
        id = "t"
        kind = "ctgov"
        trial = "NCT01234567"
        interval = "1s"
        enabled = false
    """))
    assert main(["--config", str(cfg), "--db", str(tmp_path / "tw.db"), "check", "--explain"]) == 0
    captured = capsys.readouterr()
    assert "shorter than the 60 minutes a ctgov watch should wait" in captured.err
    assert "delivery discord: off" in captured.out and "TW_TEST_HOOK" in captured.out


def test_signals_refuses_binary_and_oversized_input(tmp_path, capsys) -> None:
    binary = tmp_path / "x.bin"
    binary.write_bytes(b"\x00\x01\x02" * 100)
    assert main(["signals", str(binary)]) == 2
    assert "is not text" in capsys.readouterr().err
    big = tmp_path / "big.txt"
    big.write_text("45 of 66 enrolled. " * 120_000)
    assert main(["signals", str(big)]) == 2
    assert "larger than 2 MB" in capsys.readouterr().err


def test_parse_says_json_is_not_a_xenforo_page(tmp_path, capsys) -> None:
    saved = tmp_path / "x.json"
    saved.write_text('{"studies": []}')
    assert main(["parse", "xenforo_thread", str(saved)]) == 3
    assert "got JSON" in capsys.readouterr().err


def test_a_typo_in_a_watch_key_suggests_the_closest_key() -> None:
    from bot.engine.config import ConfigError, config_from_dict

    with pytest.raises(ConfigError, match=r"unknown key 'parms'; did you mean 'params'\?"):
        config_from_dict({"watch": [{"id": "x", "kind": "ctgov", "parms": {"query.cond": "x"}}]})
