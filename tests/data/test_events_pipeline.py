"""Event datasets through make_pipeline: [B, T, H, W, 2] batches, caching, splits, augmentation, resume."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from snnjax.data import default_data_config, make_pipeline, testing
from snnjax.data.events import frames as events_frames
from snnjax.errors import DataError

SENSORS = {"cifar10_dvs": (128, 128), "nmnist": (34, 34), "dvs128_gesture": (128, 128)}


def _cfg(name: str, root: Path, **kw):
    cfg = default_data_config()
    cfg.update(name=name, dir=str(root), cache_dir=str(root.parent / f"{root.name}_cache"), prefetch=0)
    cfg.update(kw)
    return cfg


def _with(cfg, **kw):
    cfg = cfg.copy_and_resolve_references()
    cfg.update(kw)
    return cfg


def _pipe(cfg, split="test", batch=8, train=False, steps=3, **kw):
    return make_pipeline(
        cfg, split=split, global_batch_size=batch, seed=0, train=train, process_index=0, process_count=1,
        model_num_steps=steps, **kw,
    )  # fmt: skip


def _eval_frames(pipe) -> tuple[np.ndarray, np.ndarray]:
    """One evaluation pass: frames [N, T, H, W, 2] and labels [N] of the unmasked examples."""
    xs, ys = [], []
    pipe.reset()
    for batch in pipe:
        m = batch["mask"]
        xs.append(batch["image"][m])
        ys.append(batch["label"][m])
    return np.concatenate(xs), np.concatenate(ys)


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    root = tmp_path_factory.mktemp("events")
    return {
        "cifar10_dvs": (root / "c10", testing.write_fake_cifar10_dvs(root / "c10")),
        "nmnist": (root / "nm", testing.write_fake_nmnist(root / "nm")),
        "dvs128_gesture": (root / "gest", testing.write_fake_dvs_gesture(root / "gest")),
    }


@pytest.mark.parametrize("name", ["cifar10_dvs", "nmnist", "dvs128_gesture"])
def test_every_format_reads_into_time_major_batches(datasets, name):
    root, truth = datasets[name]
    size = {"cifar10_dvs": 16, "nmnist": 0, "dvs128_gesture": 32}[name]
    cfg = _cfg(name, root, frame_size=size)
    pipe = _pipe(cfg, "test", batch=4, steps=3)
    side = size or 34
    info = pipe.info
    assert info.image_shape == (side, side, 2) and info.num_frames == 3
    assert (info.num_train, info.num_test) == (len(truth["train"]["labels"]), len(truth["test"]["labels"]))
    assert info.num_classes == (11 if name == "dvs128_gesture" else 10)
    batch = next(iter(pipe))
    assert batch["image"].shape == (4, 3, side, side, 2) and batch["image"].dtype == np.float32
    assert batch["label"].dtype == np.int32 and batch["mask"].dtype == bool
    frames, labels = _eval_frames(pipe)
    assert labels.tolist() == truth["test"]["labels"]  # dataset order, each example exactly once
    opts = dict(size=None if not size else (size, size))
    for got, events in zip(frames, truth["test"]["examples"], strict=True):
        want = events_frames.events_to_frames(events, SENSORS[name], 3, "number", **opts)
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
        if not size:  # native size: every event counted once per polarity
            for p in (0, 1):
                assert got[..., p].sum() == (events["p"] == p).sum()


def test_cifar10_dvs_per_class_split(datasets):
    root, _ = datasets["cifar10_dvs"]
    train = _pipe(_cfg("cifar10_dvs", root, frame_size=16), "train", batch=10, train=True)
    assert (train.info.num_train, train.info.num_test) == (90, 10)
    assert np.bincount(train._maker.source.labels).tolist() == [9] * 10
    names = [s.path.name for s in train._maker.source.samples if s.label == 0]
    assert "cifar10_airplane_9.aedat" not in names and len(names) == 9
    cfg = _cfg("cifar10_dvs", root, frame_size=16, train_ratio=0.8)
    assert _pipe(cfg, "test").info.num_test == 20


def test_cache_identical_and_lazy_mode(datasets, tmp_path, monkeypatch):
    root, _ = datasets["nmnist"]
    cfg = _cfg("nmnist", root, cache_dir=str(tmp_path / "cache"), num_frames=4)
    first, labels = _eval_frames(_pipe(cfg, steps=None))
    files = sorted((tmp_path / "cache").iterdir())
    assert len(files) == 10 and all(f.suffix == ".npz" for f in files)

    def fail(*a, **k):
        raise AssertionError("integrated again despite the cache")

    monkeypatch.setattr(events_frames, "events_to_frames", fail)
    again, labels2 = _eval_frames(_pipe(cfg, steps=4))
    np.testing.assert_array_equal(again, first)
    lazy, labels3 = _eval_frames(_pipe(_with(cfg, cache=False), steps=4))
    np.testing.assert_array_equal(lazy, first)
    assert labels.tolist() == labels2.tolist() == labels3.tolist()
    monkeypatch.undo()
    # other frame options -> other cache entries
    _pipe(_cfg("nmnist", root, cache_dir=str(tmp_path / "cache"), split_by="time"), steps=4)
    assert len(list((tmp_path / "cache").iterdir())) == 20


def test_gesture_lazy_equals_in_memory(datasets, tmp_path):
    root, _ = datasets["dvs128_gesture"]
    cfg = _cfg("dvs128_gesture", root, frame_size=16, cache_dir=str(tmp_path / "gc"))
    mem, _ = _eval_frames(_pipe(cfg, "train", batch=4))
    cfg.cache = False
    lazy, _ = _eval_frames(_pipe(cfg, "train", batch=4))
    np.testing.assert_array_equal(mem, lazy)
    assert len(list((tmp_path / "gc").iterdir())) == 6


def _matches_some(aug: np.ndarray, base: np.ndarray, candidates) -> bool:
    return any(np.array_equal(aug, fn(base)) for fn in candidates)


def test_train_augmentation_consistent_over_frames_and_resumable(datasets):
    root, _ = datasets["nmnist"]
    plain = _pipe(_cfg("nmnist", root), "train", batch=4, train=True)
    rolled = _pipe(_cfg("nmnist", root, roll=3), "train", batch=4, train=True)
    flip_crop = _pipe(_cfg("nmnist", root, flip=True, crop_padding=2), "train", batch=4, train=True)
    rolls = [lambda x, s=(dy, dx): np.roll(x, s, axis=(-3, -2)) for dy in range(-3, 4) for dx in range(-3, 4)]

    def crop(x, oy, ox, flip):
        x = x[..., ::-1, :] if flip else x
        padded = np.pad(x, [(0, 0), (2, 2), (2, 2), (0, 0)])
        return padded[:, oy : oy + 34, ox : ox + 34]

    crops = [lambda x, a=(oy, ox, f): crop(x, *a) for oy in range(5) for ox in range(5) for f in (0, 1)]
    changed = 0
    for step in range(3):
        base = plain.batch_at(step)["image"]  # [B, T, H, W, 2], same examples
        for aug_pipe, candidates in ((rolled, rolls), (flip_crop, crops)):
            aug = aug_pipe.batch_at(step)["image"]
            for a, b in zip(aug, base, strict=True):
                # one transform for all frames of the sample (frames differ, so a per-frame draw fails)
                assert _matches_some(a, b, candidates)
                changed += not np.array_equal(a, b)
    assert changed >= 6
    # exact resume: the state after 2 batches restores the same stream in a fresh pipeline
    it = iter(flip_crop)
    [next(it) for _ in range(2)]
    state = flip_crop.get_state()
    want = [next(it) for _ in range(3)]
    fresh = _pipe(_cfg("nmnist", root, flip=True, crop_padding=2), "train", batch=4, train=True)
    fresh.set_state(state)
    for w, g in zip(want, [next(fresh) for _ in range(3)], strict=True):
        np.testing.assert_array_equal(w["image"], g["image"])
        np.testing.assert_array_equal(w["label"], g["label"])
    other = _pipe(_cfg("nmnist", root), "test", batch=4)
    with pytest.raises(DataError, match="does not match"):
        other.set_state(state)


def test_nda_augmentation_one_op_per_sample_on_all_frames_training_only(datasets):
    """``nda``: after the flip, each training sample gets one roll / rotation / cutout for all its frames,
    drawn from the step's own generator; evaluation batches are untouched."""
    from snnjax.data import transforms

    root, _ = datasets["nmnist"]
    plain = _pipe(_cfg("nmnist", root, flip=True), "train", batch=4, train=True)
    aug = _pipe(_cfg("nmnist", root, flip=True, nda=True), "train", batch=4, train=True)
    seen = set()
    for step in range(4):
        base = plain.batch_at(step)["image"]  # [B, T, H, W, 2], flipped as in the nda pipeline
        got = aug.batch_at(step)["image"]
        ops, params = transforms.draw_nda(np.random.default_rng([0, 2, step]), 4, 34, 34)
        seen.update(ops.tolist())
        for i in range(4):
            op, (a, b) = transforms.NDA_OPS[ops[i]], params[i]
            if op == "roll":
                want = np.roll(base[i], (int(a), int(b)), axis=(1, 2))
            elif op == "rotate":
                want = np.stack([transforms.rotate_nearest(f[None], a)[0] for f in base[i]])
            else:
                want = base[i].copy()
                want[:, max(int(a) - 5, 0) : int(a) + 5, max(int(b) - 5, 0) : int(b) + 5] = 0
            np.testing.assert_array_equal(got[i], want)
    assert seen == {0, 1, 2}
    test_plain, _ = _eval_frames(_pipe(_cfg("nmnist", root), "test", batch=4))
    test_nda, _ = _eval_frames(_pipe(_cfg("nmnist", root, nda=True), "test", batch=4))
    np.testing.assert_array_equal(test_plain, test_nda)
    with pytest.raises(DataError, match="nda augments event frames, not digits images"):
        _pipe(_with(default_data_config(), name="digits", nda=True), "train", batch=4, train=True)


