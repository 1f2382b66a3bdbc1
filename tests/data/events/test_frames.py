"""Tests of snnjax.data.events.frames: integration conserves counts, denoising matches a sequential
reference, resizing."""

from __future__ import annotations

import numpy as np
import pytest

from snnjax.data import testing
from snnjax.data.events import frames as F
from tests.data.events.test_io import events


def _random(rng, n, w, h, t_max=2_000_000):
    return testing.random_events(rng, n, w, h, t_max)


@pytest.mark.parametrize("split_by", ["number", "time"])
def test_frames_conserve_polarity_counts(split_by):
    e = _random(np.random.default_rng(1), 10_007, 128, 128)
    frames = F.events_to_frames(e, (128, 128), 7, split_by)
    assert frames.shape == (7, 128, 128, 2) and frames.dtype == np.float32
    for p in (0, 1):
        assert frames[..., p].sum() == (e["p"] == p).sum()
    want = np.zeros((128, 128, 2))
    np.add.at(want, (e["y"], e["x"], e["p"]), 1)
    np.testing.assert_array_equal(frames.sum(0), want)  # every pixel's total is its event count


def test_number_split_equal_counts_and_time_split_windows():
    e = _random(np.random.default_rng(2), 1003, 20, 10)
    per_frame = F.events_to_frames(e, (20, 10), 10, "number").sum(axis=(1, 2, 3))
    assert per_frame.max() - per_frame.min() <= 1 and per_frame.sum() == 1003
    t0, t1 = int(e["t"][0]), int(e["t"][-1]) + 1  # frame k holds the events in window k of [t0, t1)
    want = np.histogram(e["t"], bins=t0 + (np.arange(11) * (t1 - t0)) / 10)[0]
    np.testing.assert_array_equal(F.events_to_frames(e, (20, 10), 10, "time").sum(axis=(1, 2, 3)), want)
    single = F.events_to_frames(events([(0, 19, 9, 1)]), (20, 10), 1)  # non-square: frames[t, y, x, p]
    assert single.shape == (1, 10, 20, 2) and single[0, 9, 19, 1] == 1
    assert F.events_to_frames(events([]), (20, 10), 3).sum() == 0


def _denoise_reference(e, sensor_size, filter_time):
    w, h = sensor_size
    memory = np.full((h, w), -np.inf)
    keep = []
    for i in range(e.size):
        x, y, t = int(e["x"][i]), int(e["y"][i]), int(e["t"][i])
        ok = False
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                if (dx or dy) and 0 <= x + dx < w and 0 <= y + dy < h:
                    ok |= memory[y + dy, x + dx] + filter_time > t
        memory[y, x] = t
        if ok:
            keep.append(i)
    return np.asarray(keep, dtype=np.int64)


def test_denoise_matches_sequential_definition():
    rng = np.random.default_rng(3)
    for t_max, filter_time in ((200_000, 5000), (20_000, 3000), (3000, 1)):
        e = _random(rng, 3000, 16, 12, t_max=t_max)  # last case: many equal timestamps
        got = F.denoise_events(e, (16, 12), filter_time)
        assert 0 < got.size < e.size
        np.testing.assert_array_equal(got, e[_denoise_reference(e, (16, 12), filter_time)])
    e = events([(0, 5, 5, 1), (100, 6, 6, 0), (100_000, 0, 0, 1)])  # isolated events go, supported stay
    assert F.denoise_events(e, (10, 10), 1000)["t"].tolist() == [100]
    assert F.events_to_frames(e, (10, 10), 2, filter_time=1000).sum() == 1


def test_resize_area_and_bilinear():
    e = _random(np.random.default_rng(4), 20_000, 128, 128)
    frames = F.events_to_frames(e, (128, 128), 4, size=(48, 48))
    assert frames.shape == (4, 48, 48, 2) and frames.dtype == np.float32
    full = F.events_to_frames(e, (128, 128), 4)
    np.testing.assert_allclose(
        frames.sum(axis=(1, 2)) * (128 * 128) / (48 * 48), full.sum(axis=(1, 2)), rtol=1e-5
    )
    const = np.full((1, 128, 96, 2), 3.0, dtype=np.float32)
    for mode in ("area", "bilinear"):
        np.testing.assert_allclose(F.resize_frames(const, (48, 40), mode), 3.0, rtol=1e-6)
    img = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)  # 2x area downsampling is a 2x2 mean
    np.testing.assert_allclose(F.resize_frames(img, (2, 2))[0, :, :, 0], [[2.5, 4.5], [10.5, 12.5]])


def test_real_nmnist_sample_frames(real_data):
    from snnjax.data.events import io

    e = io.read_nmnist(real_data / "nmnist" / "sample_nmnist.bin")
    frames = F.events_to_frames(e, io.NMNIST_SENSOR_SIZE, 3, "time")
    assert frames.shape == (3, 34, 34, 2) and frames.sum() == 4325 and frames[..., 1].sum() == 2145
    assert F.events_to_frames(e, io.NMNIST_SENSOR_SIZE, 10, filter_time=10_000).sum() < 4325
