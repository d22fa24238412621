"""One ``trialwatch run`` per database: an exclusive ``flock`` on ``<db>.lock``.

Kept apart from the service so ``trialwatch check`` can ask "is a service delivering from this
database?" without importing the scheduler.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class AlreadyRunning(RuntimeError):
    """Another ``trialwatch run`` holds the database's lock."""


class InstanceLock:
    """An exclusive ``flock`` on ``<db>.lock``, held for the life of the service.

    The kernel drops a flock when its process dies, so a crash never leaves a stale lock behind; the
    file (holding the owner's pid, for the message) is left in place on purpose: deleting it would
    let a third process lock a different inode.
    """

    def __init__(self, db_path: str) -> None:
        self.db_path = db_path
        self.path = Path(f"{db_path}.lock")
        self._fd: int | None = None

    def acquire(self) -> "InstanceLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise AlreadyRunning(f"another trialwatch service (pid {holder}) is already running on the database "
                                 f"{self.db_path} (lock {self.path}); stop it first or use another --db") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def service_running(db_path: str) -> bool:
    """Whether a ``trialwatch run`` holds this database's lock right now (asked without taking it)."""
    if db_path == ":memory:" or not Path(f"{db_path}.lock").exists():
        return False
    try:
        InstanceLock(db_path).acquire().release()
    except AlreadyRunning:
        return True
    return False
