"""Tests of snnjax.data.events.source: listing and splitting each layout, DVS Gesture segments, the frame
cache (identical, not recomputed, atomic, corrupt files replaced)."""

from __future__ import annotations

import ml_collections
import numpy as np
import pytest
from etils import epath

from snnjax.data import testing
from snnjax.data.events import frames as F
from snnjax.data.events import source
from snnjax.errors import DataError

OPTIONS = dict(num_frames=3, split_by="number", sensor_size=(128, 128), size=(16, 16), resize_mode="area",
               filter_time=None)  # fmt: skip


def _cfg(**kw):
    return ml_collections.ConfigDict({"train_ratio": 0.9, **kw})


def test_cifar10_dvs_listing_and_per_class_split(tmp_path):
    truth = testing.write_fake_cifar10_dvs(tmp_path, per_class=10, n=50)
    train = source.list_cifar10_dvs(epath.Path(tmp_path), "train", _cfg())
    test = source.list_cifar10_dvs(epath.Path(tmp_path), "test", _cfg())
    assert (len(train), len(test)) == (90, 10)
    assert [s.label for s in test] == truth["test"]["labels"] == list(range(10))
    # lexicographic order within a class: "..._0", "..._1", ..., "..._9" -> the last one goes to test
    assert test[0].path.name == "cifar10_airplane_9.aedat"
    assert len(source.list_cifar10_dvs(epath.Path(tmp_path), "test", _cfg(train_ratio=0.8))) == 20
    assert len(source.list_cifar10_dvs(epath.Path(tmp_path), "test", _cfg(train_ratio=0.85))) == 10  # 9 train
    with pytest.raises(DataError, match=r"class folder"):
        source.list_cifar10_dvs(epath.Path(tmp_path) / "airplane", "train", _cfg())


def test_nmnist_and_gesture_listing(tmp_path):
    testing.write_fake_nmnist(tmp_path / "nm", train=2, test=1)
    train = source.list_nmnist(epath.Path(tmp_path / "nm"), "train", _cfg())
    assert len(train) == 20 and [s.label for s in train[::2]] == list(range(10))
    truth = testing.write_fake_dvs_gesture(tmp_path / "g")
    for root in (tmp_path / "g", tmp_path / "g" / "DvsGesture"):  # the parent folder is accepted too
        samples = source.list_dvs_gesture(epath.Path(root), "train", _cfg())
        assert [s.label for s in samples] == truth["train"]["labels"]
    assert samples[0].time_range == (1000, 300_000) and samples[0].path.name == "user01_fluorescent.aedat"
    with pytest.raises(DataError, match="trial list not found"):
        source.list_dvs_gesture(epath.Path(tmp_path / "nm"), "train", _cfg())


def test_gesture_segments_cut_and_recording_read_once(tmp_path, monkeypatch):
    truth = testing.write_fake_dvs_gesture(tmp_path)
    samples = source.list_dvs_gesture(epath.Path(tmp_path), "test", _cfg())
    reads = []
    read_events = source.io.read_events
    monkeypatch.setattr(source.io, "read_events", lambda p: reads.append(p) or read_events(p))
    options = dict(OPTIONS, size=None, num_frames=1)
    src = source.EventSource(samples, options, epath.Path(tmp_path / "cache"), in_memory=True)
    assert len(reads) == 1  # three segments, one recording
    for frames, want in zip(src.frames, truth["test"]["examples"], strict=True):  # events t0 <= t < t1
        assert frames.sum() == want.size > 0
        np.testing.assert_array_equal(frames, F.events_to_frames(want, (128, 128), 1))


def test_cache_identical_not_recomputed_and_corrupt_file_replaced(tmp_path, monkeypatch):
    testing.write_fake_cifar10_dvs(tmp_path / "c", per_class=2, n=300)
    samples = source.list_cifar10_dvs(epath.Path(tmp_path / "c"), "test", _cfg(train_ratio=0.5))
    cache = epath.Path(tmp_path / "cache")
    first = source.EventSource(samples, OPTIONS, cache, in_memory=True).frames
    files = sorted(cache.iterdir())
    assert len(files) == 10 and all(f.suffix == ".npz" for f in files)  # no temp file left behind
    assert first.shape == (10, 3, 16, 16, 2)

    def fail(*a, **k):
        raise AssertionError("integrated again despite the cache")

    monkeypatch.setattr(F, "events_to_frames", fail)
    lazy = source.EventSource(samples, OPTIONS, cache, in_memory=False)
    np.testing.assert_array_equal(lazy.get(np.arange(10)), first)
    with pytest.raises(AssertionError):  # other options -> other cache entries -> integrated
        source.EventSource(samples, dict(OPTIONS, num_frames=4), cache, in_memory=True)
    monkeypatch.undo()
    files[0].write_bytes(b"not a zip")  # e.g. written by a foreign tool: recomputed and replaced
    np.testing.assert_array_equal(source.EventSource(samples, OPTIONS, cache, in_memory=True).frames, first)
    with files[0].open("rb") as f:
        assert np.load(f)["frames"].shape == (3, 16, 16, 2)


def test_cache_write_is_atomic(tmp_path, monkeypatch):
    testing.write_nmnist(tmp_path / "a.bin", testing.random_events(np.random.default_rng(0), 20, 34, 34, 100))
    sample = source.Sample(epath.Path(tmp_path / "a.bin"), 0)
    options = dict(OPTIONS, sensor_size=(34, 34), size=None)
    cache = epath.Path(tmp_path / "cache")

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez_compressed", interrupted)
    with pytest.raises(KeyboardInterrupt):
        source.EventSource([sample], options, cache, in_memory=True)
    assert list(cache.iterdir()) == []
    monkeypatch.undo()
    assert source.EventSource([sample], options, cache, in_memory=True).frames.sum() == 20
