"""A fresh ``check`` of a config that has not changed skips syncing it (issue 5: cost follows changes), and
a watch changed outside the config (removed, added from Discord) makes the next start sync again."""

from __future__ import annotations

from bot.app import open_repo, sync_config_watches
from bot.engine.config import config_from_dict


def _cfg(tmp_path, n: int = 200):
    return config_from_dict({"database": {"path": str(tmp_path / "tw.db")},
                             "watch": [{"id": f"t{i}", "kind": "ctgov", "trial": f"NCT{10000000 + i}"}
                                       for i in range(n)]})


def test_an_unchanged_config_is_not_synced_again(tmp_path) -> None:
    cfg = _cfg(tmp_path)
    repo = open_repo(cfg)
    sync_config_watches(repo, cfg)
    before = repo.db.conn.total_changes
    sync_config_watches(repo, _cfg(tmp_path))
    assert repo.db.conn.total_changes == before  # not one row written, not one watch read back


def test_a_changed_config_and_a_removed_config_watch_are_synced(tmp_path) -> None:
    cfg = _cfg(tmp_path)
    repo = open_repo(cfg)
    sync_config_watches(repo, cfg)
    repo.remove_watch("t3")
    sync_config_watches(repo, cfg)
    assert repo.get_watch("t3") is not None  # a config watch comes back (the README says so)
    smaller = _cfg(tmp_path, n=100)
    sync_config_watches(repo, smaller)
    assert repo.get_watch("t150").enabled is False  # no longer in the config: disabled, history kept
