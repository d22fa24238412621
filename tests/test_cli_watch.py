"""``trialwatch watch list/add/remove`` and ``events`` against a database."""

from __future__ import annotations

import textwrap

from bot.cli import main


def test_watch_add_list_remove(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text(textwrap.dedent(f"""
        [database]
        path = "{tmp_path / 'w.db'}"
        [[watch]]
        id = "from-config"
        kind = "ctgov"
        trial = "NCT01234567"
    """))
    assert main(["--config", str(cfg), "watch", "add", "ctgov", "NCT07654321", "--interval", "2h",
                 "--label", "resetme"]) == 0
    assert "added ctgov-nct07654321" in capsys.readouterr().out
    assert main(["--config", str(cfg), "watch", "add", "ctgov", "query.cond=ME/CFS&query.intr=daratumumab",
                 "--id", "dara"]) == 0
    capsys.readouterr()
    assert main(["--config", str(cfg), "watch", "add", "ctgov", "NCT123"]) == 2
    assert "trial" in capsys.readouterr().err
    assert main(["--config", str(cfg), "watch", "add", "ctgov", "NCT07654321"]) == 2
    assert "exists already" in capsys.readouterr().err
    assert main(["--config", str(cfg), "watch", "list"]) == 0
    out = capsys.readouterr().out
    assert "from-config\tctgov trial=NCT01234567" in out
    assert "ctgov-nct07654321\tctgov trial=NCT07654321\tevery 2h\tenabled\tlabels=resetme\tlast ok never" in out
    assert "dara\tctgov params=query.cond=ME/CFS&query.intr=daratumumab" in out
    assert main(["--config", str(cfg), "watch", "remove", "dara"]) == 0
    assert main(["--config", str(cfg), "watch", "remove", "dara"]) == 2
    capsys.readouterr()
    main(["--config", str(cfg), "watch", "list"])
    assert "dara\t" not in capsys.readouterr().out


def test_one_target_written_two_ways_is_one_watch(tmp_path, capsys) -> None:
    """``r/CFS`` and ``cfs`` are one subreddit: the same default id, and a second add is refused by name."""
    db = tmp_path / "tw.db"
    assert main(["--db", str(db), "watch", "add", "reddit", "r/CFS"]) == 0
    assert "added reddit-cfs: reddit subreddit=cfs" in capsys.readouterr().out
    assert main(["--db", str(db), "watch", "add", "reddit", "cfs"]) == 2
    assert "'reddit-cfs' exists already" in capsys.readouterr().err
    assert main(["--db", str(db), "watch", "add", "reddit", "/r/cfs/", "--id", "another"]) == 2
    assert "watch 'reddit-cfs' already follows reddit subreddit=cfs" in capsys.readouterr().err


def test_two_hashtags_on_one_instance_are_two_watches(tmp_path, capsys) -> None:
    db = tmp_path / "tw.db"
    assert main(["--db", str(db), "watch", "add", "mastodon", "https://mastodon.example/tags/MECFS"]) == 0
    assert main(["--db", str(db), "watch", "add", "mastodon", "https://mastodon.example/tags/LongCovid"]) == 0
    out = capsys.readouterr().out
    assert "mastodon-https-mastodon-example-mecfs" in out and "mastodon-https-mastodon-example-longcovid" in out
