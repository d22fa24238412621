"""The website's files from :class:`~bot.site.gather.SiteData`: the templates filled, one file at a time. Pure.

Jinja2 escapes every value (``autoescape``), so a post's text or a trial's title can never become markup;
links come only from :func:`bot.present.atom.web_link` (http and https). A template that names a value that
does not exist fails (``StrictUndefined``) instead of printing nothing. Each trial's Atom feed is
:func:`bot.present.atom.events_to_atom`, the writer of ``trialwatch feed``.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

from bot.present.atom import events_to_atom
from bot.site.gather import SiteData, TrialData
from bot.site.paths import FAVICON, INDEX, STYLE, relative
from bot.site.svg import chart_geometry, enrollment_bar

#: a file name and its content (text, written as UTF-8)
SiteFile = tuple[str, str]


def environment(templates: Path | None = None) -> Any:
    """The Jinja2 environment: the package's templates, or a folder of templates that replaces some of them."""
    import jinja2

    loaders: list[Any] = [jinja2.PackageLoader("bot.site", "templates")]
    if templates is not None:
        loaders.insert(0, jinja2.FileSystemLoader(str(templates)))
    env = jinja2.Environment(loader=jinja2.ChoiceLoader(loaders), autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["day"] = day
    env.filters["when"] = when
    env.filters["machine_time"] = machine_time
    return env


def render_site(data: SiteData, templates: Path | None = None) -> Iterator[SiteFile]:
    """Every file of the site, one by one (a big site is never held whole in memory): the style sheet and
    icon, the index, and for each trial its page and its Atom feed."""
    env = environment(templates)
    for static in (STYLE, FAVICON):
        yield static, env.loader.get_source(env, static)[0]
    bars = {t.key: enrollment_bar(t.enrollment) for t in data.trials}
    yield INDEX, env.get_template("index.html").render(site=data, root="", bars=bars)
    page = env.get_template("trial.html")
    for trial in data.trials:
        yield trial.page, page.render(site=data, t=trial, root="../" * trial.page.count("/"),
                                      feed=relative(trial.page, trial.feed), bar_geo=bars[trial.key],
                                      chart_geo=chart_geometry(trial.chart))
        yield trial.feed, trial_feed(trial, data.generated_at)


def trial_feed(trial: TrialData, generated_at: str) -> str:
    """The trial's events (and the new posts and papers tied to it) as Atom, newest first."""
    updated = None if trial.events else generated_at  # an empty feed was last updated when it was written
    return events_to_atom(trial.events, title=f"{trial.name}: trial news (trialwatch)", updated=updated,
                          self_url=trial.public_feed, feed_id=f"urn:trialwatch:trial:{trial.key}")


def day(value: Any) -> str:
    """``2026-06-02T09:00:00Z`` → ``2026-06-02``; a date or other text as written."""
    text = str(value or "")
    return text[:10] if len(text) >= 10 and text[4:5] == "-" else text


_MACHINE_TIME = re.compile(r"\d{4}(-\d{2}(-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?")


def machine_time(value: Any) -> str:
    """``value`` when HTML's ``<time datetime>`` can hold it (a year, month, date or date and time), else ``""``."""
    text = str(value or "")
    return text if _MACHINE_TIME.fullmatch(text) else ""


def when(value: Any) -> str:
    """``2026-06-02T09:00:00Z`` → ``2026-06-02 09:00 UTC``."""
    try:
        at = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value)
    return at.strftime("%Y-%m-%d %H:%M UTC")
