"""A database that cannot be used is one clear message naming the file, never a traceback (issues 4 and 6)."""

from __future__ import annotations

import sqlite3
import textwrap

import pytest

import bot.commands
from bot.cli import main


@pytest.fixture
def cfg(tmp_path):
    path = tmp_path / "trialwatch.toml"
    path.write_text(textwrap.dedent("""
        [notify]
        console = false
    """))
    return path


def test_a_text_file_as_the_database(tmp_path, cfg, capsys) -> None:
    db = tmp_path / "notes.db"
    db.write_text("my notes, not a database\n")
    assert main(["--config", str(cfg), "--db", str(db), "check"]) == 2
    err = capsys.readouterr().err
    assert f"{db} is not a trialwatch database" in err and "Traceback" not in err


def test_a_directory_as_the_database(tmp_path, cfg, capsys) -> None:
    assert main(["--config", str(cfg), "--db", str(tmp_path), "watch", "list"]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path} is a directory" in err and "Traceback" not in err


def test_a_database_locked_by_another_process(tmp_path, cfg, capsys) -> None:
    db = tmp_path / "tw.db"
    assert main(["--config", str(cfg), "--db", str(db), "watch", "list"]) == 0
    holder = sqlite3.connect(db)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        assert main(["--config", str(cfg), "--db", str(db), "watch", "add", "pubmed", "daratumumab"]) == 2
    finally:
        holder.rollback()
        holder.close()
    err = capsys.readouterr().err
    assert f"{db} is locked by another process" in err and "Traceback" not in err


def test_an_unexpected_bug_is_one_paragraph_and_the_traceback_only_with_v(tmp_path, cfg, capsys, monkeypatch) -> None:
    def broken(args, cfg):
        raise KeyError("boom")

    monkeypatch.setitem(bot.commands.COMMANDS, "trials", broken)
    assert main(["--config", str(cfg), "--db", str(tmp_path / "tw.db"), "trials"]) == 1
    err = capsys.readouterr().err
    assert "unexpected error (KeyError: 'boom')" in err and "run the same command with -v" in err
    assert "Traceback" not in err
    assert main(["--config", str(cfg), "--db", str(tmp_path / "tw.db"), "-v", "trials"]) == 1
    assert "Traceback" in capsys.readouterr().err


@pytest.mark.parametrize("sqlite_says, expected", [
    ("attempt to write a readonly database", "is read-only"),
    ("database or disk is full", "is full"),
    ("database is locked", "is locked by another process"),
    ("file is not a database", "is not a trialwatch database"),
])
def test_each_database_failure_is_one_sentence_naming_the_file(sqlite_says: str, expected: str) -> None:
    """Read-only files cannot be made so for root (who runs the tests here); the message is checked directly."""
    from storage.db import describe_storage_error

    text = describe_storage_error("/data/tw.db", sqlite3.OperationalError(sqlite_says))
    assert "/data/tw.db" in text and expected in text
