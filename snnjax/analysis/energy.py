"""Energy estimate from synaptic operations (45 nm convention, as the GAC paper reports it; docs/gac.md).

A layer fed by real values (the stem conv on the image, the GAC attention convs) performs
multiply-accumulates (MACs); a layer fed by spikes performs one accumulate per spike and synapse, so
its synaptic operations are ``SOPs = T * r * MACs`` with ``r`` the measured firing rate of the neuron
layer that feeds it (spikes per neuron and step) and ``MACs`` the layer's per-step MAC count. Energy:

    ``E = 4.6 pJ * MACs_analog + 0.9 pJ * sum_l SOPs_l``

For a direct-coded static image the analog layers run once (the input is the same at every step), so
their MACs count once. Conventions (ours, documented in docs/gac.md): an MS-ResNet shortcut conv sees
the block's real-valued input; it is counted as spike-driven at the rate of the block's first neuron,
which fires on that same input (the usual MS-ResNet accounting); the TA MLP's few MACs count as analog.

A model may list its layers in ``model.synapses``: ``(name, MACs per example and step, source)`` with
``source`` the dotted path of the feeding neuron layer (which sows ``firing_rate``) or ``'analog'``
(MS-ResNet does). Any other model built from :class:`snnjax.layers.SpikingNeuron` layers gets them from
an abstract trace (:func:`snnjax.analysis.synapses.trace_synapses`): every conv / matmul of the forward
pass, fed at the rate of the neuron layer whose spikes reach it, or analog (its MACs as executed: once for
a stem on a static image, ``T`` times for a layer on real values at every step). Attention products of
two data tensors (SpikingResformer's DSSA) count as SOPs at the rate of their spiking operand. Rates of
traced sources are measured with :func:`snnjax.analysis.monitor.record`.

``run_mode(config, workdir, checkpoint)`` (``--mode=energy``) restores the trained model, measures the
firing rates over the test split and writes ``energy.json`` and ``energy.md`` into the workdir; an optional
``config.energy`` section with ``e_mac_pj`` / ``e_ac_pj`` replaces the 4.6 / 0.9 pJ costs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from etils import epath
from flax import nnx
from jax import Array

from snnjax.errors import ConfigError
from snnjax.train.steps import sown_means

E_MAC_PJ = 4.6  # 32-bit float multiply-accumulate, 45 nm (Horowitz 2014)
E_AC_PJ = 0.9  # 32-bit float accumulate, 45 nm
ANALOG = "analog"


def energy_table(
    synapses: Iterable[tuple[str, int, str]],
    rates: Mapping[str, float],
    num_steps: int,
    *,
    e_mac_pj: float = E_MAC_PJ,
    e_ac_pj: float = E_AC_PJ,
) -> dict[str, Any]:
    """Per-layer operations and the total energy per example.

    Args:
      synapses: ``(name, macs_per_step, source)`` per weight layer (``source``: neuron path or 'analog').
      rates: firing rate of every neuron layer by dotted path (spikes per neuron and step).
      num_steps: ``T``.
    Returns:
      ``{"layers": [...], "macs": analog MACs, "sops": total SOPs, "energy_mj": E, ...}`` per example.
    """
    rows, macs, sops = [], 0.0, 0.0
    for name, layer_macs, source in synapses:
        if source == ANALOG:
            row = dict(name=name, source=source, macs=float(layer_macs), rate=None, sops=0.0)
            macs += layer_macs
        else:
            if source not in rates:
                raise KeyError(f"no firing rate recorded for {source!r} (feeding {name})")
            r = float(rates[source])
            row = dict(
                name=name, source=source, macs=float(layer_macs), rate=r, sops=num_steps * r * layer_macs
            )
            sops += row["sops"]
        row["energy_mj"] = (e_mac_pj * row["macs"] if source == ANALOG else e_ac_pj * row["sops"]) * 1e-9
        rows.append(row)
    energy = (e_mac_pj * macs + e_ac_pj * sops) * 1e-9  # pJ -> mJ
    dense_macs = sum(float(m) * (1 if s == ANALOG else num_steps) for _, m, s in synapses)
    return {
        "layers": rows,
        "num_steps": num_steps,
        "macs": macs,
        "sops": sops,
        "energy_mj": energy,
        "ann_equivalent_mj": e_mac_pj * sum(float(m) for _, m, _ in synapses) * 1e-9,
        "dense_snn_ops": dense_macs,
        "e_mac_pj": e_mac_pj,
        "e_ac_pj": e_ac_pj,
    }


def _rates_of(model: nnx.Module, x: Array) -> dict[str, Array]:
    """Mean firing rate of every neuron layer (dotted path) for one batch."""
    _, sown = nnx.capture(model, nnx.Intermediate)(x)
    layer = lambda path: ".".join(map(str, path[:-1])) if str(path[-1]) == "firing_rate" else None
    return sown_means(sown, layer)


def measure_rates(model: nnx.Module, batches: Iterable[dict]) -> dict[str, float]:
    """Firing rate of every neuron layer, averaged over batches weighted by their valid examples."""
    return _batch_mean(_rates_of, model, batches)


def _batch_mean(
    rates_of: Callable[[nnx.Module, Array], dict[str, Array]], model: nnx.Module, batches: Iterable[dict]
) -> dict[str, float]:
    """``rates_of(model, images)`` averaged over ``batches``, weighted by their valid examples."""
    step = nnx.jit(rates_of)
    sums: dict[str, float] = {}
    count = 0.0
    for batch in batches:
        n = float(np.sum(batch["mask"])) if "mask" in batch else float(batch["image"].shape[0])
        for k, v in jax.device_get(step(model, jnp.asarray(batch["image"]))).items():
            sums[k] = sums.get(k, 0.0) + n * float(v)
        count += n
    if not count:
        raise ValueError("no batches to measure firing rates on")
    return {k: v / count for k, v in sums.items()}


def _recorded_rates(model: nnx.Module, x: Array) -> dict[str, Array]:
    if hasattr(model, "synapse_rates"):  # e.g. the feedback SNNs, whose layers run inside a solver
        return model.synapse_rates(x)
    from snnjax.analysis import monitor

    return monitor.layer_rates(monitor.record(model, x)[1])


def measure_recorded_rates(model: nnx.Module, batches: Iterable[dict]) -> dict[str, float]:
    """Firing rate of every :class:`~snnjax.layers.SpikingNeuron` call (monitor names), or the model's own
    ``synapse_rates(x)``, averaged over batches weighted by their valid examples."""
    return _batch_mean(_recorded_rates, model, batches)


def model_synapses(model: nnx.Module, x: Array, num_steps: int) -> tuple[list, bool]:
    """``(synapses, traced)``: the model's own ``synapses`` list, or the traced one (``traced=True``)."""
    if hasattr(model, "synapses"):
        return list(model.synapses), False
    from snnjax.analysis import synapses

    return synapses.trace_synapses(model, x, num_steps), True


