"""One call that writes the website: gather from the database, render, swap in (``trialwatch site``, the
service after a check with events, the demo)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from bot.site.gather import SiteData, gather_site
from bot.site.paths import INDEX
from bot.site.render import render_site
from bot.site.write import write_atomically
from storage.clock import utcnow
from storage.reported import DeclaredTrial
from storage.repo import Repo


@dataclass
class SiteReport:
    out_dir: Path
    trials: int
    files: int

    @property
    def index(self) -> Path:
        return self.out_dir / INDEX


def write_site(data: SiteData, out_dir: str | Path, *, templates: Path | None = None) -> SiteReport:
    """Render ``data`` into ``out_dir``, whole or not at all (no database needed: runs in a worker thread)."""
    out = Path(out_dir).absolute()
    files = write_atomically(out, render_site(data, templates))
    return SiteReport(out, len(data.trials), files)


def build_site(repo: Repo, declared: Sequence[DeclaredTrial], out_dir: str | Path, *, base_url: str | None = None,
               now: str | None = None, templates: Path | None = None) -> SiteReport:
    """Gather every known trial from ``repo`` and write the website into ``out_dir``."""
    data = gather_site(repo, declared, now=now or utcnow(), base_url=base_url)
    return write_site(data, out_dir, templates=templates)
