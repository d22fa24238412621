"""Configuration: defaults, ${ENV} expansion, and errors that name the bad key."""

from __future__ import annotations

import pytest

from bot.cli import main
from bot.engine.config import ConfigError, config_from_dict, load_config, parse_interval


def test_defaults_load_the_seed_watchlist(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no trialwatch.toml here
    cfg = load_config()
    ids = {w.id: w for w in cfg.watches}
    assert ids["resetme-pilot"].kind == "ctis" and ids["resetme-pilot"].keys == {"trial": "2024-512500-19-00"}
    assert ids["ctgov-daratumumab-mecfs"].keys["params"]["query.intr"] == "daratumumab"
    assert all("resetme" in w.labels for w in cfg.watches)
    assert cfg.db_path == "trialwatch.db" and cfg.check.first_run == "silent"


def test_env_expansion_and_secrets_left_unset():
    cfg = config_from_dict({"discord": {"webhook_url": "${HOOK}", "token": "${NOPE}"},
                            "http": {"user_agent": "tw (${WHO})"}}, env={"HOOK": "https://x/api/webhooks/1/abc",
                                                                         "WHO": "me@example.org"})
    assert cfg.discord.webhook_url == "https://x/api/webhooks/1/abc"
    assert cfg.discord.token is None
    assert cfg.http.user_agent == "tw (me@example.org)"
    assert cfg.destinations() == ["console", "discord_webhook"]


@pytest.mark.parametrize("raw, key", [
    ({"htpp": {}}, "'htpp'"),
    ({"http": {"timeout": 3}}, "'timeout'"),
    ({"http": {"timeout_s": "fast"}}, "[http].timeout_s"),
    ({"check": {"first_run": "loud"}}, "[check].first_run"),
    ({"watch": [{"id": "x", "kind": "ctgov", "trial": "NCT1"}]}, "trial"),
    ({"watch": [{"id": "Bad Id", "kind": "ctgov"}]}, ".id"),
    ({"watch": [{"id": "x", "kind": "myspace", "url": "u"}]}, ".kind"),
    ({"watch": [{"id": "x", "kind": "ctgov", "trial": "NCT01234567", "interval": "soon"}]}, ".interval"),
    ({"watch": [{"id": "x", "kind": "ctgov", "trial": "NCT01234567"},
                {"id": "x", "kind": "ctgov", "trial": "NCT01234568"}]}, "duplicate"),
    ({"http": {"user_agent": "${MISSING_VAR} bot"}}, "MISSING_VAR"),
])
def test_errors_name_the_key(raw, key):
    with pytest.raises(ConfigError) as exc:
        config_from_dict(raw, source="t.toml", env={})
    assert key in str(exc.value) and "t.toml" in str(exc.value)


def test_bad_config_exits_2_with_the_key(tmp_path, capsys):
    path = tmp_path / "c.toml"
    path.write_text('[http]\nper_host_rps = "lots"\n')
    assert main(["--config", str(path), "watch", "list"]) == 2
    assert "[http].per_host_rps" in capsys.readouterr().err
    path.write_text("[http\n")
    assert main(["--config", str(path), "watch", "list"]) == 2
    assert "not valid TOML" in capsys.readouterr().err


def test_intervals():
    assert parse_interval("6h", "x") == 21600
    assert parse_interval("90s", "x") == 90
    assert parse_interval("1.5m", "x") == 90
    with pytest.raises(ConfigError, match='x: write the interval with its unit, like "30m"'):
        parse_interval(30, "x")  # seconds or hours? a bare number is refused, naming the key
    with pytest.raises(ConfigError):
        parse_interval("0h", "x")