def markdown(table: dict[str, Any]) -> str:
    """The table as Markdown: one row per layer, then the totals."""
    lines = [
        f"T = {table['num_steps']}; E_MAC = {table['e_mac_pj']} pJ, E_AC = {table['e_ac_pj']} pJ; "
        "per example",
        "",
        "| layer | input | rate | MACs/step | SOPs | energy (mJ) |",
        "|---|---|---|---|---|---|",
    ]
    for r in table["layers"]:
        rate = "analog" if r["rate"] is None else f"{r['rate']:.4f}"
        cells = [
            r["name"],
            r["source"],
            rate,
            f"{r['macs']:.4g}",
            f"{r['sops']:.4g}",
            f"{r['energy_mj']:.4g}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        f"analog MACs {table['macs']:.4g}, SOPs {table['sops']:.4g}: **{table['energy_mj']:.4g} mJ** "
        f"(same network as an ANN: {table['ann_equivalent_mj']:.4g} mJ)",
    ]
    return "\n".join(lines) + "\n"


def run_mode(config, workdir: str, checkpoint: str = "latest") -> dict[str, Any]:
    """``--mode=energy``: restore ``workdir``'s checkpoint, measure rates on the test split, write
    ``energy.json`` / ``energy.md``; returns the totals (per example)."""
    from snnjax.train import loop

    run, meta = loop.restore_trained(config, workdir, checkpoint)
    model = run.steps.model()
    e = config.get("energy", {})
    run.test_data.reset()
    first = jnp.asarray(next(iter(run.test_data))["image"])
    steps = run.info.num_frames or int(config.model.num_steps)  # event frames bring their own T
    syn, traced = model_synapses(model, first[:2], steps)
    run.test_data.reset()
    own_rates = traced or hasattr(model, "synapse_rates")
    rates = measure_recorded_rates(model, run.test_data) if own_rates else measure_rates(model, run.test_data)
    if traced and not rates:
        raise ConfigError(
            f"--mode=energy: {config.model.name!r} has no neuron layer that reports its spikes "
            "(snnjax.layers.SpikingNeuron or SpikeProbe) and lists no synapses"
        )
    costs = dict(e_mac_pj=float(e.get("e_mac_pj", E_MAC_PJ)), e_ac_pj=float(e.get("e_ac_pj", E_AC_PJ)))
    table = energy_table(syn, rates, steps, **costs)
    table.update(step=int(meta["step"]), checkpoint=checkpoint, firing_rates=rates)
    workdir = epath.Path(workdir)
    (workdir / "energy.json").write_text(json.dumps(table, indent=2, sort_keys=True))
    (workdir / "energy.md").write_text(markdown(table))
    keys = ("energy_mj", "macs", "sops", "ann_equivalent_mj", "num_steps", "step", "checkpoint")
    return {k: table[k] for k in keys} | {"table": str(workdir / "energy.md")}
