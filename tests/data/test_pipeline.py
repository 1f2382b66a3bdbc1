"""Tests of snnjax.data.pipeline on a tiny class-sorted CIFAR-format dataset (images encode their index)."""

import json

import numpy as np
import pytest

from snnjax.data import default_data_config, make_pipeline
from snnjax.errors import DataError
from tests.data import fakes

N_TRAIN, N_TEST, PER_CLASS = 200, 50, 20


def _encoded_images(indices: np.ndarray, seed: int) -> np.ndarray:
    """Random images whose pixel (0, 0) channels 0/1 hold the index (low byte, high byte)."""
    images = np.random.default_rng(seed).integers(0, 256, (len(indices), 32, 32, 3), dtype=np.uint8)
    images[:, 0, 0, 0] = indices % 256
    images[:, 0, 0, 1] = indices // 256
    return images


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    """Raw files like the shared CIFAR-10 folder (sorted by class) and a tfds dir for the build."""
    root = tmp_path_factory.mktemp("cifar")
    train_labels = np.repeat(np.arange(10), PER_CLASS)
    train_images = _encoded_images(np.arange(N_TRAIN), 0)
    for f in range(5):  # file f holds classes 2f and 2f+1
        sl = slice(f * 2 * PER_CLASS, (f + 1) * 2 * PER_CLASS)
        fakes.write_cifar_records(
            root / f"train_unordered_{f + 1}.bin.xz", train_images[sl], train_labels[sl]
        )
    test_labels = np.repeat(np.arange(10), N_TEST // 10)
    fakes.write_cifar_records(
        root / "test_unordered.bin.xz", _encoded_images(np.arange(N_TEST), 1), test_labels
    )
    return root, root / "tfds"


def _config(dirs, **kwargs):
    cfg = default_data_config()
    cfg.name, cfg.dir, cfg.tfds_dir = "cifar10", str(dirs[0]), str(dirs[1])
    cfg.normalize = False
    cfg.update(kwargs)
    return cfg


def _pipe(dirs, *, split="train", batch=16, seed=0, train=True, index=0, count=1, **kwargs):
    return make_pipeline(
        _config(dirs, **kwargs),
        split=split,
        global_batch_size=batch,
        seed=seed,
        train=train,
        process_index=index,
        process_count=count,
    )


def _ids(batch) -> np.ndarray:
    pix = np.rint(batch["image"][:, 0, 0, :2] * 255).astype(int)
    return pix[:, 0] + 256 * pix[:, 1]


def _take(pipe, k):
    return [next(pipe) for _ in range(k)]


def _assert_same(batches_a, batches_b):
    assert len(batches_a) == len(batches_b)
    for a, b in zip(batches_a, batches_b, strict=True):
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])


