"""Enrollment over time as a PNG: registry figures and reported figures marked differently, the target
as a line, and the trial's status as coloured bands. Rendered with matplotlib's Agg backend (no screen).
"""

from __future__ import annotations

import io
from datetime import timedelta

from bot.present.timeline import Timeline
from bot.present.values import status_text

#: colours the tests look for: keep them distinct from everything else drawn
TARGET_COLOUR = "#d62728"
REGISTRY_COLOUR = "#1f77b4"
REPORTED_COLOUR = "#ff7f0e"
_BAND_COLOURS = ("#e8f4ea", "#eef0f8", "#fbf1e6", "#f4e8f4", "#e9f3f6")

SIZE_INCHES = (10, 5)
DPI = 100


def render_enrollment_chart(tl: Timeline, *, title: str | None = None) -> bytes:
    """The chart as PNG bytes (1000×500 px). A timeline with no figures still draws (an empty axis)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib import dates as mdates
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=SIZE_INCHES, dpi=DPI)
    try:
        times = [p.at for p in tl.enrollment + tl.reported] + [s.start for s in tl.statuses]
        if times:
            start, end = min(times), max(times)
            if end - start < timedelta(days=60):
                end = start + timedelta(days=60)  # one figure (a declared trial's) still reads as a point in time
            pad = (end - start) * 0.05
            ax.set_xlim(start - pad, end + pad)
            for i, span in enumerate(tl.statuses):
                stop = tl.statuses[i + 1].start if i + 1 < len(tl.statuses) else end + pad
                ax.axvspan(span.start, stop, color=_BAND_COLOURS[i % len(_BAND_COLOURS)], alpha=1.0, zorder=0)
                ax.text(span.start, 1.0, f" {status_text(span.status)}", transform=ax.get_xaxis_transform(), va="top",
                        ha="left", fontsize=8, color="#444444", clip_on=True)
        if tl.enrollment:
            ax.step([p.at for p in tl.enrollment], [p.value for p in tl.enrollment], where="post",
                    color=REGISTRY_COLOUR, linewidth=2, label="registry", zorder=3)
            ax.scatter([p.at for p in tl.enrollment], [p.value for p in tl.enrollment], color=REGISTRY_COLOUR,
                       marker="o", s=30, zorder=4)
        reported = [p for p in tl.reported if p.kind != "declared"]
        declared = [p for p in tl.reported if p.kind == "declared"]
        if reported:
            ax.scatter([p.at for p in reported], [p.value for p in reported], color=REPORTED_COLOUR,
                       marker="^", s=70, label="reported (talks, posts, papers)", zorder=5)
        if declared:
            ax.scatter([p.at for p in declared], [p.value for p in declared], color=REPORTED_COLOUR,
                       marker="D", s=60, label="known when watching began (config)", zorder=5)
        if tl.target:
            ax.axhline(tl.target, color=TARGET_COLOUR, linestyle="--", linewidth=2, label=f"target {tl.target}",
                       zorder=2)
        values = [p.value for p in tl.enrollment + tl.reported] + ([tl.target] if tl.target else [])
        ax.set_ylim(0, max(values + [1]) * 1.15)
        ax.set_ylabel("participants")
        ax.set_title(title or f"Enrollment: {tl.key}")
        locator = mdates.AutoDateLocator(minticks=3, maxticks=8)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))
        fig.autofmt_xdate()
        if tl.enrollment or tl.reported or tl.target:
            ax.legend(loc="lower right")
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=DPI)
        return buf.getvalue()
    finally:
        plt.close(fig)
