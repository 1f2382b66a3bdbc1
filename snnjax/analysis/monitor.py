"""Spike monitors: record what every neuron layer of a model does on a batch.

``record(model, x)`` runs the model once with recording switched on: every
:class:`snnjax.layers.SpikingNeuron` inside it sows its spike train ``[T, b, ...]`` (and, if asked, its
membrane trace) as a :class:`snnjax.layers.Recorded` variable, collected with ``nnx.capture``. Nothing
is left on the model, and outside ``record`` the layers sow nothing, so training programs are unchanged.
``record`` traces under ``jax.jit`` / ``nnx.jit`` like any model call::

    logits, rec = monitor.record(model, images, samples=4, membrane=True)
    monitor.layer_rates(rec)        # {'lif1': 0.12, ...}
    monitor.rate_over_time(rec)     # {'lif1': [T], ...}

Layer names are the dotted attribute paths of the neuron layers inside the model.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from etils import epath
from flax import nnx
from jax import Array

from snnjax import layers
from snnjax.errors import ConfigError


class Recording(NamedTuple):
    """Per neuron layer (dotted path -> array): ``spikes [T, b, ...]`` and ``membrane [T, b, ...]``
    (empty unless recorded). A pytree, so it can be returned from a jitted function."""

    spikes: dict[str, Array]
    membrane: dict[str, Array]


def record(
    model: nnx.Module, x: Any, *, samples: int | None = None, membrane: bool = False, **kwargs: Any
) -> tuple[Any, Recording]:
    """``model(x, **kwargs)`` and a :class:`Recording` of its neuron layers.

    Args:
      model: any NNX model whose neurons are :class:`snnjax.layers.SpikingNeuron` layers.
      x: the model input (e.g. images ``[B, H, W, C]`` or frames ``[B, T, H, W, C]``).
      samples: keep only the first ``samples`` examples of the batch (bounds memory); all if None.
      membrane: also record each layer's membrane potential after the step (its first state array).
    Returns:
      ``(output, recording)``; the ``k``-th further call of a layer called several times (a module
      shared by several layers) is named ``'<path>#k'``.
    """
    token = layers.RECORDING.set(layers.RecordOptions(samples=samples, membrane=membrane))
    try:
        out, sown = nnx.capture(model, layers.Recorded)(x, **kwargs)
    finally:
        layers.RECORDING.reset(token)
    found: dict[str, dict[str, Array]] = {"spikes": {}, "membrane": {}}
    for path, value in nnx.to_flat_state(sown):
        kind, name = str(path[-1]), ".".join(str(p) for p in path[:-1])
        for i, array in enumerate(jax.tree.leaves(value)):  # one entry per call of the layer
            found[kind][name if i == 0 else f"{name}#{i}"] = array
    return out, Recording(found["spikes"], found["membrane"])


def layer_rates(rec: Recording) -> dict[str, Array]:
    """Mean firing rate of each layer (spikes per neuron per time step), a scalar each."""
    return {name: jnp.mean(s.astype(jnp.float32)) for name, s in rec.spikes.items()}


def rate_over_time(rec: Recording) -> dict[str, Array]:
    """Firing rate of each layer at each time step: ``[T]`` each."""
    return {k: jnp.mean(s.reshape(s.shape[0], -1).astype(jnp.float32), 1) for k, s in rec.spikes.items()}


def neuron_rates(spikes: Array) -> Array:
    """Per-neuron firing rate over time and the recorded samples: ``[T, b, *F] -> [prod(F)]``."""
    s = spikes.astype(jnp.float32)
    return jnp.mean(s.reshape(s.shape[0] * s.shape[1], -1), axis=0)


def silent_fraction(rec: Recording) -> dict[str, Array]:
    """Fraction of each layer's neurons that never fired (over all steps and recorded samples)."""
    return {name: jnp.mean(neuron_rates(s) == 0) for name, s in rec.spikes.items()}


