"""Fake event datasets for tests and examples (in the spirit of ``tfds.testing``): writers of every event
format the readers accept, and small deterministic datasets in the original folder layouts.

Each ``write_fake_*`` writes a folder ``config.data.dir`` can point at and returns, per split, the events it
wrote and their labels in dataset order, so a test can recompute what the pipeline should deliver.
"""

from __future__ import annotations

import itertools
import math
import os

import numpy as np
from etils import epath

from snnjax.data.events import io
from snnjax.data.events.source import CIFAR10_DVS_CLASSES

PathLike = str | os.PathLike
Split = dict[str, list]  # {"examples": [...], "labels": [int, ...]}


# ----------------------------------------------------------------------------------------------------
# Event formats (inverses of the readers of :mod:`snnjax.data.events.io`)


def write_nmnist(path: PathLike, events: np.ndarray) -> None:
    """Writes ``events`` (:data:`~snnjax.data.events.io.EVENT_DTYPE`) as an N-MNIST ``.bin`` file."""
    t = events["t"].astype(np.int64)
    if events.size and (t.min() < 0 or t.max() >= 1 << 23):
        raise ValueError("N-MNIST timestamps must lie in [0, 2**23) us")
    for f in ("x", "y"):
        if events.size and (events[f].min() < 0 or events[f].max() > 255):
            raise ValueError(f"N-MNIST {f} must lie in [0, 255]")
    x, y, p = (events[f].astype(np.int64) for f in "xyp")
    records = np.stack([x, y, ((p & 1) << 7) | (t >> 16), (t >> 8) & 0xFF, t & 0xFF], axis=1)
    epath.Path(path).write_bytes(records.astype(np.uint8).tobytes())


def write_aedat2(path: PathLike, events: np.ndarray, *, orientation: io.Orientation = "jaer") -> None:
    """Writes ``events`` as a DVS128 AEDAT 2.0 file (inverse of :func:`io.read_cifar10_dvs`)."""
    x, y, p = (events[f].astype(np.int64) for f in "xyp")
    raw_x, raw_y, raw_p = io.ORIENTATIONS[orientation](x, y, p & 1)
    if events.size and (min(raw_x.min(), raw_y.min()) < 0 or max(raw_x.max(), raw_y.max()) > 127):
        raise ValueError("DVS128 coordinates must lie in [0, 127]")
    rec = np.empty((events.size, 2), dtype=">u4")
    rec[:, 0] = (raw_y << 8) | (raw_x << 1) | raw_p
    rec[:, 1] = events["t"].astype(np.int64) & 0xFFFFFFFF
    header = b"#!AER-DAT2.0\r\n# This is a raw AE data file created by snnjax\r\n"
    epath.Path(path).write_bytes(header + rec.tobytes())


def write_aedat31(path: PathLike, events: np.ndarray, *, packet_events: int = 4096) -> None:
    """Writes ``events`` as AEDAT 3.1 polarity packets (inverse of :func:`io.read_dvs_gesture`) of at most
    ``packet_events`` events, never straddling a 2**31 us overflow."""
    t = events["t"].astype(np.int64)
    if events.size and t.min() < 0:
        raise ValueError("AEDAT 3.1 timestamps must be >= 0")
    words = np.empty((events.size, 2), dtype="<u4")
    words[:, 0] = (
        (events["x"].astype(np.uint32) << 17)
        | (events["y"].astype(np.uint32) << 2)
        | ((events["p"].astype(np.uint32) & 1) << 1)
        | 1
    )
    words[:, 1] = t & 0x7FFFFFFF
    ovf = t >> 31
    cuts = set(range(0, events.size, packet_events))
    cuts.update((np.flatnonzero(np.diff(ovf)) + 1).tolist())
    parts = [b"#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: DVS128\r\n#!END-HEADER\r\n"]
    for a, b in itertools.pairwise([*sorted(cuts), events.size]):
        parts.append(io.AEDAT31_HEADER.pack(io.AEDAT31_POLARITY, 1, 8, 4, int(ovf[a]), b - a, b - a, b - a))
        parts.append(words[a:b].tobytes())
    epath.Path(path).write_bytes(b"".join(parts))


# ----------------------------------------------------------------------------------------------------
# Fake event datasets


