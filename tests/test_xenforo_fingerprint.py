"""The quiet-thread fingerprint (``scrapers.xenforo.paging.page_fingerprint``): what it must notice and what it
must not, on real-format XenForo 1 and 2 pages from the demo world."""

from __future__ import annotations

import re

import pytest

from bot.demo.world.xenforo import Thread
from scrapers.xenforo.paging import page_fingerprint

ROOT = "https://forum.example/"


@pytest.fixture(params=["xf2", "xf1"])
def thread(request) -> Thread:
    t = Thread("ResetME: daratumumab for ME/CFS")
    t.engine = request.param
    t.add(30)
    return t


def test_the_same_posts_give_the_same_fingerprint_whatever_else_changes(thread: Thread) -> None:
    page = thread.render(2, ROOT).encode()
    noisy = re.sub(rb'(<html[^>]*>)', rb'\1<!-- 12 members online, token 8f3a -->', page, count=1)
    assert noisy != page
    assert page_fingerprint(noisy) == page_fingerprint(page)


def test_a_new_post_an_edit_or_a_removed_post_changes_it(thread: Thread) -> None:
    before = page_fingerprint(thread.render(2, ROOT).encode())
    thread.edit(thread.posts[-1], "Edited: recruitment is now complete.")
    edited = page_fingerprint(thread.render(2, ROOT).encode())
    thread.add(1)
    grown = page_fingerprint(thread.render(2, ROOT).encode())
    thread.delete(thread.posts[-3])
    removed = page_fingerprint(thread.render(2, ROOT).encode())
    assert len({before, edited, grown, removed}) == 4
