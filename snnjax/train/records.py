"""What a run leaves in its workdir: metrics.jsonl, results.json, the resolved config, plots."""

from __future__ import annotations

import io
import json
import math
from typing import Any

import numpy as np
from etils import epath


class MetricsLog:
    """Appends one JSON object per line to ``<workdir>/metrics.jsonl`` (kept across resumes; entries
    beyond the resumed step are dropped so the file never holds a lost future). Only the writer process
    of a multi-process run (``enabled``) touches the file. ``writer`` (``snnjax.train.writers``) gets every
    record too."""

    def __init__(
        self, workdir: epath.PathLike, resume_step: int = 0, *, enabled: bool = True, writer: Any = None
    ):
        self.path = epath.Path(workdir) / "metrics.jsonl"
        self.enabled = enabled
        self.writer = writer
        if enabled:
            kept = (
                [r for r in read_metrics(self.path) if r.get("step", 0) <= resume_step] if resume_step else []
            )
            self.path.write_text("".join(json.dumps(r) + "\n" for r in kept))

    def write(self, record: dict[str, Any]):
        if not self.enabled:
            return
        plain = {k: _plain(v) for k, v in record.items()}
        with self.path.open("a") as f:
            f.write(json.dumps(plain) + "\n")
        if self.writer is not None:
            self.writer.write(plain)


def read_metrics(path: epath.PathLike) -> list[dict]:
    """The records of a metrics.jsonl file (a torn last line from a crash is skipped)."""
    path = epath.Path(path)
    if not path.exists():
        return []
    records = []
    with path.open() as f:
        for line in f:
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return records


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic | np.ndarray):
        v = v.item() if np.ndim(v) == 0 else v.tolist()
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return v


def write_json(path: epath.PathLike, data: dict[str, Any]):
    """Writes JSON atomically (temp file + rename)."""
    path = epath.Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({k: _plain(v) for k, v in data.items()}, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)


def _values(rows: list[dict], key: str) -> tuple[list[int], list[float]]:
    """Steps and values of ``key`` in the rows holding it (non-finite values, stored as text, as floats)."""
    steps, values = [], []
    for r in rows:
        if key in r:
            try:
                values.append(float(r[key]))
            except (TypeError, ValueError):
                continue
            steps.append(r["step"])
    return steps, values


def plot_metrics(workdir: epath.PathLike) -> epath.Path | None:
    """Draws ``<workdir>/metrics.png`` from metrics.jsonl: loss, accuracy and firing rate (pooled train /
    test, and each layer's as thin lines) against the step. Replaces the file atomically; None if there
    is nothing to draw yet."""
    workdir = epath.Path(workdir)
    records = read_metrics(workdir / "metrics.jsonl")
    train = [r for r in records if "train_loss" in r]
    test = [r for r in records if "test_accuracy" in r]
    if not train and not test:
        return None
    from matplotlib.figure import Figure  # no pyplot: no global figure state, Agg canvas by default

    fig = Figure(figsize=(15, 4))
    ax_loss, ax_acc, ax_rate = fig.subplots(1, 3)
    ax_loss.plot(*_values(train, "train_loss"), label="train")
    ax_acc.plot(*_values(train, "train_accuracy"), label="train (batch)")
    ax_rate.plot(*_values(train, "firing_rate"), label="train")
    ax_loss.plot(*_values(test, "test_loss"), "o-", label="test")
    ax_acc.plot(*_values(test, "test_accuracy"), "o-", label="test")
    ax_rate.plot(*_values(test, "test_firing_rate"), "o-", label="test")
    layers = sorted({k for r in train for k in r if k.startswith("firing_rate/")})
    for key in layers:
        ax_rate.plot(*_values(train, key), lw=0.6, alpha=0.6, label=key.removeprefix("firing_rate/"))
    ax_loss.set(xlabel="step", ylabel="loss", title="loss")
    ax_acc.set(xlabel="step", ylabel="accuracy", title="accuracy")
    ax_rate.set(xlabel="step", ylabel="spikes per neuron and time step", title="firing rate")
    for ax in (ax_loss, ax_acc, ax_rate):
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="small" if ax is not ax_rate or len(layers) < 8 else "xx-small")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    path = workdir / "metrics.png"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(buffer.getvalue())
    tmp.replace(path)
    return path