def test_hosts_slice_the_same_global_batch(datasets):
    root, _ = datasets["cifar10_dvs"]
    cfg = _cfg("cifar10_dvs", root, frame_size=16, flip=True, roll=2)
    kw = dict(split="train", global_batch_size=8, seed=3, train=True, model_num_steps=2)
    one = make_pipeline(cfg, process_index=0, process_count=1, **kw).batch_at(5)
    halves = [make_pipeline(cfg, process_index=i, process_count=2, **kw).batch_at(5) for i in (0, 1)]
    np.testing.assert_array_equal(np.concatenate([h["image"] for h in halves], axis=0), one["image"])
    np.testing.assert_array_equal(np.concatenate([h["label"] for h in halves]), one["label"])


def test_bad_files_and_settings_give_one_line_errors(datasets, tmp_path):
    root, _ = datasets["nmnist"]
    bad = tmp_path / "nm"
    shutil.copytree(root, bad)
    victim = bad / "Test" / "4" / "00000.bin"
    victim.write_bytes(victim.read_bytes()[:-3])
    with pytest.raises(DataError) as info:
        _pipe(_cfg("nmnist", bad))
    msg = str(info.value)
    assert str(victim) in msg and "truncated" in msg and "\n" not in msg
    c10 = tmp_path / "c10"
    shutil.copytree(datasets["cifar10_dvs"][0], c10)
    victim = c10 / "cat" / "cifar10_cat_9.aedat"
    victim.write_bytes(b"#!AER-DAT2.0\r\n" + b"\x00" * 13)
    with pytest.raises(DataError, match=r"cifar10_cat_9\.aedat: truncated"):
        _pipe(_cfg("cifar10_dvs", c10, frame_size=16))
    victim.write_bytes(b"")  # an empty recording: an error naming it, and no cache folder left behind
    fresh_cache = tmp_path / "new" / "cache"
    with pytest.raises(DataError, match=r"cifar10_cat_9\.aedat: empty file") as info:
        _pipe(_cfg("cifar10_dvs", c10, frame_size=16, cache_dir=str(fresh_cache)))
    assert str(victim) in str(info.value) and not (tmp_path / "new").exists()
    with pytest.raises(DataError, match="N-MNIST split folder not found"):
        _pipe(_cfg("nmnist", tmp_path / "nowhere"))
    cases = {
        "differs from config.model.num_steps": dict(num_frames=5),
        "split_by": dict(split_by="events"),
        "resize": dict(resize="nearest"),
        "image augmentations": dict(randaugment="rand-m7-n1"),
        "strictly between": dict(train_ratio=1.0),
        "negative": dict(roll=-1),
    }
    for fragment, kw in cases.items():
        with pytest.raises(DataError, match=fragment):
            _pipe(_cfg("nmnist", root, **kw), steps=3)
    with pytest.raises(DataError, match=r"config\.data\.dir"):
        _pipe(_with(_cfg("nmnist", root), dir=""))
    with pytest.raises(DataError, match="num_frames > 0"):
        _pipe(_cfg("nmnist", root), steps=None)


def test_real_nmnist_recording_through_the_pipeline(tmp_path, real_data):
    for split in ("Train", "Test"):
        for d in range(10):
            (tmp_path / "nm" / split / str(d)).mkdir(parents=True)
    (tmp_path / "nm" / "Test" / "7" / "sample.bin").write_bytes(
        (real_data / "nmnist" / "sample_nmnist.bin").read_bytes()
    )
    cfg = _cfg("nmnist", tmp_path / "nm", split_by="time")
    batch = next(iter(_pipe(cfg, batch=2, steps=3)))
    x = batch["image"][0]  # [T, 34, 34, 2]
    assert batch["mask"].tolist() == [True, False] and batch["label"][0] == 7
    assert x.sum() == 4325 and x[..., 1].sum() == 2145  # README: 4325 events, 2145 ON
    # three saccades of ~100 ms: each third of the recording holds about a third of the events
    assert np.all(np.abs(x.sum(axis=(1, 2, 3)) / 4325 - 1 / 3) < 0.09)
