"""Workdir handling: the one-writer lock, cleanup after a failed command, and non-local (``gs://``)
paths kept non-local by every writer of a run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from etils import epath
from etils.epath import testing as epath_testing

from snnjax.errors import WorkdirError
from snnjax.train import checkpoint, records, workdir


def test_lock_excludes_a_second_holder_and_is_released(tmp_path):
    notes: list[str] = []
    lock = workdir.Lock(epath.Path(tmp_path), notes.append)
    assert (tmp_path / ".lock").read_text().split()[0] == str(os.getpid())
    with pytest.raises(WorkdirError, match=f"in use by process {os.getpid()}"):
        workdir.Lock(epath.Path(tmp_path), notes.append)
    lock.release()
    assert not (tmp_path / ".lock").exists()
    workdir.Lock(epath.Path(tmp_path), notes.append).release()
    assert notes == []


def test_stale_lock_is_taken_over_with_a_note(tmp_path):
    (tmp_path / ".lock").write_text("4242 elsewhere\n")
    notes: list[str] = []
    workdir.Lock(epath.Path(tmp_path), notes.append).release()
    assert len(notes) == 1 and "4242 elsewhere" in notes[0] and "no longer running" in notes[0]


def test_failed_command_removes_only_what_it_created(tmp_path):
    existing = tmp_path / "existing"
    existing.mkdir()
    with pytest.raises(RuntimeError), workdir.session(existing / "a" / "b", print):
        assert (existing / "a" / "b" / ".lock").exists()
        raise RuntimeError("data missing")
    assert existing.is_dir() and not (existing / "a").exists()
    with pytest.raises(RuntimeError), workdir.session(existing, print):
        raise RuntimeError("data missing")
    assert existing.is_dir() and not (existing / ".lock").exists()


def test_workdir_that_is_a_file(tmp_path):
    (tmp_path / "f").write_text("")
    with pytest.raises(WorkdirError, match="is a file"):
        workdir.check(tmp_path / "f")


@pytest.fixture
def bucket(tmp_path, monkeypatch):
    """``gs://bucket/...`` served from ``tmp_path/bucket`` through epath's mock backend."""
    root = tmp_path / "bucket"
    root.mkdir()
    monkeypatch.chdir(tmp_path)

    def local(path) -> str:
        text = os.fspath(path)
        return text.replace("gs://bucket", str(root)) if text.startswith("gs://bucket") else text

    def one(fn, path, *args, **kwargs):
        return fn(local(path), *args, **kwargs)

    def two(fn, src, dst, *args, **kwargs):
        return fn(local(src), local(dst), *args, **kwargs)

    single = ["exists", "glob", "isdir", "listdir", "makedirs", "mkdir", "open", "remove", "rmtree", "stat",
              "walk"]  # fmt: skip
    with epath_testing.mock_epath(**dict.fromkeys(single, one), rename=two, replace=two, copy=two):
        yield root


def test_non_local_workdir_stays_non_local(bucket, tmp_path, monkeypatch):
    run = "gs://bucket/runs/1"
    with workdir.session(run, print) as path:
        assert str(path) == run and (bucket / "runs" / "1" / ".lock").exists()
        with pytest.raises(WorkdirError, match="in use"):  # same host, live process: no flock needed
            workdir.Lock(path, print)
        log = records.MetricsLog(path)
        log.write({"step": 1, "train_loss": 0.5, "train_accuracy": 0.5})
        log.write({"step": 1, "test_accuracy": 0.25, "test_loss": 1.0})
        records.write_json(path / "results.json", {"test_accuracy": 0.25})
        assert records.plot_metrics(path) == path / "metrics.png"
    files = {p.name for p in (bucket / "runs" / "1").iterdir()}
    assert files == {"metrics.jsonl", "results.json", "metrics.png"}
    assert records.read_metrics(f"{run}/metrics.jsonl")[1]["test_accuracy"] == 0.25
    assert not any(p.name.startswith("gs:") for p in Path(tmp_path).rglob("*"))

    seen = []
    monkeypatch.setattr(checkpoint.ocp, "CheckpointManager", lambda directory, **_: seen.append(directory))
    checkpoint.Checkpointer(run)
    assert seen == [epath.Path(run) / "checkpoints"] and str(seen[0]).startswith("gs://")
