"""Enrollment over time as a PNG: registry figures and reported figures marked differently, the target
as a line, and the trial's status as coloured bands. Rendered with matplotlib's Agg backend (no screen).

What a chart shows is decided once, in :func:`chart_model`; the website draws the same model as SVG
(bot/site/svg.py).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.present.timeline import Point, Timeline
from bot.present.values import status_text

#: colours the tests look for: keep them distinct from everything else drawn
TARGET_COLOUR = "#d62728"
REGISTRY_COLOUR = "#1f77b4"
REPORTED_COLOUR = "#ff7f0e"
_BAND_COLOURS = ("#e8f4ea", "#eef0f8", "#fbf1e6", "#f4e8f4", "#e9f3f6")

SIZE_INCHES = (10, 5)
DPI = 100


@dataclass(frozen=True)
class Band:
    """One status band: the trial's status (in words) from ``start`` until ``stop``."""

    start: datetime
    stop: datetime
    status: str


@dataclass
class ChartModel:
    """What an enrollment chart shows, whatever draws it (this PNG, the website's SVG): one set of rules
    for the time range, the bands, the marks and the scale, so the two pictures cannot disagree."""

    start: datetime | None  # the x-axis range, padded; None when there is nothing in time to show
    end: datetime | None
    y_max: float
    bands: list[Band] = field(default_factory=list)
    registry: list[Point] = field(default_factory=list)  # ACTUAL counts from the registries
    reported: list[Point] = field(default_factory=list)  # figures reported in talks, posts, papers
    declared: list[Point] = field(default_factory=list)  # figures known when watching began (config)
    target: int | None = None

    @property
    def has_figures(self) -> bool:
        return bool(self.registry or self.reported or self.declared or self.target)


def chart_model(tl: Timeline) -> ChartModel:
    """The chart of a timeline: a range of at least 60 days (one figure still reads as a point in time),
    padded 5 % each side; a status band per status until the next; a y scale 15 % above the largest figure."""
    times = [p.at for p in tl.enrollment + tl.reported] + [s.start for s in tl.statuses]
    values = [p.value for p in tl.enrollment + tl.reported] + ([tl.target] if tl.target else [])
    model = ChartModel(None, None, max(values + [1]) * 1.15, registry=list(tl.enrollment),
                       reported=[p for p in tl.reported if p.kind != "declared"],
                       declared=[p for p in tl.reported if p.kind == "declared"], target=tl.target or None)
    if times:
        start, end = min(times), max(times)
        if end - start < timedelta(days=60):
            end = start + timedelta(days=60)
        pad = (end - start) * 0.05
        model.start, model.end = start - pad, end + pad
        for i, span in enumerate(tl.statuses):
            stop = tl.statuses[i + 1].start if i + 1 < len(tl.statuses) else model.end
            model.bands.append(Band(span.start, stop, status_text(span.status)))
    return model


def render_enrollment_chart(tl: Timeline, *, title: str | None = None) -> bytes:
    """The chart as PNG bytes (1000×500 px). A timeline with no figures still draws (an empty axis)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib import dates as mdates
    from matplotlib import pyplot as plt

    model = chart_model(tl)
    fig, ax = plt.subplots(figsize=SIZE_INCHES, dpi=DPI)
    try:
        if model.start is not None:
            ax.set_xlim(model.start, model.end)
            for i, band in enumerate(model.bands):
                ax.axvspan(band.start, band.stop, color=_BAND_COLOURS[i % len(_BAND_COLOURS)], alpha=1.0, zorder=0)
                ax.text(band.start, 1.0, f" {band.status}", transform=ax.get_xaxis_transform(), va="top",
                        ha="left", fontsize=8, color="#444444", clip_on=True)
        if model.registry:
            ax.step([p.at for p in model.registry], [p.value for p in model.registry], where="post",
                    color=REGISTRY_COLOUR, linewidth=2, label="registry", zorder=3)
            ax.scatter([p.at for p in model.registry], [p.value for p in model.registry], color=REGISTRY_COLOUR,
                       marker="o", s=30, zorder=4)
        if model.reported:
            ax.scatter([p.at for p in model.reported], [p.value for p in model.reported], color=REPORTED_COLOUR,
                       marker="^", s=70, label="reported (talks, posts, papers)", zorder=5)
        if model.declared:
            ax.scatter([p.at for p in model.declared], [p.value for p in model.declared], color=REPORTED_COLOUR,
                       marker="D", s=60, label="known when watching began (config)", zorder=5)
        if model.target:
            ax.axhline(model.target, color=TARGET_COLOUR, linestyle="--", linewidth=2, label=f"target {model.target}",
                       zorder=2)
        ax.set_ylim(0, model.y_max)
        ax.set_ylabel("participants")
        ax.set_title(title or f"Enrollment: {tl.key}")
        locator = mdates.AutoDateLocator(minticks=3, maxticks=8)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))
        fig.autofmt_xdate()
        if model.has_figures:
            ax.legend(loc="lower right")
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=DPI)
        return buf.getvalue()
    finally:
        plt.close(fig)
