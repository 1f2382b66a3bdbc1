"""A run's workdir: checked before use, one writer at a time, removed again if a failed command created it.

Paths go through ``etils.epath`` (as orbax and tfds do), so ``gs://`` and other non-local workdirs work
wherever their filesystem backend is installed.

The lock is ``<workdir>/.lock`` holding ``pid host``. On a local disk it is also an ``flock``, which the
kernel releases when the process dies however it dies, so a killed run never leaves the workdir stuck;
the next run takes the stale lock over and says so. On other filesystems a lock whose process is gone
(same host) is taken over the same way.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from collections.abc import Callable, Iterator

import jax
from etils import epath

from snnjax.errors import WorkdirError

LOCK_NAME = ".lock"


def is_local(path: epath.Path) -> bool:
    return "://" not in str(path)


def check(path: epath.PathLike) -> epath.Path:
    """The workdir as a path; raises :class:`WorkdirError` if it exists and is not a directory."""
    path = epath.Path(path)
    if path.exists() and not path.is_dir():
        raise WorkdirError(f"--workdir {path} is a file, not a directory")
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Lock:
    """Exclusive ownership of a workdir by this process."""

    def __init__(self, workdir: epath.Path, note: Callable[[str], None]):
        self.path = workdir / LOCK_NAME
        self.owner = f"{os.getpid()} {socket.gethostname()}"
        self._fd: int | None = None
        holder = self._read()
        if is_local(workdir):
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(self._fd)
                raise WorkdirError(self._in_use(workdir, holder)) from None
        elif holder and holder.split()[1:] == [socket.gethostname()] and _alive(int(holder.split()[0])):
            raise WorkdirError(self._in_use(workdir, holder))
        if holder:
            note(f"note: taking over the lock of process {holder}, which is no longer running")
        self.path.write_text(self.owner + "\n")

    def _read(self) -> str:
        try:
            return self.path.read_text().strip()
        except (FileNotFoundError, OSError):
            return ""

    @staticmethod
    def _in_use(workdir: epath.Path, holder: str) -> str:
        pid, _, host = holder.partition(" ")
        who = f"process {pid} on {host}" if pid else "another process"
        return f"workdir {workdir} is in use by {who}: one run per workdir (wait, or use another --workdir)"

    def release(self):
        with contextlib.suppress(OSError):
            self.path.unlink()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


@contextlib.contextmanager
def session(
    path: epath.PathLike, note: Callable[[str], None], *, create: bool = True
) -> Iterator[epath.Path]:
    """Uses ``path`` as this run's workdir: creates it if needed (process 0 holds the lock) and, if the
    command fails before any checkpoint was written into a workdir it created, removes the folders it
    created again."""
    path = check(path)
    created = None  # the topmost folder this command creates
    if create and not path.exists():
        created = path
        while not created.parent.exists() and created.parent != created:
            created = created.parent
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise WorkdirError(f"cannot create --workdir {path}: {e.strerror or e}") from None
    lock = None
    try:
        if create and jax.process_index() == 0:
            try:
                lock = Lock(path, note)
            except OSError as e:
                raise WorkdirError(f"cannot write to --workdir {path}: {e.strerror or e}") from None
        yield path
    except BaseException:
        if lock is not None:
            lock.release()
            lock = None
        if created is not None and jax.process_index() == 0 and not _has_checkpoints(path):
            with contextlib.suppress(OSError):
                created.rmtree()
        raise
    finally:
        if lock is not None:
            lock.release()


def _has_checkpoints(path: epath.Path) -> bool:
    root = path / "checkpoints"
    return root.exists() and any(p.name.split(".")[0].isdigit() for p in root.iterdir())
