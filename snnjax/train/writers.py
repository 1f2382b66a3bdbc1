"""Optional metric writers: the scalars of every metrics.jsonl record, also sent to TensorBoard or W&B.

``config.train.writer`` picks one: ``none`` (default), ``tensorboard`` (event files in
``<workdir>/tensorboard/`` through ``tensorboardX``) or ``wandb`` (offline unless ``WANDB_MODE`` is set).
Each numeric field of a record becomes a scalar with the field name as tag at the record's ``step``. The
packages are imported only when chosen; a missing one is a :class:`~snnjax.errors.ConfigError`.
"""

from __future__ import annotations

import hashlib
import math
import os
from typing import Any, Protocol

import ml_collections
from etils import epath

from snnjax.errors import ConfigError

WRITERS = ("none", "tensorboard", "wandb")


class MetricWriter(Protocol):
    def write(self, record: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


def scalars(record: dict[str, Any]) -> dict[str, float]:
    """The numeric fields of a record other than ``step`` (non-finite values logged as strings too)."""
    out = {}
    for key, value in record.items():
        if key == "step" or isinstance(value, bool):
            continue
        if isinstance(value, int | float) or value in ("nan", "inf", "-inf"):
            out[key] = float(value)
    return out


class NullWriter:
    """Writes nothing (``writer='none'`` and every process but the first)."""

    def write(self, record: dict[str, Any]) -> None:
        pass

    def close(self) -> None:
        pass


class TensorBoardWriter:
    """Scalars into TensorBoard event files; a resumed run purges the events after its resume step."""

    def __init__(self, logdir: epath.Path, resume_step: int = 0):
        try:
            from tensorboardX import SummaryWriter
        except ImportError:
            raise ConfigError(
                "config.train.writer='tensorboard' needs tensorboardX: pip install tensorboardX"
            ) from None
        self.logdir = logdir
        self._writer = SummaryWriter(logdir=str(logdir), purge_step=resume_step or None, flush_secs=30)

    def write(self, record: dict[str, Any]) -> None:
        step = int(record["step"])
        for tag, value in scalars(record).items():
            self._writer.add_scalar(tag, value, global_step=step)
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


class WandbWriter:
    """Scalars into a W&B run named after the workdir (one run id per workdir, so a resume continues it)."""

    def __init__(self, workdir: epath.Path, config: ml_collections.ConfigDict):
        try:
            import wandb
        except ImportError:
            raise ConfigError("config.train.writer='wandb' needs wandb: pip install wandb") from None
        run_id = hashlib.sha1(str(workdir).encode()).hexdigest()[:16]
        self._run = wandb.init(
            project="snnjax",
            name=workdir.name,
            id=run_id,
            resume="allow",
            dir=str(workdir),
            mode=os.environ.get("WANDB_MODE", "offline"),
            config=config.to_dict(),
        )

    def write(self, record: dict[str, Any]) -> None:
        values = {k: v for k, v in scalars(record).items() if math.isfinite(v)}
        if values:
            self._run.log(values, step=int(record["step"]))

    def close(self) -> None:
        self._run.finish()


def make_writer(
    config: ml_collections.ConfigDict, workdir: epath.PathLike, *, resume_step: int = 0, enabled: bool = True
) -> MetricWriter:
    """The writer ``config.train.writer`` names (a :class:`NullWriter` where ``enabled`` is False)."""
    name = config.train.writer
    if name not in WRITERS:
        raise ConfigError(f"config.train.writer={name!r} is not one of {list(WRITERS)}")
    workdir = epath.Path(workdir)
    if not enabled or name == "none":
        return NullWriter()
    if name == "tensorboard":
        return TensorBoardWriter(workdir / "tensorboard", resume_step)
    return WandbWriter(workdir, config)
