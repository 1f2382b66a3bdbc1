"""Tests of snnjax.data.paths: user paths stay remote, folders a failed command created are removed."""

from __future__ import annotations

import os

import pytest
from etils import epath

from snnjax.data import paths
from snnjax.errors import DataError


def test_user_path(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert paths.user_path("~/data") == tmp_path / "data"
    monkeypatch.chdir(tmp_path)
    assert paths.user_path("rel/x") == tmp_path / "rel" / "x"
    remote = paths.user_path("gs://bucket/data")
    assert os.fspath(remote) == "gs://bucket/data" and paths.is_remote(remote)
    assert os.fspath(remote / "tfds") == "gs://bucket/data/tfds"  # not a local folder named gs:


def test_removed_on_failure(tmp_path):
    target = epath.Path(tmp_path) / "a" / "b" / "c"
    with pytest.raises(DataError), paths.removed_on_failure(target):
        target.mkdir(parents=True)
        raise DataError("bad file")
    assert list(tmp_path.iterdir()) == []  # the topmost created folder went
    (tmp_path / "a").mkdir()
    with pytest.raises(OSError), paths.removed_on_failure(target):
        target.mkdir(parents=True)
        raise OSError("disk full")
    assert [p.name for p in tmp_path.iterdir()] == ["a"] and not (tmp_path / "a" / "b").exists()
    with pytest.raises(KeyboardInterrupt), paths.removed_on_failure(target):  # an interrupt keeps its work
        target.mkdir(parents=True)
        raise KeyboardInterrupt
    assert target.is_dir()


def test_is_writable_dir(tmp_path):
    assert paths.is_writable_dir(epath.Path(tmp_path) / "new" / "deeper")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        assert not paths.is_writable_dir(epath.Path(ro) / "tfds")
    finally:
        ro.chmod(0o755)
    assert paths.is_writable_dir(epath.Path("gs://bucket/x"))
