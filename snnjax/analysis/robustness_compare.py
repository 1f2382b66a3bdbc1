"""Multi-model robustness figure from several workdirs' ``robustness.json`` (``--mode=robustness``).

    python -m snnjax.analysis.robustness_compare W1 W2 ... --out fig.png [--label workdir|model]
        [--metric accuracy|single_pass_accuracy]

One axis per attack family (:mod:`snnjax.analysis.robustness_plot`), one line per workdir (and
perturbation); the legend names each line by its workdir's folder name (default) or by the model and
neuron recorded in its ``robustness.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from etils import epath

from snnjax.analysis import robustness_plot
from snnjax.errors import ConfigError


def load(workdir: epath.PathLike) -> dict[str, Any]:
    """The ``robustness.json`` of ``workdir`` (a ConfigError if it has none)."""
    path = epath.Path(workdir) / "robustness.json"
    if not path.exists():
        raise ConfigError(f"{path} does not exist: run --mode=robustness on {workdir} first")
    return json.loads(path.read_text())


def label_of(workdir: epath.PathLike, report: dict[str, Any], by: str) -> str:
    """A legend label: the workdir's folder name (``by='workdir'``) or ``model / neuron`` (``'model'``)."""
    if by == "model":
        return f"{report.get('model')} / {report.get('neuron')}"
    return epath.Path(workdir).name


def compare(workdirs: Sequence[str], out: str, *, label: str = "workdir", metric: str = "accuracy") -> str:
    """Draws the comparison of ``workdirs`` into ``out`` (PNG, or any format matplotlib infers from the
    suffix); returns ``out``."""
    curves: dict[str, list] = {}
    for workdir in workdirs:
        report = load(workdir)
        name = label_of(workdir, report, label)
        while name in curves:  # two workdirs with the same label
            name += "'"
        curves[name] = report["rows"]
    fig = robustness_plot.plot_curves(curves, metric)
    with epath.Path(out).open("wb") as f:
        fig.savefig(f, dpi=120, format=epath.Path(out).suffix.lstrip(".") or "png")
    robustness_plot.close(fig)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m snnjax.analysis.robustness_compare", description=__doc__)
    parser.add_argument("workdirs", nargs="+", help="workdirs holding robustness.json")
    parser.add_argument("--out", required=True, help="output figure (e.g. fig.png)")
    parser.add_argument("--label", choices=("workdir", "model"), default="workdir")
    parser.add_argument("--metric", choices=("accuracy", "single_pass_accuracy"), default="accuracy")
    args = parser.parse_args(argv)
    try:
        print(compare(args.workdirs, args.out, label=args.label, metric=args.metric))
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
