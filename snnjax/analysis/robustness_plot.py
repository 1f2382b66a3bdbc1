"""Robustness figures: accuracy against perturbation strength, one axis per attack family.

Strength scales differ between families (noise std, pixel fraction, L-inf budget, spike fraction), so each
family gets its own axis: ``noise`` (gaussian, multiplicative), ``salt_pepper``, ``gradient`` (fgsm,
ifgsm) and ``spike_flip``; only the families present in the rows are drawn.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

FAMILIES = {
    "noise": ("gaussian", "multiplicative"),
    "salt_pepper": ("salt_pepper",),
    "gradient": ("fgsm", "ifgsm"),
    "spike_flip": ("spike_flip",),
}
XLABELS = {
    "noise": "noise std (sigma)",
    "salt_pepper": "fraction of pixels",
    "gradient": "L-inf budget (eps)",
    "spike_flip": "fraction of spikes flipped",
}
LINESTYLES = {"gaussian": "-", "multiplicative": "--", "fgsm": "-", "ifgsm": "--"}


def family_of(perturbation: str) -> str:
    """The attack family of a perturbation name."""
    for family, members in FAMILIES.items():
        if perturbation in members:
            return family
    raise ValueError(f"unknown perturbation {perturbation!r}")


def families_in(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The families with at least one row, in :data:`FAMILIES` order."""
    present = {family_of(r["perturbation"]) for r in rows}
    return [f for f in FAMILIES if f in present]


def plot_curves(curves: Mapping[str, Sequence[Mapping[str, Any]]], metric: str = "accuracy"):
    """A figure with one axis per family present in any of ``curves`` (label -> robustness rows); one line
    per label and perturbation (solid / dashed within a family), ``metric`` against strength. With no rows
    at all, one empty axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    all_rows = [r for rows in curves.values() for r in rows]
    families = families_in(all_rows) or ["none"]
    fig, axes = plt.subplots(1, len(families), figsize=(4.2 * len(families), 3.6), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, family in zip(axes[0], families, strict=True):
        for i, (label, rows) in enumerate(curves.items()):
            for kind in FAMILIES.get(family, ()):
                pts = sorted((r["strength"], r[metric]) for r in rows if r["perturbation"] == kind)
                if not pts:
                    continue
                name = label if len(curves) > 1 else kind
                if len(curves) > 1 and len(FAMILIES[family]) > 1:
                    name = f"{label} ({kind})"
                ax.plot(*zip(*pts, strict=True), marker="o", color=colors[i % len(colors)],
                        linestyle=LINESTYLES.get(kind, "-"), label=name)  # fmt: skip
        ax.set_title(family)
        ax.set_xlabel(XLABELS.get(family, "strength"))
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
        if ax.has_data():
            ax.legend(fontsize="small")
    axes[0][0].set_ylabel("test accuracy (ensemble)" if metric == "accuracy" else metric)
    if len(curves) == 1:
        fig.suptitle(next(iter(curves)))
    fig.tight_layout()
    return fig


def close(fig) -> None:
    """Releases a figure of :func:`plot_curves`."""
    import matplotlib.pyplot as plt

    plt.close(fig)