def random_events(rng: np.random.Generator, n: int, w: int, h: int, t_max: int) -> np.ndarray:
    """``n`` time-sorted events uniform over a ``w x h`` sensor and ``[0, t_max)`` us."""
    t = np.sort(rng.integers(0, t_max, n))
    return io.make_events(t, rng.integers(0, w, n), rng.integers(0, h, n), rng.integers(0, 2, n))


def class_events(rng: np.random.Generator, label: int, n: int, w: int, h: int, t_max: int) -> np.ndarray:
    """Random events, half of them ON events inside the block of a 5x2 grid chosen by ``label % 10``, so
    the classes are separable and a tiny model can learn them."""
    e = random_events(rng, n, w, h, t_max)
    half, bw, bh = n // 2, w // 5, h // 2
    e["x"][:half] = (label % 5) * bw + rng.integers(0, bw, half)
    e["y"][:half] = ((label // 5) % 2) * bh + rng.integers(0, bh, half)
    e["p"][:half] = 1
    return e


def _by_split(rows: list[tuple[str, np.ndarray, int]]) -> dict[str, Split]:
    """``(split, example, label)`` rows as ``{split: {"examples": [...], "labels": [...]}}``."""
    return {s: {"examples": [e for r, e, _ in rows if r == s], "labels": [c for r, _, c in rows if r == s]}
            for s in ("train", "test")}  # fmt: skip


def write_fake_cifar10_dvs(
    root: PathLike, per_class: int = 10, n: int = 200, seed: int = 0, train_ratio: float = 0.9
) -> dict[str, Split]:
    """``root/<class>/cifar10_<class>_<i>.aedat`` (AEDAT 2.0), split per class by ``train_ratio``."""
    rng = np.random.default_rng(seed)
    root = epath.Path(root)
    rows = []
    k = math.ceil(round(per_class * train_ratio, 9))
    for c, name in enumerate(CIFAR10_DVS_CLASSES):
        (root / name).mkdir(parents=True)
        for j, fname in enumerate(sorted(f"cifar10_{name}_{i}.aedat" for i in range(per_class))):
            e = class_events(rng, c, n, 128, 128, 1_000_000)
            write_aedat2(root / name / fname, e)
            rows.append(("train" if j < k else "test", e, c))
    return _by_split(rows)


def write_fake_nmnist(
    root: PathLike, train: int = 2, test: int = 1, n: int = 120, seed: int = 1
) -> dict[str, Split]:
    """``root/Train|Test/<digit>/<i>.bin`` (34x34 N-MNIST records), ``train``/``test`` files per digit."""
    rng = np.random.default_rng(seed)
    rows = []
    for split, folder, count in (("train", "Train", train), ("test", "Test", test)):
        for d in range(10):
            (epath.Path(root) / folder / str(d)).mkdir(parents=True)
            for i in range(count):
                e = class_events(rng, d, n, 34, 34, 300_000)
                write_nmnist(epath.Path(root) / folder / str(d) / f"{i:05d}.bin", e)
                rows.append((split, e, d))
    return _by_split(rows)


def write_fake_dvs_gesture(root: PathLike, n: int = 3000, seed: int = 2) -> dict[str, Split]:
    """``root/DvsGesture/`` with two train and one test AEDAT 3.1 recordings of three segments each."""
    rng = np.random.default_rng(seed)
    g = epath.Path(root) / "DvsGesture"
    g.mkdir(parents=True)
    trials = {"train": ["user01_fluorescent.aedat", "user02_lab.aedat"], "test": ["user24_led.aedat"]}
    bounds = [(1000, 300_000), (300_000, 650_000), (700_000, 990_000)]
    rows = []
    for split, names in trials.items():
        (g / f"trials_to_{split}.txt").write_text("".join(f"{name}\n" for name in names))
        for r, name in enumerate(names):
            e = random_events(rng, n, 128, 128, 1_000_000)
            write_aedat31(g / name, e, packet_events=512)
            segments = [((r * 3 + s) % 11 + 1, a, b) for s, (a, b) in enumerate(bounds)]
            csv = "class,startTime_usec,endTime_usec\n" + "".join(f"{c},{a},{b}\n" for c, a, b in segments)
            (g / name.replace(".aedat", "_labels.csv")).write_text(csv)
            rows.extend((split, e[(e["t"] >= a) & (e["t"] < b)], c - 1) for c, a, b in segments)
    return _by_split(rows)
