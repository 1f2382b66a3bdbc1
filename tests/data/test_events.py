"""Tests of the neuromorphic event readers, frame integration, caching, splits and augmentations."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from snnjax.data import events as ev
from snnjax.data import events_frames

REPO = Path(__file__).resolve().parents[2]
SAMPLE_NMNIST = REPO.parent / "shared" / "data" / "nmnist" / "sample_nmnist.bin"


# ----------------------------------------------------------------------------- helpers


def _events(rows):
    """rows of (t, x, y, p) -> structured events."""
    a = np.asarray(rows, dtype=np.int64).reshape(-1, 4)
    return ev.make_events(a[:, 0], a[:, 1], a[:, 2], a[:, 3])


def _assert_same(got, rows):
    want = _events(rows)
    assert got.dtype == ev.EVENT_DTYPE
    assert got.size == want.size
    for f in ("t", "x", "y", "p"):
        np.testing.assert_array_equal(got[f], want[f], err_msg=f)


def _nmnist_bytes(rows) -> bytes:
    return b"".join(bytes([x, y, (p << 7) | (t >> 16), (t >> 8) & 0xFF, t & 0xFF]) for t, x, y, p in rows)


AEDAT2_HEADER = b"#!AER-DAT2.0\r\n# This is a raw AE data file - do not edit\r\n# Data format\r\n"
AEDAT3_HEADER = b"#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: DVS128\r\n#!END-HEADER\r\n"


def _aedat3_packet(etype, ovf, events_bytes: list[bytes], size=8) -> bytes:
    n = len(events_bytes)
    return struct.pack("<hhiiiiii", etype, 1, size, 4, ovf, n, n, n) + b"".join(events_bytes)


def _pol(x, y, p, ts, valid=1) -> bytes:
    return struct.pack("<Ii", (x << 17) | (y << 2) | (p << 1) | valid, ts)


def _random_events(rng, n, w, h, t_max=2_000_000):
    t = np.sort(rng.integers(0, t_max, n))
    return ev.make_events(t, rng.integers(0, w, n), rng.integers(0, h, n), rng.integers(0, 2, n))


# ----------------------------------------------------------------------------- readers


def test_nmnist_hand_built_edges(tmp_path):
    rows = [
        (0, 0, 0, 0),
        (1, 33, 0, 1),
        (65_535, 0, 33, 1),
        (65_536, 17, 5, 0),
        (2**23 - 2, 33, 33, 0),
        (2**23 - 1, 33, 33, 1),
    ]
    f = tmp_path / "a.bin"
    f.write_bytes(_nmnist_bytes(rows))
    _assert_same(ev.read_nmnist(f), rows)
    _assert_same(ev.read_events(f), rows)


def test_cifar10_dvs_hand_built_orientations(tmp_path):
    # (raw_x, raw_y, raw_bit0, ts); raw bit0 = 0 is ON in jAER's DVS128 convention.
    raw = [(0, 0, 0, 5), (127, 0, 1, 6), (0, 127, 1, 7), (127, 127, 0, 2**32 - 1), (3, 100, 0, 2)]
    recs = [struct.pack(">II", (ry << 8) | (rx << 1) | rp, ts) for rx, ry, rp, ts in raw]
    special = struct.pack(">II", 0x8000 | (5 << 8), 9)  # external sync event: dropped
    f = tmp_path / "c.aedat"
    f.write_bytes(AEDAT2_HEADER + recs[0] + special + b"".join(recs[1:]))
    # the last record wraps the 32-bit clock: 2**32 - 1 -> 2 means t = 2**32 + 2
    ts = [5, 6, 7, 2**32 - 1, 2**32 + 2]
    _assert_same(
        ev.read_cifar10_dvs(f, orientation="raw"),
        [(t, rx, ry, rp) for (rx, ry, rp, _), t in zip(raw, ts, strict=True)],
    )
    _assert_same(
        ev.read_cifar10_dvs(f),
        [(t, 127 - rx, ry, 1 - rp) for (rx, ry, rp, _), t in zip(raw, ts, strict=True)],
    )
    _assert_same(
        ev.read_cifar10_dvs(f, orientation="spikingjelly"),
        [(t, 127 - ry, 127 - rx, 1 - rp) for (rx, ry, rp, _), t in zip(raw, ts, strict=True)],
    )
    assert ev.read_events(f).size == 5


def test_dvs_gesture_hand_built_overflow_and_packets(tmp_path):
    p1 = _aedat3_packet(1, 0, [_pol(0, 0, 0, 10), _pol(127, 5, 1, 20), _pol(9, 9, 1, 25, valid=0)])
    special = _aedat3_packet(0, 0, [struct.pack("<Ii", 0x12345, 30)])
    p2 = _aedat3_packet(1, 0, [_pol(1, 127, 1, 2**31 - 1)])
    p3 = _aedat3_packet(1, 1, [_pol(127, 127, 0, 0), _pol(64, 3, 1, 12345)])  # overflow 1
    imu = _aedat3_packet(3, 0, [bytes(60)], size=60)  # other event type: skipped
    f = tmp_path / "user01_led.aedat"
    f.write_bytes(AEDAT3_HEADER + p1 + special + p2 + imu + p3)
    rows = [
        (10, 0, 0, 0),
        (20, 127, 5, 1),
        (2**31 - 1, 1, 127, 1),
        (2**31, 127, 127, 0),
        (2**31 + 12345, 64, 3, 1),
    ]
    _assert_same(ev.read_dvs_gesture(f), rows)
    _assert_same(ev.read_events(f), rows)


def test_round_trips_through_writers(tmp_path):
    rng = np.random.default_rng(0)
    e = _random_events(rng, 5000, 34, 34, t_max=2**23)
    ev.write_nmnist(tmp_path / "n.bin", e)
    _assert_same(ev.read_nmnist(tmp_path / "n.bin"), np.stack([e[f] for f in "txyp"], 1))
    e = _random_events(rng, 5000, 128, 128, t_max=2**33)
    for orient in ("jaer", "raw", "spikingjelly"):
        ev.write_aedat2(tmp_path / "c.aedat", e, orientation=orient)
        got = ev.read_cifar10_dvs(tmp_path / "c.aedat", orientation=orient)
        _assert_same(got, np.stack([e[f] for f in "txyp"], 1))
    ev.write_aedat31(tmp_path / "g.aedat", e, packet_events=700)
    _assert_same(ev.read_dvs_gesture(tmp_path / "g.aedat"), np.stack([e[f] for f in "txyp"], 1))


def test_gesture_labels_cut_samples(tmp_path):
    csv = tmp_path / "user01_led_labels.csv"
    csv.write_text("class,startTime_usec,endTime_usec\n1,100,200\n11,200,350\n\n")
    labels = ev.read_dvs_gesture_labels(csv)
    np.testing.assert_array_equal(labels, [[0, 100, 200], [10, 200, 350]])
    e = _events([(t, 1, 1, 1) for t in (50, 100, 150, 199, 200, 349, 350)])
    samples = ev.dvs_gesture_samples(e, labels)
    assert [s[1] for s in samples] == [0, 10]
    assert samples[0][0]["t"].tolist() == [100, 150, 199]
    assert samples[1][0]["t"].tolist() == [200, 349]


def _check_error(fn, path, fragment):
    with pytest.raises(ev.EventDataError) as info:
        fn(path)
    msg = str(info.value)
    assert str(path) in msg and "\n" not in msg
    assert fragment in msg
    assert isinstance(info.value, Exception)


def test_nmnist_malformed(tmp_path):
    good = _nmnist_bytes([(10, 1, 1, 1), (20, 2, 2, 0)])
    cases = {
        "missing.bin": (None, "not found"),
        "trunc.bin": (good[:-2], "truncated"),
        "range.bin": (_nmnist_bytes([(10, 34, 1, 1)]), "outside"),
        "order.bin": (_nmnist_bytes([(20, 1, 1, 1), (10, 2, 2, 0)]), "decrease"),
    }
    for name, (data, frag) in cases.items():
        f = tmp_path / name
        if data is not None:
            f.write_bytes(data)
        _check_error(ev.read_nmnist, f, frag)
    f = tmp_path / "order.bin"
    assert ev.read_nmnist(f, check_order=False)["t"].tolist() == [20, 10]


def test_aedat2_malformed(tmp_path):
    rec = struct.pack(">II", (3 << 8) | (4 << 1), 10)
    cases = {
        "trunc.aedat": (AEDAT2_HEADER + rec + rec[:5], "truncated"),
        "magic.aedat": (b"#garbage header\r\n" + rec, "bad magic"),
        "nohdr.aedat": (rec, "bad magic"),
        "ver.aedat": (b"#!AER-DAT3.1\r\n" + rec, "version"),
        "hdr.aedat": (b"#!AER-DAT2.0 without newline", "header"),
        "range.aedat": (AEDAT2_HEADER + struct.pack(">II", 0x00400000, 1), "outside"),
        "order.aedat": (AEDAT2_HEADER + struct.pack(">IIII", 0, 50, 0, 40), "decrease"),
        "missing.aedat": (None, "not found"),
    }
    for name, (data, frag) in cases.items():
        f = tmp_path / name
        if data is not None:
            f.write_bytes(data)
        _check_error(ev.read_cifar10_dvs, f, frag)


def test_aedat31_malformed(tmp_path):
    pk = _aedat3_packet(1, 0, [_pol(1, 2, 1, 10), _pol(3, 4, 0, 20)])
    bad_range = _aedat3_packet(1, 0, [_pol(128, 2, 1, 10)])
    order = _aedat3_packet(1, 0, [_pol(1, 2, 1, 30), _pol(3, 4, 0, 20)])
    cases = {
        "trunc_events.aedat": (AEDAT3_HEADER + pk[:-3], "truncated packet"),
        "trunc_header.aedat": (AEDAT3_HEADER + pk + pk[:10], "truncated packet header"),
        "magic.aedat": (b"#!AER-DAT2.0\r\n#!END-HEADER\r\n" + pk, "bad magic"),
        "noend.aedat": (b"#!AER-DAT3.1\r\n#Format: RAW\r\n", "END-HEADER"),
        "range.aedat": (AEDAT3_HEADER + bad_range, "outside"),
        "order.aedat": (AEDAT3_HEADER + order, "decrease"),
        "size.aedat": (AEDAT3_HEADER + struct.pack("<hhiiiiii", 1, 1, 0, 4, 0, 1, 1, 1), "corrupt"),
        "missing.aedat": (None, "not found"),
    }
    for name, (data, frag) in cases.items():
        f = tmp_path / name
        if data is not None:
            f.write_bytes(data)
        _check_error(ev.read_dvs_gesture, f, frag)
    csv = tmp_path / "bad_labels.csv"
    csv.write_text("class,startTime_usec,endTime_usec\n1,100\n")
    _check_error(ev.read_dvs_gesture_labels, csv, "line 2")
    _check_error(ev.read_events, tmp_path / "x.aedat", "not found")
    (tmp_path / "junk.aedat").write_bytes(b"\x00" * 16)
    _check_error(ev.read_events, tmp_path / "junk.aedat", "unknown event file format")


# ----------------------------------------------------------------------------- frames


@pytest.mark.parametrize("split_by", ["number", "time"])
def test_frames_conserve_polarity_counts(split_by):
    rng = np.random.default_rng(1)
    e = _random_events(rng, 10_007, 128, 128)
    frames = ev.events_to_frames(e, (128, 128), 7, split_by)
    assert frames.shape == (7, 128, 128, 2) and frames.dtype == np.float32
    for p in (0, 1):
        assert frames[..., p].sum() == (e["p"] == p).sum()
    # every pixel's total over time equals its event count
    want = np.zeros((128, 128, 2))
    np.add.at(want, (e["y"], e["x"], e["p"]), 1)
    np.testing.assert_array_equal(frames.sum(0), want)


def test_number_split_equal_counts_and_time_split_windows():
    rng = np.random.default_rng(2)
    e = _random_events(rng, 1003, 20, 10)
    per_frame = ev.events_to_frames(e, (20, 10), 10, "number").sum(axis=(1, 2, 3))
    assert per_frame.max() - per_frame.min() <= 1 and per_frame.sum() == 1003
    # time split: frame k holds exactly the events in window k of [t0, t_last + 1)
    t0, t1 = int(e["t"][0]), int(e["t"][-1]) + 1
    edges = t0 + (np.arange(11) * (t1 - t0)) / 10
    want = np.histogram(e["t"], bins=edges)[0]
    got = ev.events_to_frames(e, (20, 10), 10, "time").sum(axis=(1, 2, 3))
    np.testing.assert_array_equal(got, want)
    # non-square sensor: frames[t, y, x, p]
    single = ev.events_to_frames(_events([(0, 19, 9, 1)]), (20, 10), 1)
    assert single.shape == (1, 10, 20, 2) and single[0, 9, 19, 1] == 1
    assert ev.events_to_frames(_events([]), (20, 10), 3).sum() == 0


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
        e = _random_events(rng, 3000, 16, 12, t_max=t_max)  # last case: many equal timestamps
        got = ev.denoise_events(e, (16, 12), filter_time)
        want = e[_denoise_reference(e, (16, 12), filter_time)]
        assert 0 < got.size < e.size
        np.testing.assert_array_equal(got, want)
    # an isolated event is removed, a supported one kept
    e = _events([(0, 5, 5, 1), (100, 6, 6, 0), (100_000, 0, 0, 1)])
    assert ev.denoise_events(e, (10, 10), 1000)["t"].tolist() == [100]
    frames = ev.events_to_frames(e, (10, 10), 2, filter_time=1000)
    assert frames.sum() == 1


def test_resize_area_and_bilinear():
    rng = np.random.default_rng(4)
    e = _random_events(rng, 20_000, 128, 128)
    frames = ev.events_to_frames(e, (128, 128), 4, size=(48, 48))
    assert frames.shape == (4, 48, 48, 2) and frames.dtype == np.float32
    full = ev.events_to_frames(e, (128, 128), 4)
    np.testing.assert_allclose(
        frames.sum(axis=(1, 2)) * (128 * 128) / (48 * 48), full.sum(axis=(1, 2)), rtol=1e-5
    )
    const = np.full((1, 128, 96, 2), 3.0, dtype=np.float32)
    for mode in ("area", "bilinear"):
        np.testing.assert_allclose(ev.resize_frames(const, (48, 40), mode), 3.0, rtol=1e-6)
    # 2x area downsampling is a 2x2 mean
    img = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
    np.testing.assert_allclose(ev.resize_frames(img, (2, 2))[0, :, :, 0], [[2.5, 4.5], [10.5, 12.5]])


# ----------------------------------------------------------------------------- caching


def test_cached_frames_identical_and_not_recomputed(tmp_path, monkeypatch):
    rng = np.random.default_rng(5)
    src = tmp_path / "s.aedat"
    ev.write_aedat2(src, _random_events(rng, 4000, 128, 128))
    cache = tmp_path / "cache"
    opts = dict(num_frames=5, split_by="number", size=(48, 48))
    first = ev.cached_frames(src, cache, **opts)
    files = sorted(cache.iterdir())
    assert len(files) == 1 and files[0].suffix == ".npz"  # no temp file left behind

    def fail(*a, **k):
        raise AssertionError("recomputed despite cache")

    monkeypatch.setattr(events_frames, "events_to_frames", fail)
    second = ev.cached_frames(src, cache, **opts)
    assert second.dtype == first.dtype
    np.testing.assert_array_equal(first, second)
    with pytest.raises(AssertionError):  # other options -> other key -> computed
        ev.cached_frames(src, cache, **{**opts, "num_frames": 6})
    monkeypatch.undo()
    # a corrupt cache file (e.g. from a foreign writer) is recomputed and replaced
    files[0].write_bytes(b"not a zip")
    np.testing.assert_array_equal(ev.cached_frames(src, cache, **opts), first)
    np.testing.assert_array_equal(np.load(files[0])["frames"], first)


def test_cache_write_is_atomic(tmp_path, monkeypatch):
    src = tmp_path / "a.bin"
    ev.write_nmnist(src, _events([(1, 1, 1, 1), (2, 2, 2, 0)]))
    cache = tmp_path / "cache"

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez_compressed", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ev.cached_frames(src, cache, num_frames=2)
    assert list(cache.iterdir()) == []
    monkeypatch.undo()
    assert ev.cached_frames(src, cache, num_frames=2).sum() == 2


# ----------------------------------------------------------------------------- real N-MNIST


def test_real_nmnist_sample():
    if not SAMPLE_NMNIST.exists():
        pytest.skip(f"{SAMPLE_NMNIST} not available")
    e = ev.read_nmnist(SAMPLE_NMNIST)
    assert e.size == 4325
    assert e["x"].min() >= 0 and e["x"].max() <= 33 and e["y"].min() >= 0 and e["y"].max() <= 33
    assert int(e["p"].sum()) == 2145
    assert e["t"][0] == 654 and e["t"][-1] == 311175 and (np.diff(e["t"]) >= 0).all()
    thirds = np.histogram(e["t"], bins=[0, 100_000, 200_000, 400_000])[0] / e.size
    assert np.all((thirds > 0.25) & (thirds < 0.42)), thirds
    frames = ev.events_to_frames(e, ev.NMNIST_SENSOR_SIZE, 3, "time")
    assert frames.shape == (3, 34, 34, 2) and frames.sum() == 4325
    assert frames[..., 1].sum() == 2145
    assert ev.events_to_frames(e, ev.NMNIST_SENSOR_SIZE, 10, filter_time=10_000).sum() < 4325


# ----------------------------------------------------------------------------- datasets


def test_cifar10_dvs_listing_split_and_load(tmp_path):
    rng = np.random.default_rng(6)
    for c, name in enumerate(ev.CIFAR10_DVS_CLASSES):
        (tmp_path / name).mkdir()
        for i in range(10):
            e = _random_events(rng, 50 + c, 128, 128)
            ev.write_aedat2(tmp_path / name / f"cifar10_{name}_{i}.aedat", e)
    items = ev.list_cifar10_dvs(tmp_path)
    assert len(items) == 100
    train, test = ev.split_per_class(items, 0.9)
    assert len(train) == 90 and len(test) == 10
    # lexicographic order: "..._0", "..._1", "..._2", ..., "..._9" -> last one goes to test
    assert [p.name for p, c in test if c == 0] == ["cifar10_airplane_9.aedat"]
    x, y = ev.load_cifar10_dvs(tmp_path, "test", num_frames=3, cache_dir=tmp_path / "cache")
    assert x.shape == (10, 3, 48, 48, 2) and y.tolist() == list(range(10))
    x2, _ = ev.load_cifar10_dvs(tmp_path, "test", num_frames=3, cache_dir=tmp_path / "cache")
    np.testing.assert_array_equal(x, x2)
    with pytest.raises(ev.EventDataError, match=r"class folder"):
        ev.list_cifar10_dvs(tmp_path / "airplane")


def test_nmnist_and_gesture_loaders(tmp_path):
    rng = np.random.default_rng(7)
    for split in ("Train", "Test"):
        for d in range(10):
            (tmp_path / "nm" / split / str(d)).mkdir(parents=True)
            for i in range(2 if split == "Train" else 1):
                e = _random_events(rng, 30, 34, 34, t_max=300_000)
                ev.write_nmnist(tmp_path / "nm" / split / str(d) / f"{i:05d}.bin", e)
    x, y = ev.load_nmnist(tmp_path / "nm", "train", num_frames=4)
    assert x.shape == (20, 4, 34, 34, 2) and np.bincount(y).tolist() == [2] * 10
    assert x.sum() == 20 * 30

    g = tmp_path / "DvsGesture"
    g.mkdir()
    for name in ("user01_led", "user02_led"):
        ev.write_aedat31(g / f"{name}.aedat", _random_events(rng, 3000, 128, 128, 1_000_000))
        (g / f"{name}_labels.csv").write_text(
            "class,startTime_usec,endTime_usec\n3,0,400000\n7,400000,1000000\n"
        )
    (g / "trials_to_train.txt").write_text("user01_led.aedat\n\n")
    (g / "trials_to_test.txt").write_text("user02_led.aedat\n")
    x, y = ev.load_dvs_gesture(tmp_path, "train", num_frames=5, cache_dir=tmp_path / "gc")
    assert x.shape == (2, 5, 128, 128, 2) and y.tolist() == [2, 6]
    assert x.sum() == 3000
    again = ev.cached_frames(
        g / "user01_led.aedat", tmp_path / "gc", time_range=(0, 400000), num_frames=5,
        split_by="number",
    )  # fmt: skip
    np.testing.assert_array_equal(again, x[0])
    assert len(list((tmp_path / "gc").iterdir())) == 2


# ----------------------------------------------------------------------------- augmentation


def test_augmentations_consistent_over_frames_and_deterministic():
    rng = np.random.default_rng(8)
    base = rng.random((1, 12, 10, 2)).astype(np.float32)
    frames = base * np.arange(1, 6, dtype=np.float32)[:, None, None, None]  # [5, 12, 10, 2]
    for kwargs in (
        dict(flip=True),
        dict(flip=False, max_roll=5),
        dict(flip=False, pad_crop=4),
        dict(flip=True, max_roll=3, pad_crop=4),
    ):
        outs = []
        for seed in range(6):
            a = ev.augment_frames(frames, np.random.default_rng(seed), **kwargs)
            b = ev.augment_frames(frames, np.random.default_rng(seed), **kwargs)
            np.testing.assert_array_equal(a, b)  # deterministic given the generator
            assert a.shape == frames.shape
            # the same spatial transform for every frame: frame t is (t + 1) * frame 0
            scaled = a / np.arange(1, 6)[:, None, None, None]
            np.testing.assert_allclose(scaled, np.repeat(a[:1], 5, axis=0), rtol=1e-6)
            outs.append(a)
        assert any(not np.array_equal(outs[0], o) for o in outs[1:])  # actually random
    # flip is a horizontal mirror; roll is a circular shift; pad-crop shifts in zeros
    flipped = ev.random_flip(frames, np.random.default_rng(0), p=1.0)
    np.testing.assert_array_equal(flipped, frames[:, :, ::-1])
    rolled = ev.random_roll(frames, np.random.default_rng(0), 2)
    assert np.isclose(rolled.sum(), frames.sum())
    batch = ev.augment_batch(np.stack([frames, frames]), np.random.default_rng(1), max_roll=4)
    assert batch.shape == (2, *frames.shape)


def test_transform_batch_equals_per_sample_ops():
    rng = np.random.default_rng(9)
    frames = rng.random((6, 3, 9, 7, 2)).astype(np.float32)
    flips = np.array([0, 1, 0, 1, 1, 0], bool)
    shifts = rng.integers(-4, 5, size=(6, 2))
    offsets = rng.integers(0, 7, size=(6, 2))
    got = ev.transform_batch(frames, flips=flips, shifts=shifts, offsets=offsets, pad=3)
    tm = ev.transform_batch(frames, flips=flips, shifts=shifts, offsets=offsets, pad=3, time_major_out=True)
    np.testing.assert_array_equal(tm, got.swapaxes(0, 1))
    for i in range(6):
        want = frames[i][:, :, ::-1] if flips[i] else frames[i]
        want = np.roll(want, tuple(shifts[i]), axis=(1, 2))
        want = np.pad(want, [(0, 0), (3, 3), (3, 3), (0, 0)])
        oy, ox = offsets[i]
        np.testing.assert_array_equal(got[i], want[:, oy : oy + 9, ox : ox + 7])
    only_roll = ev.transform_batch(frames, shifts=shifts)
    np.testing.assert_array_equal(only_roll[2], np.roll(frames[2], tuple(shifts[2]), axis=(1, 2)))
    np.testing.assert_array_equal(ev.transform_batch(frames), frames)