def test_batch_format_and_info(dirs):
    pipe = _pipe(dirs)
    batch = next(pipe)
    assert batch["image"].shape == (16, 32, 32, 3) and batch["image"].dtype == np.float32
    assert batch["label"].shape == (16,) and batch["label"].dtype == np.int32
    assert batch["mask"].dtype == bool and batch["mask"].all()
    assert batch["image"].min() >= 0.0 and batch["image"].max() <= 1.0
    info = pipe.info
    assert (info.name, info.num_classes, info.image_shape) == ("cifar10", 10, (32, 32, 3))
    assert (info.num_train, info.num_test) == (N_TRAIN, N_TEST)
    assert pipe.steps_per_epoch == info.steps_per_epoch == N_TRAIN // 16 == len(pipe)
    # labels travel with their images: index i has label i // PER_CLASS
    np.testing.assert_array_equal(batch["label"], _ids(batch) // PER_CLASS)


def test_normalization_applied(dirs):
    plain = _pipe(dirs).batch_at(0)["image"]
    normed = _pipe(dirs, normalize=True).batch_at(0)["image"]
    mean, std = np.array([0.4914, 0.4822, 0.4465]), np.array([0.2023, 0.1994, 0.2010])
    np.testing.assert_allclose(normed, (plain - mean) / std, rtol=1e-4, atol=1e-5)


def test_training_epochs_deterministic_and_shuffled(dirs):
    a, b, c = _pipe(dirs, seed=1), _pipe(dirs, seed=1), _pipe(dirs, seed=2)
    batches = _take(a, 2 * a.steps_per_epoch)
    _assert_same(batches, _take(b, len(batches)))
    other = _take(c, len(batches))
    assert not np.array_equal(_ids(batches[0]), _ids(other[0]))
    spe = a.steps_per_epoch
    epoch0 = np.concatenate([_ids(x) for x in batches[:spe]])
    epoch1 = np.concatenate([_ids(x) for x in batches[spe:]])
    assert len(set(epoch0)) == len(epoch0) == spe * 16  # no repeats within an epoch; remainder dropped
    assert len(set(epoch1)) == len(epoch1)
    assert not np.array_equal(epoch0, epoch1)  # reshuffled every epoch
    assert not np.array_equal(np.sort(epoch0), np.arange(len(epoch0)))  # not file order


def test_shuffling_mixes_classes(dirs):
    pipe = _pipe(dirs, batch=20)
    for batch in _take(pipe, 3):
        assert len(np.unique(batch["label"])) >= 6  # the files hold two classes each, sorted


@pytest.mark.parametrize("count", [2, 4])
def test_host_slices_cover_global_batch(dirs, count):
    aug = {"crop_padding": 4, "flip": True, "randaugment": "rand-m9-n2-mstd0.5"}
    whole = _take(_pipe(dirs, batch=16, **aug), 3)
    parts = [_take(_pipe(dirs, batch=16, index=i, count=count, **aug), 3) for i in range(count)]
    for step in range(3):
        slices = [p[step] for p in parts]
        assert all(s["image"].shape[0] == 16 // count for s in slices)
        for key in ("image", "label", "mask"):
            np.testing.assert_array_equal(np.concatenate([s[key] for s in slices]), whole[step][key])
        unaugmented = [_pipe(dirs, batch=16, index=i, count=count).batch_at(step) for i in range(count)]
        ids = [set(_ids(s)) for s in unaugmented]
        assert sum(len(x) for x in ids) == len(set().union(*ids)) == 16  # disjoint, full


def test_batch_not_divisible_by_hosts(dirs):
    with pytest.raises(DataError, match=r"not a positive multiple of the process count 3"):
        _pipe(dirs, batch=16, count=3)
    with pytest.raises(DataError, match=r"process_index 2"):
        _pipe(dirs, batch=16, index=2, count=2)


@pytest.mark.parametrize(("batch", "count"), [(16, 1), (16, 2), (25, 1), (64, 4)])
def test_eval_covers_every_example_once(dirs, batch, count):
    pipes = [_pipe(dirs, split="test", batch=batch, train=False, index=i, count=count) for i in range(count)]
    steps = -(-N_TEST // batch)
    assert pipes[0].steps_per_epoch == steps
    seen = []
    for step_batches in zip(*(list(p) for p in pipes), strict=True):
        merged = {k: np.concatenate([b[k] for b in step_batches]) for k in ("image", "label", "mask")}
        assert merged["mask"].shape == (batch,)
        seen.extend(_ids(merged)[merged["mask"]].tolist())
        assert (merged["label"][~merged["mask"]] == 0).all() and (merged["image"][~merged["mask"]] == 0).all()
    assert seen == list(range(N_TEST))  # every example exactly once, in order
    # a second loop is a second full pass
    assert sum(int(b["mask"].sum()) for b in pipes[0]) == sum(
        int(b["mask"].sum())
        for b in _pipe(dirs, split="test", batch=batch, train=False, index=0, count=count)
    )


def test_eval_masks_last_batch(dirs):
    batches = list(_pipe(dirs, split="test", batch=16, train=False))
    assert len(batches) == 4
    assert [int(b["mask"].sum()) for b in batches] == [16, 16, 16, 2]
    assert batches[-1]["mask"].tolist() == [True, True] + [False] * 14


def test_eval_has_no_augmentation(dirs):
    plain = list(_pipe(dirs, split="test", batch=16, train=False))
    augmented = list(_pipe(dirs, split="test", batch=16, train=False, crop_padding=4, flip=True))
    _assert_same(plain, augmented)


def test_checkpoint_restore_yields_identical_batches(dirs):
    kwargs = {"crop_padding": 4, "flip": True, "autoaugment": "cifar10"}
    first = _pipe(dirs, seed=5, **kwargs)
    _take(first, 15)  # crosses an epoch boundary (12 steps per epoch)
    state = json.loads(json.dumps(first.get_state()))
    expected = _take(first, 14)
    restored = _pipe(dirs, seed=5, prefetch=0, **kwargs)
    restored.set_state(state)
    assert restored.step == 15
    _assert_same(_take(restored, 14), expected)


def test_checkpoint_restore_eval_and_other_host_count(dirs):
    first = _pipe(dirs, split="test", batch=10, train=False)
    _take(first, 2)
    state = first.get_state()
    rest = _take(first, 3)
    with pytest.raises(StopIteration):
        next(first)
    restored = _pipe(dirs, split="test", batch=10, train=False)
    restored.set_state(state)
    _assert_same(_take(restored, 3), rest)
    # a position saved on one host restores on two (the state counts global steps)
    train_state = _pipe(dirs, seed=3).get_state()
    train_state["step"] = 7
    halves = [_pipe(dirs, seed=3, index=i, count=2) for i in range(2)]
    for h in halves:
        h.set_state(train_state)
    merged = np.concatenate([next(h)["image"] for h in halves])
    np.testing.assert_array_equal(merged, _pipe(dirs, seed=3).batch_at(7)["image"])


def test_state_from_another_pipeline_is_rejected(dirs):
    state = _pipe(dirs, seed=1).get_state()
    with pytest.raises(DataError, match=r"seed"):
        _pipe(dirs, seed=2).set_state(state)
    with pytest.raises(DataError, match=r"global_batch_size"):
        _pipe(dirs, seed=1, batch=8).set_state(state)
    with pytest.raises(DataError, match=r"format"):
        _pipe(dirs, seed=1).set_state({"step": 3})


def test_cache_and_prefetch_do_not_change_data(dirs):
    kwargs = {"crop_padding": 2, "flip": True}
    reference = _take(_pipe(dirs, **kwargs), 3)
    _assert_same(_take(_pipe(dirs, cache=False, prefetch=0, **kwargs), 3), reference)
    _assert_same(_take(_pipe(dirs, prefetch=4, **kwargs), 3), reference)


def test_augmentation_changes_training_images(dirs):
    plain = _pipe(dirs).batch_at(0)
    cropped = _pipe(dirs, crop_padding=4, flip=True).batch_at(0)
    np.testing.assert_array_equal(plain["label"], cropped["label"])
    assert not np.array_equal(plain["image"], cropped["image"])


def test_config_errors(dirs):
    with pytest.raises(DataError, match=r"unknown data config keys \[.crop_pad.\]"):
        _pipe(dirs, crop_pad=4)
    with pytest.raises(DataError, match=r"exclusive"):
        _pipe(dirs, autoaugment="cifar10", randaugment="rand-m7-n1")
    with pytest.raises(DataError, match=r"bad augmentation"):
        _pipe(dirs, randaugment="random-m7")
    with pytest.raises(DataError, match=r"fewer than the global batch size"):
        _pipe(dirs, split="test", batch=64)


def test_digits_pipeline(tmp_path):
    cfg = default_data_config()
    cfg.name, cfg.tfds_dir = "digits", str(tmp_path)
    pipe = make_pipeline(cfg, split="train", global_batch_size=32, seed=0, train=True, process_index=0,
                         process_count=1)  # fmt: skip
    batch = next(pipe)
    assert batch["image"].shape == (32, 8, 8, 1) and pipe.steps_per_epoch == 1437 // 32
    evals = make_pipeline(cfg, split="test", global_batch_size=100, seed=0, train=False, process_index=0,
                          process_count=1)  # fmt: skip
    assert sum(int(b["mask"].sum()) for b in evals) == 360


@pytest.mark.slow
def test_worker_processes_give_the_same_batches(dirs):
    kwargs = {"crop_padding": 2, "flip": True}
    reference = _take(_pipe(dirs, seed=4, **kwargs), 5)
    pipe = _pipe(dirs, seed=4, num_workers=1, **kwargs)
    try:
        _assert_same(_take(pipe, 2), reference[:2])
        state = pipe.get_state()
    finally:
        pipe.close()
    restored = _pipe(dirs, seed=4, num_workers=1, **kwargs)
    try:
        restored.set_state(state)
        _assert_same(_take(restored, 3), reference[2:])
    finally:
        restored.close()


def test_process_defaults_come_from_jax(tmp_path):
    cfg = default_data_config()
    cfg.name, cfg.tfds_dir = "digits", str(tmp_path)
    pipe = make_pipeline(cfg, split="test", global_batch_size=8, seed=0, train=False)
    assert pipe.local_batch_size == 8  # a single process here
