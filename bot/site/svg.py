"""The enrollment chart and the enrollment bar of the website, laid out as SVG geometry. Pure.

The chart draws the same :class:`~bot.present.charts.ChartModel` as the PNG of ``history --chart`` and
Discord (same range, bands, marks and target), as coordinates the templates turn into inline SVG
(templates/_svg.html) with Jinja's escaping. Each mark carries its figure and date (``data-value``,
``data-date``, ``data-kind``), and the page lists every figure in a table, so the chart reads without
sight and can be checked against the database.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone

from bot.present.charts import ChartModel
from bot.site.gather import Enrollment

WIDTH, HEIGHT = 440, 280
LEFT, RIGHT, TOP, BOTTOM = 40, 12, 30, 34  # room for the y labels, the band labels and the x labels
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_CHAR_W = 8.5  # about how wide one character of the labels is at their largest (15 units, on a phone)
BANDS = 5  # band colours in the style sheet (band-0 … band-4)


@dataclass
class Tick:
    pos: float
    label: str
    anchor: str = "middle"  # a label near an edge is anchored at its end that stays inside the chart


@dataclass
class BandBox:
    x: float
    width: float
    status: str
    since: str
    colour: int
    label_fits: bool


@dataclass
class Mark:
    """One figure: a circle (registry), a triangle (reported) or a diamond (declared) at (x, y)."""

    x: float
    y: float
    kind: str  # registry | reported | declared
    at: str
    value: int
    title: str
    path: str | None = None  # the outline of a triangle or diamond; None for a circle


@dataclass
class ChartGeometry:
    width: int
    height: int
    left: float
    top: float
    right: float
    bottom: float
    bands: list[BandBox] = field(default_factory=list)
    y_ticks: list[Tick] = field(default_factory=list)
    x_ticks: list[Tick] = field(default_factory=list)
    step: str = ""  # the registry's counts as a step line (SVG points)
    marks: list[Mark] = field(default_factory=list)
    target: int | None = None
    target_y: float | None = None
    summary: str = ""  # the chart in one paragraph (the SVG's <desc>)


@dataclass
class BarGeometry:
    """The index's enrollment bar: the registry's count and the reported figure, each against the target."""

    target: int
    registry: int | None
    reported: int | None
    registry_width: float  # 0 … 100
    reported_width: float
    height: int
    label: str


def chart_geometry(model: ChartModel) -> ChartGeometry | None:
    """The chart laid out in a WIDTH × HEIGHT box, or None when there is no figure to draw."""
    if model.start is None or model.end is None or not model.has_figures:
        return None
    geo = ChartGeometry(WIDTH, HEIGHT, LEFT, TOP, WIDTH - RIGHT, HEIGHT - BOTTOM, target=model.target)
    start, span = model.start.timestamp(), max(model.end.timestamp() - model.start.timestamp(), 1.0)

    def x(at: datetime) -> float:
        return round(geo.left + (at.timestamp() - start) / span * (geo.right - geo.left), 1)

    def y(value: float) -> float:
        return round(geo.bottom - value / model.y_max * (geo.bottom - geo.top), 1)

    for i, band in enumerate(model.bands):
        x0, x1 = max(x(band.start), geo.left), min(x(band.stop), geo.right)
        geo.bands.append(BandBox(x0, max(x1 - x0, 0.0), band.status, _day(band.start), i % BANDS,
                                 label_fits=(x1 - x0) >= _CHAR_W * len(band.status) + 6))
    geo.y_ticks = [Tick(y(v), str(v)) for v in _nice_steps(model.y_max / 1.15)]
    geo.x_ticks = [Tick(x(at), label, _anchor(x(at), label)) for at, label in _date_ticks(model.start, model.end)]
    registry = sorted(model.registry, key=lambda p: p.at)
    points: list[str] = []
    for i, point in enumerate(registry):
        if i:
            points.append(f"{x(point.at)},{y(registry[i - 1].value)}")
        points.append(f"{x(point.at)},{y(point.value)}")
    geo.step = " ".join(points)
    for point in registry:
        geo.marks.append(Mark(x(point.at), y(point.value), "registry", _iso(point.at), point.value,
                              f"{point.value} enrolled, registry count, {_day(point.at)}"))
    for kind, points_of_kind, words in (("reported", model.reported, "reported in text"),
                                        ("declared", model.declared, "known when watching began")):
        for point in sorted(points_of_kind, key=lambda p: p.at):
            cx, cy = x(point.at), y(point.value)
            geo.marks.append(Mark(cx, cy, kind, _iso(point.at), point.value,
                                  f"{point.value} enrolled, {words}, {_day(point.at)}", path=_shape(kind, cx, cy)))
    if model.target:
        geo.target_y = y(model.target)
    geo.summary = _summary(model)
    return geo


def enrollment_bar(enrollment: Enrollment) -> BarGeometry | None:
    """The bar of the index and the trial page, or None without a target or without a figure to set against it."""
    target = enrollment.target
    if not target or (enrollment.registry is None and enrollment.reported is None):
        return None
    rows = [v for v in (enrollment.registry, enrollment.reported) if v is not None]
    parts = []
    if enrollment.registry is not None:
        parts.append(f"registry count {enrollment.registry} of {target}")
    if enrollment.reported is not None:
        parts.append(f"reported in text {enrollment.reported} of {target}")
    return BarGeometry(target, enrollment.registry, enrollment.reported, _share(enrollment.registry, target),
                       _share(enrollment.reported, target), height=12 * len(rows) - 2,
                       label="Enrollment: " + "; ".join(parts))


def _anchor(pos: float, label: str) -> str:
    half = len(label) * _CHAR_W / 2
    if pos - half < 0:
        return "start"
    if pos + half > WIDTH:
        return "end"
    return "middle"


def _share(value: int | None, target: int) -> float:
    return 0.0 if value is None else round(min(max(value / target, 0.0), 1.0) * 100, 1)


def _shape(kind: str, cx: float, cy: float, r: float = 7.0) -> str:
    if kind == "reported":  # a triangle, point up
        return f"M{cx},{round(cy - r, 1)} L{round(cx + r, 1)},{round(cy + r * 0.8, 1)} " \
               f"L{round(cx - r, 1)},{round(cy + r * 0.8, 1)} Z"
    return f"M{cx},{round(cy - r, 1)} L{round(cx + r, 1)},{cy} L{cx},{round(cy + r, 1)} L{round(cx - r, 1)},{cy} Z"


def _nice_steps(top: float, most: int = 5) -> list[int]:
    """0 and round values (1, 2 or 5 × 10ⁿ apart) up to ``top``: at most ``most`` + 1 grid lines."""
    top = max(top, 1.0)
    raw = top / most
    magnitude = 10 ** math.floor(math.log10(raw)) if raw >= 1 else 1
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    step = max(int(step), 1)
    return list(range(0, int(top) + 1, step))


def _date_ticks(start: datetime, end: datetime, most: int = 4) -> list[tuple[datetime, str]]:
    """First days of months (or of years, over long ranges) inside the range, at most ``most`` of them."""
    months = []
    year, month = start.year, start.month
    while True:
        month += 1
        if month > 12:
            year, month = year + 1, 1
        at = datetime(year, month, 1, tzinfo=timezone.utc)
        if at > end:
            break
        months.append(at)
    if len(months) > most * 6:  # years apart: label the years
        years = [at for at in months if at.month == 1]
        every = max(1, math.ceil(len(years) / most))
        return [(at, str(at.year)) for at in years[::every]]
    every = next(n for n in (1, 2, 3, 4, 6, 12, 24, 36, 48, 60, 120) if math.ceil(len(months) / n) <= most) \
        if months else 1
    picked = [at for at in months if (at.year * 12 + at.month - 1) % every == 0] or months[:1]
    return [(at, f"{_MONTHS[at.month - 1]} {at.year}") for at in picked[:most]]


def _summary(model: ChartModel) -> str:
    parts = []
    if model.registry:
        last = max(model.registry, key=lambda p: p.at)
        parts.append(f"Registry count: {last.value} on {_day(last.at)} ({len(model.registry)} figure(s)).")
    reported = sorted(model.reported + model.declared, key=lambda p: p.at)
    if reported:
        parts.append(f"Reported in text: {reported[-1].value} enrolled on {_day(reported[-1].at)} "
                     f"({len(reported)} figure(s)).")
    if model.target:
        parts.append(f"Target: {model.target}.")
    if model.bands:
        parts.append("Status: " + "; ".join(f"{b.status} from {_day(b.start)}" for b in model.bands) + ".")
    parts.append("The table below lists every figure.")
    return " ".join(parts)


def _day(at: datetime) -> str:
    return at.strftime("%Y-%m-%d")


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")
