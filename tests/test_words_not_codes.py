"""What people read is in words, through one formatter (issue 6, point 4): statuses as the registry writes
them for people, enrollment types in words, results as yes/no, forum posts from their author and thread."""

from __future__ import annotations

from bot.present.console import format_event
from bot.present.values import change_text, status_text, value_text
from storage.diff import make_event


def _event(kind: str, **kw):
    base = dict(id="x", watch="w", source="ctgov", subject="NCT01234567", trial=None, title="T", url=None,
                at="2026-11-26T00:00:00Z")
    base.update(kw)
    return make_event(kind=kind, **base)


def test_statuses_enrollment_and_results_read_as_words() -> None:
    assert status_text("ACTIVE_NOT_RECRUITING") == "Active, not recruiting"
    assert status_text("Ongoing, recruiting") == "Ongoing, recruiting"  # CTIS sends words already
    assert change_text("enrollment", {"count": 66, "type": "ESTIMATED"}, {"count": 64, "type": "ACTUAL"}) == \
        "Enrollment: 66 (estimated) → 64 (actual)"
    assert change_text("results_posted", False, True) == "Results posted: no → yes"
    assert value_text({"completed": 20, "target": 66, "enrolled": 45}) == "45 enrolled, target 66, 20 completed"


def test_console_lines_in_words() -> None:
    line = format_event(_event("status_changed", field="status", old="RECRUITING", new="ACTIVE_NOT_RECRUITING"))
    assert "Status: Recruiting → Active, not recruiting" in line and "RECRUITING" not in line
    post = format_event(_event("new_post", source="xenforo_thread", subject="900025", title="ResetME thread",
                               detail={"author": "Hutan", "thread_title": "ResetME thread", "text": "An update."}))
    assert post.startswith("[w] Hutan posted in “ResetME thread”: An update.") and "900025" not in post
    error = format_event(_event("source_error", subject="w", detail={"error": "timed out"}))
    assert error == "[w] source error: timed out"  # the watch named once


def test_explain_says_each_error_once() -> None:
    from types import SimpleNamespace

    from bot.engine.explain import explain_lines

    report = SimpleNamespace(watch="w", kind="feed", status="error", error="timed out talking to example.org",
                             stages=[("fetch", "started"), ("error", "timed out talking to example.org")], events=[])
    text = "\n".join(explain_lines([report], {}))
    assert text.count("timed out talking to example.org") == 1
