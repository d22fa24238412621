"""Where each page of the tracker website lives, and its address when the site is served.

A page's name depends on its trial's key alone, so ``/trial`` in Discord can link to it without
building the site. Registry keys (``NCT09990001``, ``2024-512500-19-00``) and declared keys
(``resetme``) are already safe file names; anything else is made safe and given a short hash, so two
keys never share a file (on case-insensitive disks too).
"""

from __future__ import annotations

import hashlib
import posixpath
import re
from urllib.parse import quote

from scrapers.trial_ids import scheme_of

INDEX = "index.html"
STYLE = "style.css"
FAVICON = "favicon.svg"
TRIALS = "trials"
#: a file in every written site: a folder holding it may be replaced whole; any other folder is left alone
MARKER = ".trialwatch-site"

_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")


def trial_slug(key: str) -> str:
    """The file name stem of a trial's page and feed."""
    if scheme_of(key):
        return key  # a registry id: its own format is a safe name
    if _SAFE.match(key) and not scheme_of(key.upper()) and not key.endswith("."):
        return key  # a declared key that no registry id can equal, whatever the case
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", key).strip(".-")[:60] or "trial"
    return f"{cleaned}-{hashlib.sha1(key.encode('utf-8')).hexdigest()[:8]}"


def trial_page(key: str) -> str:
    """``trials/NCT09990001.html``: the trial's page, relative to the site's root."""
    return f"{TRIALS}/{trial_slug(key)}.html"


def trial_feed(key: str) -> str:
    """``trials/NCT09990001.atom``: the Atom feed of the trial's events."""
    return f"{TRIALS}/{trial_slug(key)}.atom"


def public_url(base_url: str | None, path: str) -> str | None:
    """The address of ``path`` when the site is served at ``base_url`` (``[site] base_url``), else None."""
    if not base_url:
        return None
    return base_url.rstrip("/") + "/" + quote(path, safe="/")


def relative(from_page: str, to_path: str) -> str:
    """A link from one page to another file of the site that works served and opened from disk alike."""
    return posixpath.relpath(to_path, posixpath.dirname(from_page) or ".")
