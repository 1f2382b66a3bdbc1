"""Input-pipeline speed: tfds build time from raw files and training batches per second.

    python benchmarks/data_throughput.py --raw-dir /path/to/data [--tfds-dir DIR] [--steps 300]

Without ``--tfds-dir`` the datasets are built into a fresh temporary folder (so the build is timed).
Prints one line per measurement.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from snnjax.data import builders, default_data_config, make_pipeline

CASES = [
    ("mnist", 128, {}),
    ("mnist", 128, {"normalize": False}),
    ("cifar10", 64, {"crop_padding": 4, "flip": True}),
    ("cifar10", 64, {"crop_padding": 4, "flip": True, "autoaugment": "cifar10"}),
    ("cifar10", 64, {"crop_padding": 4, "flip": True, "randaugment": "rand-m7-n1-mstd0.5"}),
]


def _time_build(name: str, raw_dir: Path, tfds_dir: Path) -> None:
    start = time.perf_counter()
    builders.prepare_local(name, raw_dir, tfds_dir)
    print(f"build {name}: {time.perf_counter() - start:.1f} s (into {tfds_dir})")


def _time_pipeline(name: str, batch: int, overrides: dict, raw_dir: Path, tfds_dir: Path, steps: int) -> None:
    cfg = default_data_config()
    cfg.update({"name": name, "dir": str(raw_dir), "tfds_dir": str(tfds_dir), **overrides})
    start = time.perf_counter()
    pipe = make_pipeline(
        cfg, split="train", global_batch_size=batch, seed=0, train=True, process_index=0, process_count=1
    )
    setup = time.perf_counter() - start
    next(pipe)
    start = time.perf_counter()
    for _ in range(steps):
        next(pipe)
    rate = steps / (time.perf_counter() - start)
    pipe.close()
    print(f"{name} batch {batch} {overrides or 'no augmentation'}: setup {setup:.1f} s, {rate:.0f} batches/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--raw-dir", type=Path, required=True, help="folder with mnist/ and cifar10/ sub-folders of raw files"
    )
    parser.add_argument("--tfds-dir", type=Path, default=None)
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tfds_dir = args.tfds_dir or Path(tmp)
        for name in ("mnist", "cifar10"):
            _time_build(name, args.raw_dir / name, tfds_dir)
        for name, batch, overrides in CASES:
            _time_pipeline(name, batch, overrides, args.raw_dir / name, tfds_dir, args.steps)


if __name__ == "__main__":
    main()
