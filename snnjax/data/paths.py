"""User-given data folders as :class:`etils.epath.Path` (what tfds and orbax use), so remote paths such as
``gs://bucket/data`` stay remote instead of becoming local folders."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from etils import epath

from snnjax.errors import DataError


def is_remote(path: str | os.PathLike) -> bool:
    """True for URL-style paths (``gs://...``, ``s3://...``)."""
    return "://" in os.fspath(path)


def user_path(path: str | os.PathLike) -> epath.Path:
    """``path`` with ``~`` expanded, made absolute if local; remote paths are kept as they are."""
    p = epath.Path(path).expanduser()
    return p if is_remote(p) or p.is_absolute() else p.absolute()


def is_writable_dir(path: epath.Path) -> bool:
    """True if ``path`` (or its closest existing ancestor) is a folder meant to be written; remote paths
    count as writable. A folder whose permission bits grant no write access is read-only even for root."""
    if is_remote(path):
        return True
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            return False
        probe = probe.parent
    return probe.is_dir() and bool(probe.stat().mode & 0o222) and os.access(probe, os.W_OK)


@contextlib.contextmanager
def removed_on_failure(folder: epath.Path) -> Iterator[None]:
    """Removes the topmost folder of ``folder`` that the block creates if it raises :class:`DataError` or
    ``OSError``, so a command that fails on bad data or a full disk leaves no new folders behind."""
    created = None
    probe = folder
    while not is_remote(probe) and not probe.exists() and probe.parent != probe:
        created, probe = probe, probe.parent
    try:
        yield
    except (DataError, OSError):
        if created is not None and created.exists():
            created.rmtree()
        raise
