"""Tiny event datasets in the original folder layouts and binary formats, for pipeline and training tests.

Each builder writes deterministic random events with the library's writers (whose byte layout
tests/data/test_events.py checks against hand-built records) and returns, per split, the samples' events
and labels in dataset order, so tests can recompute every frame independently.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from snnjax.data import events as ev


def random_events(rng: np.random.Generator, n: int, w: int, h: int, t_max: int) -> np.ndarray:
    """``n`` time-sorted events uniform over a ``w x h`` sensor and ``[0, t_max)`` us."""
    t = np.sort(rng.integers(0, t_max, n))
    return ev.make_events(t, rng.integers(0, w, n), rng.integers(0, h, n), rng.integers(0, 2, n))


def class_events(rng: np.random.Generator, label: int, n: int, w: int, h: int, t_max: int) -> np.ndarray:
    """Random events, half of them inside a block of a 5x2 grid chosen by ``label % 10`` (ON events),
    so the ten classes are separable and a tiny model can learn them."""
    e = random_events(rng, n, w, h, t_max)
    half = n // 2
    bw, bh = w // 5, h // 2
    e["x"][:half] = (label % 5) * bw + rng.integers(0, bw, half)
    e["y"][:half] = ((label // 5) % 2) * bh + rng.integers(0, bh, half)
    e["p"][:half] = 1
    return e


Split = dict[str, list]  # {"events": [np.ndarray], "labels": [int]}


def write_cifar10_dvs(root: Path, per_class: int = 10, n: int = 200, seed: int = 0) -> dict[str, Split]:
    """``root/<class>/cifar10_<class>_<i>.aedat``; split as the seeds (first 90% of each class train)."""
    rng = np.random.default_rng(seed)
    out: dict[str, Split] = {"train": {"events": [], "labels": []}, "test": {"events": [], "labels": []}}
    k = int(np.ceil(round(per_class * 0.9, 9)))
    for c, name in enumerate(ev.CIFAR10_DVS_CLASSES):
        (root / name).mkdir(parents=True)
        names = sorted(f"cifar10_{name}_{i}.aedat" for i in range(per_class))
        for j, fname in enumerate(names):
            e = class_events(rng, c, n, 128, 128, 1_000_000)
            ev.write_aedat2(root / name / fname, e)
            split = "train" if j < k else "test"
            out[split]["events"].append(e)
            out[split]["labels"].append(c)
    return out


def write_nmnist(root: Path, train: int = 2, test: int = 1, n: int = 120, seed: int = 1) -> dict[str, Split]:
    """``root/Train|Test/<digit>/<i>.bin`` (34x34 N-MNIST records)."""
    rng = np.random.default_rng(seed)
    out: dict[str, Split] = {}
    for split, folder, count in (("train", "Train", train), ("test", "Test", test)):
        out[split] = {"events": [], "labels": []}
        for d in range(10):
            (root / folder / str(d)).mkdir(parents=True)
            for i in range(count):
                e = class_events(rng, d, n, 34, 34, 300_000)
                ev.write_nmnist(root / folder / str(d) / f"{i:05d}.bin", e)
                out[split]["events"].append(e)
                out[split]["labels"].append(d)
    return out


def write_dvs_gesture(root: Path, n: int = 3000, seed: int = 2) -> dict[str, Split]:
    """``root/DvsGesture/`` with two train and one test AEDAT 3.1 recordings of three segments each."""
    rng = np.random.default_rng(seed)
    g = root / "DvsGesture"
    g.mkdir(parents=True)
    trials = {"train": ["user01_fluorescent.aedat", "user02_lab.aedat"], "test": ["user24_led.aedat"]}
    out: dict[str, Split] = {}
    bounds = [(1000, 300_000), (300_000, 650_000), (700_000, 990_000)]
    for split, names in trials.items():
        out[split] = {"events": [], "labels": []}
        (g / f"trials_to_{split}.txt").write_text("".join(f"{name}\n" for name in names))
        for r, name in enumerate(names):
            e = random_events(rng, n, 128, 128, 1_000_000)
            ev.write_aedat31(g / name, e, packet_events=512)
            classes = [(r * 3 + s) % 11 + 1 for s in range(3)]
            rows = "".join(f"{c},{a},{b}\n" for c, (a, b) in zip(classes, bounds, strict=True))
            csv = g / name.replace(".aedat", "_labels.csv")
            csv.write_text("class,startTime_usec,endTime_usec\n" + rows)
            for c, (a, b) in zip(classes, bounds, strict=True):
                out[split]["events"].append(e[(e["t"] >= a) & (e["t"] < b)])
                out[split]["labels"].append(c - 1)
    return out
