"""Throughput of the event readers and of frame integration (events per second, CPU).

Writes a synthetic recording of ``--events`` events in each file format to a temp dir, then
reports the median over ``--repeats`` runs of reading it back and of integrating it to frames.

    python benchmarks/events_throughput.py [--events 1000000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from snnjax.data import events as ev


def _median_seconds(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up (page cache, allocator)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _synthetic(rng: np.random.Generator, n: int, w: int, h: int, t_max: int) -> np.ndarray:
    t = np.sort(rng.integers(0, t_max, n))
    return ev.make_events(t, rng.integers(0, w, n), rng.integers(0, h, n), rng.integers(0, 2, n))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    n, reps = args.events, args.repeats
    rng = np.random.default_rng(0)
    nmnist = _synthetic(rng, n, 34, 34, 2**23)
    dvs = _synthetic(rng, n, 128, 128, 6_000_000_000)  # > 2**32 us: wraps / overflows
    rows: list[tuple[str, int, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        ev.write_nmnist(d / "s.bin", nmnist)
        ev.write_aedat2(d / "s2.aedat", dvs)
        ev.write_aedat31(d / "s3.aedat", dvs, packet_events=2048)
        for name, fn in (
            ("read N-MNIST .bin", lambda: ev.read_nmnist(d / "s.bin")),
            ("read CIFAR10-DVS AEDAT 2.0", lambda: ev.read_cifar10_dvs(d / "s2.aedat")),
            ("read DVS Gesture AEDAT 3.1", lambda: ev.read_dvs_gesture(d / "s3.aedat")),
        ):
            rows.append((name, n, _median_seconds(fn, reps)))
    size = ev.DVS128_SENSOR_SIZE
    for name, kwargs in (
        ("frames number T=10 128x128", dict(num_frames=10, split_by="number")),
        ("frames time T=10 128x128", dict(num_frames=10, split_by="time")),
        ("frames number T=10 -> 48x48 area", dict(num_frames=10, size=(48, 48))),
        ("frames number T=10 -> 48x48 bilinear", dict(num_frames=10, size=(48, 48),
                                                      resize_mode="bilinear")),
        ("frames T=10 + denoise 10 ms", dict(num_frames=10, filter_time=10_000)),
    ):  # fmt: skip
        rows.append((name, n, _median_seconds(lambda k=kwargs: ev.events_to_frames(dvs, size, **k),
                                              reps)))  # fmt: skip
    print(f"{'operation':40s} {'events':>10s} {'median s':>10s} {'events/s':>12s}")
    for name, count, sec in rows:
        print(f"{name:40s} {count:10d} {sec:10.4f} {count / sec:12.3e}")


if __name__ == "__main__":
    main()
