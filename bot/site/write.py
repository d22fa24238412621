"""Writing the website whole or not at all: a web server never serves half a site.

The files go into a fresh folder beside OUTDIR (``.OUTDIR.new-…``, on the same disk); only when every
file is written is it swapped in. On Linux the swap is one ``renameat2(RENAME_EXCHANGE)``: at every
moment OUTDIR is either the old site or the new one. Elsewhere it is two renames (old aside, new in),
and for that instant OUTDIR is missing, never partial. A failure while writing (a template error, a
full disk) removes the new folder and leaves the old site as it was.

OUTDIR is replaced whole, so trialwatch only ever replaces a folder it wrote (one holding its
:data:`~bot.site.paths.MARKER` file) or an empty one: ``trialwatch site ~`` is refused, not obeyed.
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterable

from bot.site.paths import MARKER

STALE_S = 3600  # a leftover folder of an interrupted write older than this is removed at the next write


class SiteWriteError(Exception):
    """The website could not be written; the message names the folder and why (the old site, if any, stays)."""


def write_atomically(out_dir: Path, files: Iterable[tuple[str, str]], *,
                     exchange: Callable[[Path, Path], bool] | None = None) -> int:
    """Write ``files`` (relative path, text) as the whole content of ``out_dir``; returns how many were written.

    ``files`` may be a generator that renders as it goes: an exception it raises midway leaves ``out_dir``
    untouched. ``exchange`` swaps two folders atomically (default: :func:`exchange_dirs`); returning False
    means "not supported here", and two renames are used instead.
    """
    out_dir = Path(out_dir).absolute()
    _check_replaceable(out_dir)
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SiteWriteError(f"cannot create {out_dir.parent}: {exc.strerror or exc}") from None
    _remove_stale(out_dir)
    try:
        fresh = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.new-", dir=out_dir.parent))
    except OSError as exc:
        raise SiteWriteError(f"cannot write beside {out_dir}: {exc.strerror or exc}") from None
    try:
        count = 0
        for name, text in files:
            target = _inside(fresh, name)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8", newline="\n")
            count += 1
        (fresh / MARKER).write_text("Written by trialwatch (trialwatch site). This folder is replaced whole "
                                    "each time the site is written.\n", encoding="utf-8")
        _readable(fresh)
        _swap(fresh, out_dir, exchange or exchange_dirs)
    except BaseException:
        shutil.rmtree(fresh, ignore_errors=True)
        raise
    return count


def exchange_dirs(a: Path, b: Path) -> bool:
    """Swap two folders in one step (Linux ``renameat2`` with ``RENAME_EXCHANGE``); False where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint)
    renameat2.restype = ctypes.c_int
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):  # an old kernel, or a file system without it
        return False
    raise OSError(code, os.strerror(code), str(b))


def _swap(fresh: Path, out_dir: Path, exchange: Callable[[Path, Path], bool]) -> None:
    if not out_dir.exists():
        os.rename(fresh, out_dir)
        return
    if exchange(fresh, out_dir):
        shutil.rmtree(fresh, ignore_errors=True)  # it holds the old site now
        return
    old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}-{time.monotonic_ns()}")
    os.rename(out_dir, old)
    try:
        os.rename(fresh, out_dir)
    except OSError:
        os.rename(old, out_dir)  # put the old site back
        raise
    shutil.rmtree(old, ignore_errors=True)


def _check_replaceable(out_dir: Path) -> None:
    if out_dir.is_symlink() or (out_dir.exists() and not out_dir.is_dir()):
        raise SiteWriteError(f"{out_dir} exists and is not a folder; give a folder for the website")
    if out_dir.is_dir() and not (out_dir / MARKER).exists():
        try:
            empty = not any(out_dir.iterdir())
        except OSError as exc:
            raise SiteWriteError(f"cannot read {out_dir}: {exc.strerror or exc}") from None
        if not empty:
            raise SiteWriteError(f"{out_dir} holds files trialwatch did not write; the website replaces its folder "
                                 "whole, so give a new or empty folder (or one written by trialwatch site)")


def _inside(root: Path, name: str) -> Path:
    """``root / name``, refusing names that would leave ``root`` (the names are the site's own; this is a guard)."""
    target = (root / name).resolve()
    if root.resolve() not in target.parents:
        raise SiteWriteError(f"refusing to write {name!r} outside the website's folder")
    return target


def _readable(folder: Path) -> None:
    """``mkdtemp`` makes a private folder; a web server needs to read the site, as with any folder made here."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(folder, 0o777 & ~umask | 0o500)


def _remove_stale(out_dir: Path) -> None:
    """Leftovers of a write that was killed midway (never a write in progress: only old ones)."""
    now = time.time()
    for pattern in (f".{out_dir.name}.new-*", f".{out_dir.name}.old-*"):
        for path in out_dir.parent.glob(pattern):
            try:
                if path.is_dir() and not path.is_symlink() and now - path.stat().st_mtime > STALE_S:
                    shutil.rmtree(path, ignore_errors=True)
            except OSError:
                continue
