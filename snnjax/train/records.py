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
    of a multi-process run (``enabled``) touches the file."""

    def __init__(self, workdir: epath.PathLike, resume_step: int = 0, *, enabled: bool = True):
        self.path = epath.Path(workdir) / "metrics.jsonl"
        self.enabled = enabled
        if enabled:
            kept = (
                [r for r in read_metrics(self.path) if r.get("step", 0) <= resume_step] if resume_step else []
            )
            self.path.write_text("".join(json.dumps(r) + "\n" for r in kept))

    def write(self, record: dict[str, Any]):
        if not self.enabled:
            return
        with self.path.open("a") as f:
            f.write(json.dumps({k: _plain(v) for k, v in record.items()}) + "\n")


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


def plot_metrics(workdir: epath.PathLike) -> epath.Path | None:
    """Plots training loss/accuracy and test accuracy against the step into ``<workdir>/metrics.png``."""
    workdir = epath.Path(workdir)
    records = read_metrics(workdir / "metrics.jsonl")
    train = [r for r in records if "train_loss" in r]
    test = [r for r in records if "test_accuracy" in r]
    if not train and not test:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    if train:
        steps = [r["step"] for r in train]
        ax_loss.plot(steps, [r["train_loss"] for r in train], label="train")
        ax_acc.plot(steps, [r["train_accuracy"] for r in train], label="train (batch)")
    if test:
        ax_loss.plot([r["step"] for r in test], [r["test_loss"] for r in test], "o-", label="test")
        ax_acc.plot([r["step"] for r in test], [r["test_accuracy"] for r in test], "o-", label="test")
    ax_loss.set(xlabel="step", ylabel="loss", title="loss")
    ax_acc.set(xlabel="step", ylabel="accuracy", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    path = workdir / "metrics.png"
    path.write_bytes(buffer.getvalue())
    return path
