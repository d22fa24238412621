"""The ``mastodon`` watch kind's checks as a person sets them up: a watch ``url`` that ``urlsplit`` cannot read is
a configuration error naming ``url`` (never a traceback)."""

from __future__ import annotations

import pytest

from bot.cli import main


@pytest.mark.parametrize("url", ["http://[::1/@x", "https://mastodon.social:port/@kari", "https://:443/@kari",
                                 "javascript:alert(7)"])
def test_a_watch_url_that_cannot_be_read_is_a_configuration_error_naming_url(tmp_path, capsys, url) -> None:
    cfg = tmp_path / "trialwatch.toml"
    cfg.write_text(f'[database]\npath = "{tmp_path / "tw.db"}"\n'
                   f'[[watch]]\nid = "m"\nkind = "mastodon"\nurl = "{url}"\n')
    assert main(["--config", str(cfg), "check"]) == 2
    err = capsys.readouterr().err
    assert "configuration error" in err and "url" in err and url in err and "Traceback" not in err

    empty = tmp_path / "empty.toml"
    empty.write_text(f'[database]\npath = "{tmp_path / "tw2.db"}"\n')
    for target in (url, url.replace("/@x", "/tags/MECFS")):
        assert main(["--config", str(empty), "watch", "add", "mastodon", target]) == 2
        err = capsys.readouterr().err
        assert "mastodon watch needs url" in err and "Traceback" not in err
