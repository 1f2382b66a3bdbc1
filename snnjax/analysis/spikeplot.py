"""Plots of a :class:`snnjax.analysis.monitor.Recording`; each function returns a matplotlib figure."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from snnjax.analysis import monitor


def _figure(width: float, height: float):
    """A figure outside pyplot (no global state, no GUI backend) and its axes."""
    fig = Figure(figsize=(width, height))
    return fig, fig.subplots()


def raster(rec: monitor.Recording, layer: str, *, sample: int = 0, max_neurons: int = 256) -> Figure:
    """Spike raster of one layer for one sample: time on x, the first ``max_neurons`` neurons on y."""
    s = np.asarray(rec.spikes[layer][:, sample]).reshape(rec.spikes[layer].shape[0], -1)[:, :max_neurons]
    t, n = np.nonzero(s)
    fig, ax = _figure(7, 4)
    ax.scatter(t, n, marker="|", s=30, color="k")
    ax.set(xlabel="time step", ylabel="neuron", title=f"{layer}: sample {sample}")
    ax.set_xlim(-0.5, s.shape[0] - 0.5)
    fig.tight_layout()
    return fig


def rate_bars(rec: monitor.Recording) -> Figure:
    """Mean firing rate per layer (bar chart)."""
    rates = {k: float(v) for k, v in monitor.layer_rates(rec).items()}
    fig, ax = _figure(max(4, 0.6 * len(rates) + 2), 3.5)
    ax.bar(range(len(rates)), list(rates.values()))
    ax.set_xticks(range(len(rates)), list(rates), rotation=45, ha="right")
    ax.set(ylabel="firing rate", title="firing rate per layer")
    fig.tight_layout()
    return fig


def rate_heatmap(rec: monitor.Recording) -> Figure:
    """Firing rate of every layer (rows) at every time step (columns)."""
    over_time = monitor.rate_over_time(rec)
    grid = np.stack([np.asarray(v) for v in over_time.values()])
    fig, ax = _figure(7, 0.4 * len(over_time) + 1.5)
    im = ax.imshow(grid, aspect="auto", cmap="viridis", interpolation="nearest")
    ax.set_yticks(range(len(over_time)), list(over_time))
    ax.set(xlabel="time step", title="firing rate over time")
    fig.colorbar(im, ax=ax)
    fig.tight_layout()
    return fig


def membrane_trace(
    rec: monitor.Recording, layer: str, *, v_th: float, sample: int = 0, neuron: int | None = None
) -> Figure:
    """Membrane potential of one neuron with its threshold and the steps it fired at; by default the
    neuron whose firing rate in this sample is closest to 0.5."""
    steps = rec.membrane[layer].shape[0]
    spikes = np.asarray(rec.spikes[layer][:, sample]).reshape(steps, -1)
    if neuron is None:
        neuron = int(np.argmin(np.abs(spikes.mean(0) - 0.5)))
    v = np.asarray(rec.membrane[layer][:, sample]).reshape(steps, -1)[:, neuron]
    s = spikes[:, neuron]
    fig, ax = _figure(7, 3)
    ax.plot(v, label="membrane (after reset)")
    ax.axhline(v_th, color="r", ls="--", label="threshold")
    fired = np.flatnonzero(s)
    ax.vlines(fired, v_th, v_th * 1.2, color="k", label="spike")
    ax.set(xlabel="time step", ylabel="v", title=f"{layer}: neuron {neuron}, sample {sample}")
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    return fig


def rate_histogram(rec: monitor.Recording, layer: str, *, bins: int = 20) -> Figure:
    """Histogram of the per-neuron firing rates of one layer."""
    rates = np.asarray(monitor.neuron_rates(rec.spikes[layer]))
    fig, ax = _figure(5, 3)
    ax.hist(rates, bins=bins, range=(0, 1))
    ax.set(xlabel="per-neuron firing rate", ylabel="neurons", title=layer)
    fig.tight_layout()
    return fig