def saturated_fraction(rec: Recording) -> dict[str, Array]:
    """Fraction of each layer's neurons that fired at every step of every recorded sample."""
    return {name: jnp.mean(neuron_rates(s) >= 1) for name, s in rec.spikes.items()}


def summary(rec: Recording) -> dict[str, dict[str, Any]]:
    """JSON-ready statistics per layer: shape, rate, rate per step, silent and saturated fractions."""
    rates, over_time = layer_rates(rec), rate_over_time(rec)
    silent, saturated = silent_fraction(rec), saturated_fraction(rec)
    return {
        name: {
            "shape": list(s.shape),
            "firing_rate": float(rates[name]),
            "rate_per_step": [float(r) for r in over_time[name]],
            "silent_fraction": float(silent[name]),
            "saturated_fraction": float(saturated[name]),
        }
        for name, s in rec.spikes.items()
    }


def write_report(rec: Recording, out_dir: epath.PathLike, *, v_th: float | None = None) -> dict[str, Any]:
    """Writes ``monitor.json`` (the :func:`summary`), ``rates.csv`` (layer, step, rate) and the plots
    (``rates.png``, ``rate_over_time.png``, and ``raster.png`` / ``rate_histogram.png`` /
    ``membrane.png`` of the first layer) into ``out_dir``; returns the summary."""
    from snnjax.analysis import spikeplot

    out = epath.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    table = summary(rec)
    (out / "monitor.json").write_text(json.dumps(table, indent=2))
    rows = ["layer,step,firing_rate"]
    rows += [f"{k},{t},{r:.6g}" for k, v in table.items() for t, r in enumerate(v["rate_per_step"])]
    (out / "rates.csv").write_text("\n".join(rows) + "\n")
    first = next(iter(rec.spikes))
    figures = {
        "rates.png": spikeplot.rate_bars(rec),
        "rate_over_time.png": spikeplot.rate_heatmap(rec),
        "raster.png": spikeplot.raster(rec, first),
        "rate_histogram.png": spikeplot.rate_histogram(rec, first),
    }
    if first in rec.membrane and v_th is not None:
        figures["membrane.png"] = spikeplot.membrane_trace(rec, first, v_th=v_th)
    for name, fig in figures.items():
        with (out / name).open("wb") as f:
            fig.savefig(f, dpi=100, format="png")
    return table


def run_mode(config, workdir: str, checkpoint: str = "latest", num_images: int = 8) -> dict[str, Any]:
    """``--mode=monitor``: restores ``workdir``'s checkpoint, records every neuron layer on the first
    ``num_images`` test images and writes :func:`write_report` into ``workdir/monitor``."""
    from snnjax.train import loop

    run, meta = loop.restore_trained(config, workdir, checkpoint)
    model = run.steps.model()
    run.test_data.reset()
    images = next(iter(run.test_data))["image"]
    _, rec = record(model, jnp.asarray(images[:num_images]), membrane=True)
    if not rec.spikes:
        raise ConfigError(f"model {config.model.name!r} has no snnjax.layers.SpikingNeuron layer to monitor")
    first = next(iter(rec.spikes))
    layer = _layer(model, first)
    v_th = getattr(getattr(layer, "neuron", layer), "v_th", None)  # a SpikingNeuron's record, or a SpikeProbe
    table = write_report(rec, epath.Path(workdir) / "monitor", v_th=None if v_th is None else float(v_th))
    rates = {k: v["firing_rate"] for k, v in table.items()}
    return {"step": int(meta["step"]), "checkpoint": checkpoint, "layers": len(table), "firing_rates": rates,
            "report": str(epath.Path(workdir) / "monitor")}  # fmt: skip


def _layer(model: nnx.Module, dotted: str) -> Any:
    node = model
    for part in dotted.split("."):
        node = node[int(part)] if part.isdigit() else getattr(node, part)
    return node
