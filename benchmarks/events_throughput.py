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
from etils import epath

from snnjax.data import testing
from snnjax.data.events import frames, io, source


def _median_seconds(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up (page cache, allocator)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--batch", type=int, default=128, help="pipeline batch size")
    args = ap.parse_args()
    n, reps = args.events, args.repeats
    rng = np.random.default_rng(0)
    nmnist = testing.random_events(rng, n, 34, 34, 2**23)
    dvs = testing.random_events(rng, n, 128, 128, 6_000_000_000)  # > 2**32 us: wraps / overflows
    rows: list[tuple[str, int, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        testing.write_nmnist(d / "s.bin", nmnist)
        testing.write_aedat2(d / "s2.aedat", dvs)
        testing.write_aedat31(d / "s3.aedat", dvs, packet_events=2048)
        for name, fn in (
            ("read N-MNIST .bin", lambda: io.read_nmnist(d / "s.bin")),
            ("read CIFAR10-DVS AEDAT 2.0", lambda: io.read_cifar10_dvs(d / "s2.aedat")),
            ("read DVS Gesture AEDAT 3.1", lambda: io.read_dvs_gesture(d / "s3.aedat")),
        ):
            rows.append((name, n, _median_seconds(fn, reps)))
        # the whole first-epoch path of one sample: read the file, integrate T=10 frames at 48x48
        for name, fn in (
            ("read+frames N-MNIST T=10 34x34", lambda: frames.events_to_frames(
                io.read_nmnist(d / "s.bin"), io.NMNIST_SENSOR_SIZE, 10)),
            ("read+frames AEDAT 2.0 T=10 -> 48x48", lambda: frames.events_to_frames(
                io.read_cifar10_dvs(d / "s2.aedat"), io.DVS128_SENSOR_SIZE, 10, size=(48, 48))),
            ("read+frames AEDAT 3.1 T=10 -> 48x48", lambda: frames.events_to_frames(
                io.read_dvs_gesture(d / "s3.aedat"), io.DVS128_SENSOR_SIZE, 10, size=(48, 48))),
        ):  # fmt: skip
            rows.append((name, n, _median_seconds(fn, reps)))
        # later epochs/runs: one cached sample (.npz, T=10 x 48x48x2 float32) read back
        options = dict(num_frames=10, split_by="number", sensor_size=io.DVS128_SENSOR_SIZE, size=(48, 48),
                       resize_mode="area", filter_time=None)  # fmt: skip
        sample = source.Sample(epath.Path(d / "s2.aedat"), 0)
        frame_source = source.EventSource([sample], options, epath.Path(d / "cache"), in_memory=True)
        cached = lambda: frame_source.frames_of(sample)
        cached_s = _median_seconds(cached, reps * 20)
    size = io.DVS128_SENSOR_SIZE
    for name, kwargs in (
        ("frames number T=10 128x128", dict(num_frames=10, split_by="number")),
        ("frames time T=10 128x128", dict(num_frames=10, split_by="time")),
        ("frames number T=10 -> 48x48 area", dict(num_frames=10, size=(48, 48))),
        ("frames number T=10 -> 48x48 bilinear", dict(num_frames=10, size=(48, 48),
                                                      resize_mode="bilinear")),
        ("frames T=10 + denoise 10 ms", dict(num_frames=10, filter_time=10_000)),
    ):  # fmt: skip
        rows.append((name, n, _median_seconds(lambda k=kwargs: frames.events_to_frames(dvs, size, **k),
                                              reps)))  # fmt: skip
    print(f"{'operation':40s} {'events':>10s} {'median s':>10s} {'events/s':>12s}")
    for name, count, sec in rows:
        print(f"{name:40s} {count:10d} {sec:10.4f} {count / sec:12.3e}")
    print(f"cached sample (.npz, 10x48x48x2) load: {cached_s * 1e3:.2f} ms ({1 / cached_s:.0f} samples/s)")
    _pipeline_rate(args.batch, reps)


def _pipeline_rate(batch: int, reps: int) -> None:
    """Training batches per second of the cifar10_dvs pipeline (frames in memory, flip + roll 5)."""
    from snnjax.data import default_data_config, make_pipeline

    rng = np.random.default_rng(1)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "c10dvs"
        for name in source.CIFAR10_DVS_CLASSES:
            (root / name).mkdir(parents=True)
            for i in range(-(-batch // 9) + 1):
                events = testing.random_events(rng, 20_000, 128, 128, 10**6)
                testing.write_aedat2(root / name / f"{i}.aedat", events)
        cfg = default_data_config()
        cfg.update(name="cifar10_dvs", dir=str(root), flip=True, roll=5, prefetch=0)
        t0 = time.perf_counter()
        pipe = make_pipeline(
            cfg, split="train", global_batch_size=batch, seed=0, train=True, process_index=0,
            process_count=1, model_num_steps=10,
        )  # fmt: skip
        build = time.perf_counter() - t0
        n = pipe._maker.num_examples + pipe.info.num_test
        sec = _median_seconds(lambda: pipe.batch_at(0), reps)
    shape = pipe.batch_at.__self__.info.image_shape
    print(f"cifar10_dvs pipeline: first build (read+integrate+cache {n} files of 20k events) {build:.2f} s; "
          f"train batch [10, {batch}, {shape[0]}, {shape[1]}, 2] (flip+roll) {sec * 1e3:.1f} ms "
          f"({batch / sec:.0f} samples/s)")  # fmt: skip


if __name__ == "__main__":
    main()
