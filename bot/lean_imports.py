"""Import three libraries without the optional extras they would load but trialwatch never uses.

One explicit call, :func:`import_lean_libraries`, made by the command line's ``main`` before anything else
imports them; library code elsewhere imports them as usual (and, in a test or a library use of trialwatch
that never called it, simply gets them with their extras).

Why: ``trialwatch check`` is a short process (cron, the benchmark, the service's subprocess-free
cycles still pay it once), and on a quiet cycle its start-up is most of its cost. Three libraries
import heavy *optional* packages merely because they are installed:

* ``sqlite_utils`` imports **numpy** (and tries pandas) to map numpy types to SQLite columns;
  trialwatch stores JSON text and numbers, never numpy values;
* ``httpx`` imports its command-line tool (**click**, pygments, rich: ``httpx._main``) so that
  ``httpx.main`` exists; trialwatch never calls it;
* ``httpcore`` imports **trio** (with attrs and outcome) to support trio event loops;
  trialwatch runs on asyncio.

Measured with ``python -X importtime -m bot check``: about 90 ms of a 350 ms quiet check of 1,000
watches. :func:`without` makes those names look uninstalled *only while* the library is first
imported (an entry of ``None`` in ``sys.modules`` makes ``import x`` raise ``ImportError``, which
each library handles as "not installed"), then removes the entries again, so a later real import
(matplotlib importing numpy for ``trialwatch history --chart``) works as usual. A name already
imported is left alone.
"""

from __future__ import annotations

import importlib
import sys
from contextlib import contextmanager
from collections.abc import Iterator
from types import ModuleType

__all__ = ["import_lean", "import_lean_libraries", "without"]

#: library → the optional packages it would import for nothing (see above)
#: (httpx first: sqlite-utils imports click for real, after which httpx would load its own tool with it)
LEAN_LIBRARIES: dict[str, tuple[str, ...]] = {
    "httpx": ("click",),
    "httpcore": ("trio",),
    "sqlite_utils": ("numpy", "pandas"),
}


@contextmanager
def without(*names: str) -> Iterator[None]:
    """Within the block, ``import name`` fails as if ``name`` were not installed (unless it is
    imported already)."""
    hidden = [n for n in names if n not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        for name in hidden:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]


def import_lean(module: str, *, skip: tuple[str, ...]) -> ModuleType:
    """``import module`` with ``skip`` hidden during its first import."""
    if module in sys.modules:
        return sys.modules[module]
    with without(*skip):
        return importlib.import_module(module)


def import_lean_libraries() -> None:
    """Import every library of :data:`LEAN_LIBRARIES` without its optional extras (the entry point's call)."""
    for module, skip in LEAN_LIBRARIES.items():
        import_lean(module, skip=skip)
