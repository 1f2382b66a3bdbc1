"""Robustness of a trained SNN to test-time perturbations (NSNN; docs/nsnn.md).

Perturbations, each swept over the strengths listed in ``config.robustness``:
  * ``gaussian``: additive white noise ``x + sigma * n``, ``n ~ N(0, 1)`` per element;
  * ``multiplicative``: ``x * (1 + sigma * n)``;
  * ``salt_pepper``: a fraction ``alpha`` of pixel positions (all channels together) is set to the
    per-channel minimum (pepper) or maximum (salt) of the clean batch, half each on average;
  * ``fgsm``: ``x + eps * sign(grad_x L)``; ``ifgsm``: ``steps`` FGSM steps of size ``eps / steps``, each
    projected back into the L-infinity ball of radius ``eps`` around ``x`` (basic iterative method);
    ``L`` is the training loss of ``config.loss``, its gradient averaged over ``attack_samples``
    stochastic passes; inputs are not clipped to the data range;
  * ``spike_flip``: in every neuron layer and every sample, a fraction ``p`` of the emitted spikes
    (over time and neurons) is deleted and the same fraction ``p`` of the silent positions fires (value 1)
    instead (exact counts, rounded), through the :data:`snnjax.layers.SPIKE_HOOK` of every
    :class:`~snnjax.layers.SpikingNeuron` layer (any model built from them; unset in training).
Strengths are in the units of the model's input (raw [0, 1] pixels when ``data.normalize=False``).

The model stays stochastic at test time (noisy neurons draw fresh noise in every pass): the prediction
is the arg-max of the time-summed outputs averaged over ``repeats`` passes on the same perturbed input
(``--n_ensembles`` of the seed); the mean single-pass accuracy is reported too.

``run_mode(config, workdir, checkpoint)`` (``--mode=robustness``) first checks that every requested
sweep can run on the model (:func:`unsupported`, an abstract trace: no computation); the others are
skipped with a note on stderr and listed under ``skipped`` in the reports. It rewrites
``robustness.json``, ``robustness.csv``, ``robustness.md`` and ``robustness.png`` (one axis per attack
family, :mod:`snnjax.analysis.robustness_plot`) in the workdir after every finished sweep.
"""

from __future__ import annotations

import csv
import io
import json
import sys
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from etils import epath
from flax import nnx
from jax import Array

from snnjax import layers
from snnjax.errors import ConfigError
from snnjax.registry import parse_spec

PERTURBATIONS = ("gaussian", "multiplicative", "salt_pepper", "fgsm", "ifgsm", "spike_flip")


def robustness_config(**overrides) -> ml_collections.ConfigDict:
    """The ``robustness`` config section: perturbations, strengths and ensemble size."""
    cfg = ml_collections.ConfigDict(
        dict(
            perturbations=PERTURBATIONS,
            gaussian=(0.0, 0.1, 0.2, 0.4),  # std of the additive noise
            multiplicative=(0.0, 0.2, 0.5, 1.0),  # std of the multiplicative noise
            salt_pepper=(0.0, 0.03, 0.1, 0.2),  # fraction of pixels
            fgsm=(0.0, 0.01, 0.03, 0.1),  # L-inf budget
            ifgsm=(0.0, 0.01, 0.03, 0.1),
            spike_flip=(0.0, 0.05, 0.1, 0.2),  # fraction of spikes deleted / silent positions filled
            ifgsm_steps=5,
            attack_samples=1,  # stochastic passes averaged in the attack gradient
            repeats=4,  # ensemble size (stochastic passes averaged per prediction)
            num_examples=0,  # test examples used (0 = the whole test split)
        )
    )
    cfg.update(overrides)
    return cfg


# --------------------------------------------------------------------------- input perturbations


def additive_gaussian(x: Array, key: Array, sigma: float) -> Array:
    """``x + sigma * N(0, 1)`` elementwise."""
    return x + sigma * jax.random.normal(key, x.shape, x.dtype)


def multiplicative_gaussian(x: Array, key: Array, sigma: float) -> Array:
    """``x * (1 + sigma * N(0, 1))`` elementwise."""
    return x * (1.0 + sigma * jax.random.normal(key, x.shape, x.dtype))


def salt_and_pepper(x: Array, key: Array, fraction: float) -> Array:
    """Sets a ``fraction`` of the pixel positions of ``x [B, H, W, C]`` to the per-channel batch minimum
    or maximum (each with probability 1/2); all channels of a pixel change together."""
    k_where, k_which = jax.random.split(key)
    pix = (*x.shape[:-1], 1)
    hit = jax.random.uniform(k_where, pix) < fraction
    salt = jax.random.uniform(k_which, pix) < 0.5
    axes = tuple(range(x.ndim - 1))
    low, high = x.min(axis=axes), x.max(axis=axes)
    return jnp.where(hit, jnp.where(salt, high, low), x).astype(x.dtype)


def fgsm(grad_fn: Callable[[Array], Array], x: Array, eps: float) -> Array:
    """Fast gradient sign method: ``x + eps * sign(grad_fn(x))``."""
    return x + eps * jnp.sign(grad_fn(x))


def iterative_fgsm(grad_fn: Callable[[Array], Array], x: Array, eps: float, steps: int) -> Array:
    """``steps`` FGSM steps of size ``eps / steps``, projected into ``|x' - x|_inf <= eps``."""
    adv = x
    for _ in range(steps):
        adv = adv + (eps / steps) * jnp.sign(grad_fn(adv))
        adv = jnp.clip(adv, x - eps, x + eps)
    return adv


# --------------------------------------------------------------------------- spike perturbation


def _rank(scores: Array) -> Array:
    """Rank of each entry along the last axis (0 = smallest)."""
    return jnp.argsort(jnp.argsort(scores, axis=-1), axis=-1)


def flip_spikes(s: Array, key: Array, fraction: float) -> Array:
    """Per sample of ``s [T, B, ...]`` (over time and neurons): deletes ``round(fraction * n_on)`` of the
    emitted (non-zero) spikes and fires ``round(fraction * n_off)`` of the silent positions, chosen
    uniformly at random."""
    t, b = s.shape[:2]
    flat = jnp.moveaxis(s, 1, 0).reshape(b, -1)
    on = flat != 0
    n = flat.shape[1]
    n_on = on.sum(axis=1, keepdims=True)
    k_del = jnp.round(fraction * n_on)
    k_ins = jnp.round(fraction * (n - n_on))
    scores = jax.random.uniform(key, flat.shape)
    delete = on & (_rank(jnp.where(on, scores, 2.0)) < k_del)
    insert = ~on & (_rank(jnp.where(on, 2.0, scores)) < k_ins)
    out = jnp.where(delete, 0.0, jnp.where(insert, 1.0, flat)).astype(s.dtype)
    return jnp.moveaxis(out.reshape(b, t, *s.shape[2:]), 0, 1)


class SpikeFlip:
    """A spike-perturbation hook ``(spikes, key) -> spikes`` flipping a fixed fraction (hashable)."""

    def __init__(self, fraction: float):
        self.fraction = float(fraction)

    def __call__(self, s: Array, key: Array) -> Array:
        return flip_spikes(s, key, self.fraction)

    def __eq__(self, other):
        return isinstance(other, SpikeFlip) and other.fraction == self.fraction

    def __hash__(self):
        return hash(("SpikeFlip", self.fraction))


class FlipHook:
    """A :data:`snnjax.layers.SPIKE_HOOK` flipping a fraction of every layer's spikes; the ``k``-th layer
    call of a trace draws from ``fold_in(key, k)``. ``calls`` counts the layer calls seen."""

    def __init__(self, fraction: Array | float, key: Array):
        self.fraction, self.key, self.calls = fraction, key, 0

    def __call__(self, layer: layers.SpikingNeuron, s: Array) -> Array:
        del layer
        k = jax.random.fold_in(self.key, self.calls)
        self.calls += 1
        return flip_spikes(s, k, self.fraction)


def with_spike_hook(hook: layers.SpikeHook | None, fn: Callable[[], Any]) -> Any:
    """``fn()`` with :data:`snnjax.layers.SPIKE_HOOK` set to ``hook`` (nothing set for ``None``)."""
    if hook is None:
        return fn()
    token = layers.SPIKE_HOOK.set(hook)
    try:
        return fn()
    finally:
        layers.SPIKE_HOOK.reset(token)


def set_spike_perturbation(model: nnx.Module, hook: Callable[[Array, Array], Array] | None) -> int:
    """Installs ``hook`` on every :class:`~snnjax.models.nsnn.PerturbableNeuron` of ``model`` (``None``
    removes it); returns the number of layers. (The sweep uses :class:`FlipHook`, for any model.)"""
    from snnjax.models.nsnn import perturbable_layers

    found = perturbable_layers(model)
    for layer in found:
        layer.perturb = hook
    return len(found)


# --------------------------------------------------------------------------- stochastic evaluation


class Evaluator:
    """Jitted stochastic forward pass and attack gradient of a model (split once into graph + state).

    ``forward(x, key) -> [T, B, C]`` reseeds every random stream of the model from ``key``; with
    ``spike_flip=True`` it takes the flipped fraction too, ``forward(x, key, fraction)`` (one compiled
    program for every fraction).
    """

    def __init__(self, model: nnx.Module, loss_fn: Callable[[Array, Array], Array], spike_flip: bool = False):
        from snnjax.train.steps import reseed

        graphdef, state = nnx.split(model)

        def forward(state, x, key, fraction=None):
            m = nnx.merge(graphdef, state)
            k_model, k_flip = jax.random.split(key)
            reseed(m, k_model)
            hook = None if fraction is None else FlipHook(fraction, k_flip)
            return with_spike_hook(hook, lambda: nnx.capture(m)(x))  # sown statistics are dropped

        def loss_grad(state, x, y, keys):
            def loss(x, m):
                terms = []
                for i in range(keys.shape[0]):
                    reseed(m, jax.random.split(keys[i])[0])
                    terms.append(loss_fn(nnx.capture(m)(x), y))
                return jnp.mean(jnp.stack(terms))

            return nnx.grad(loss, argnums=0)(x, nnx.merge(graphdef, state))

        self.spike_flip = spike_flip
        self._state = state
        self._forward = jax.jit(forward)
        self._loss_grad = jax.jit(loss_grad)
        self._loss = jax.jit(lambda state, x, y, key: loss_fn(forward(state, x, key), y))

    def forward(self, x: Array, key: Array, fraction: float | None = None) -> Array:
        if self.spike_flip:
            return self._forward(self._state, x, key, jnp.float32(fraction or 0.0))
        return self._forward(self._state, x, key)

    def loss(self, x: Array, y: Array, key: Array) -> Array:
        return self._loss(self._state, x, y, key)

    def grad(self, x: Array, y: Array, key: Array, samples: int = 1) -> Array:
        """Gradient of the loss w.r.t. ``x`` averaged over ``samples`` stochastic passes."""
        return self._loss_grad(self._state, x, y, jax.random.split(key, samples))

    def ensemble(
        self, x: Array, key: Array, repeats: int, fraction: float | None = None
    ) -> tuple[Array, Array]:
        """``(mean outputs [T, B, C], per-pass outputs [repeats, T, B, C])`` over ``repeats`` passes."""
        outs = [self.forward(x, jax.random.fold_in(key, r), fraction) for r in range(repeats)]
        outs = jnp.stack(outs)
        return outs.mean(axis=0), outs


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"


def unsupported(
    model: nnx.Module, loss_fn: Callable[[Array, Array], Array], x: Array, y: Array, kinds: list[str]
) -> dict[str, str]:
    """``{perturbation: reason}`` for the perturbations of ``kinds`` the model cannot be swept with,
    found by abstract traces (``jax.eval_shape``, nothing is computed) on a batch ``x [B, ...]``, ``y [B]``:
    ``spike_flip`` needs spikes emitted through :class:`~snnjax.layers.SpikingNeuron` layers, ``fgsm`` /
    ``ifgsm`` an input gradient of the loss."""
    ev = Evaluator(model, loss_fn, spike_flip=True)
    key = jax.random.key(0)
    reasons = {}
    if "spike_flip" in kinds:
        graphdef, state = nnx.split(model)
        hooks: list[FlipHook] = []

        def trace(state, x):
            hooks.append(FlipHook(0.0, key))
            return with_spike_hook(hooks[-1], lambda: nnx.capture(nnx.merge(graphdef, state))(x))

        jax.eval_shape(trace, state, x)
        if hooks[0].calls == 0:
            reasons["spike_flip"] = (
                f"{type(model).__name__} emits no spikes through snnjax.layers.SpikingNeuron layers"
            )
    attacks = [k for k in ("fgsm", "ifgsm") if k in kinds]
    if attacks:
        try:
            jax.eval_shape(lambda s, x, y: ev._loss_grad(s, x, y, jax.random.split(key, 1)), ev._state, x, y)
        except Exception as error:  # any tracing failure means no input gradient
            reasons.update({k: f"no input gradient of the loss ({_first_line(error)})" for k in attacks})
    return reasons


def predictions(outputs: Array) -> Array:
    """Class of ``argmax_c sum_t outputs[..., t, b, c]`` (``[..., B]``)."""
    return outputs.sum(axis=-3).argmax(-1)


def perturb_inputs(kind: str, ev: Evaluator, x: Array, y: Array, key: Array, strength: float, cfg) -> Array:
    """The perturbed batch for an input-level perturbation ``kind``."""
    if strength == 0:
        return x
    if kind == "gaussian":
        return additive_gaussian(x, key, strength)
    if kind == "multiplicative":
        return multiplicative_gaussian(x, key, strength)
    if kind == "salt_pepper":
        return salt_and_pepper(x, key, strength)
    keys = iter(jax.random.split(key, max(int(cfg.ifgsm_steps), 1)))

    def grad_fn(z):
        return ev.grad(z, y, next(keys), int(cfg.attack_samples))

    if kind == "fgsm":
        return fgsm(grad_fn, x, strength)
    if kind == "ifgsm":
        return iterative_fgsm(grad_fn, x, strength, int(cfg.ifgsm_steps))
    raise ConfigError(f"unknown perturbation {kind!r}; choose from {PERTURBATIONS}")


def sweep_one(
    kind: str,
    base: Evaluator,
    flip: Evaluator | None,
    batches: list[dict],
    cfg: ml_collections.ConfigDict,
    key: Array,
) -> list[dict[str, Any]]:
    """Accuracy rows of one perturbation ``kind`` over its strengths ``cfg[kind]`` (``flip``: the
    spike-flip evaluator, for ``kind='spike_flip'``)."""
    rows = []
    for strength in cfg[kind]:
        t0 = time.time()
        correct = single = count = 0.0
        for i, batch in enumerate(batches):
            k_pert, k_model = jax.random.split(jax.random.fold_in(key, i))
            x, y, mask = batch["image"], batch["label"], batch["mask"]
            if kind == "spike_flip":
                mean, outs = flip.ensemble(x, k_model, int(cfg.repeats), float(strength))
            else:
                x = perturb_inputs(kind, base, x, y, k_pert, float(strength), cfg)
                mean, outs = base.ensemble(x, k_model, int(cfg.repeats))
            correct += float(jnp.sum((predictions(mean) == y) * mask))
            single += float(jnp.sum(jnp.mean(predictions(outs) == y[None], axis=0) * mask))
            count += float(jnp.sum(mask))
        rows.append(
            {
                "perturbation": kind,
                "strength": float(strength),
                "accuracy": correct / count,
                "single_pass_accuracy": single / count,
                "examples": int(count),
                "seconds": round(time.time() - t0, 2),
            }
        )
        print(
            f"{kind:>15s} {float(strength):6.3f}: ensemble {correct / count:.4f}, "
            f"single pass {single / count:.4f}",
            flush=True,
        )
    return rows


def sweep(
    model: nnx.Module,
    loss_fn: Callable[[Array, Array], Array],
    batches: list[dict],
    cfg: ml_collections.ConfigDict,
    key: Array,
    *,
    skip: dict[str, str] | None = None,
    on_sweep: Callable[[list[dict[str, Any]]], None] | None = None,
) -> list[dict[str, Any]]:
    """Accuracy rows ``{perturbation, strength, accuracy, single_pass_accuracy, ...}`` for every
    perturbation and strength of ``cfg`` on ``batches`` (dicts of ``image``, ``label``, ``mask``), leaving
    out the perturbations of ``skip``; ``on_sweep(rows so far)`` is called after each perturbation."""
    kinds = list(cfg.perturbations)
    bad = [k for k in kinds if k not in PERTURBATIONS]
    if bad:
        raise ConfigError(f"unknown perturbation {bad[0]!r} in config.robustness.perturbations")
    rows: list[dict[str, Any]] = []
    base = Evaluator(model, loss_fn)
    flip = Evaluator(model, loss_fn, spike_flip=True) if "spike_flip" in kinds else None
    for p_index, kind in enumerate(kinds):
        if kind in (skip or {}):
            continue
        rows += sweep_one(kind, base, flip, batches, cfg, jax.random.fold_in(key, p_index))
        if on_sweep is not None:
            on_sweep(rows)
    return rows


# --------------------------------------------------------------------------- CLI mode and reports


def write_reports(
    rows: list[dict[str, Any]], workdir: str, meta: dict[str, Any], skipped: dict[str, str] | None = None
) -> dict[str, str]:
    """Writes ``robustness.{json,csv,md,png}`` into ``workdir`` (the rows so far; ``skipped``: perturbation
    -> reason); returns their paths."""
    from snnjax.analysis import robustness_plot

    skipped = dict(skipped or {})
    paths = {ext: epath.Path(workdir) / f"robustness.{ext}" for ext in ("json", "csv", "md", "png")}
    paths["json"].write_text(json.dumps({**meta, "skipped": skipped, "rows": rows}, indent=2))
    table = io.StringIO()
    fields = list(rows[0]) if rows else ["perturbation", "strength", "accuracy", "single_pass_accuracy"]
    writer = csv.DictWriter(table, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)
    paths["csv"].write_text(table.getvalue())
    examples = rows[0]["examples"] if rows else 0
    lines = [
        f"Robustness of `{meta.get('model')}` (neuron {meta.get('neuron')}), "
        f"{meta.get('repeats')}-pass ensembles on {examples} test examples.",
        "",
        "| perturbation | strength | accuracy (ensemble) | accuracy (single pass) |",
        "|---|---:|---:|---:|",
    ]
    lines += [
        f"| {r['perturbation']} | {r['strength']:g} | {r['accuracy']:.4f} | {r['single_pass_accuracy']:.4f} |"
        for r in rows
    ]
    if skipped:
        lines += ["", "Skipped:", ""] + [f"- `{k}`: {v}" for k, v in skipped.items()]
    paths["md"].write_text("\n".join(lines) + "\n")
    title = f"{meta.get('model')} / {meta.get('neuron')}"
    fig = robustness_plot.plot_curves({title: rows})
    image = io.BytesIO()
    fig.savefig(image, format="png", dpi=120)
    robustness_plot.close(fig)
    paths["png"].write_bytes(image.getvalue())
    return {ext: str(path) for ext, path in paths.items()}


def _neuron_name(config: ml_collections.ConfigDict) -> str:
    if "leak" in config.model:  # feedback SNNs: IF / LIF layers inside the implicit solver
        return "IF" if float(config.model.get("leak", 1.0)) == 1.0 else "LIF"
    n = config.model.neuron
    if n.type != "noisy_lif":
        return n.type
    family, params = parse_spec(n.noisy_lif.noise)
    return "/".join([n.type, family, *(f"{v:g}" for v in list(params.values())[:1])])


def run_mode(config: ml_collections.ConfigDict, workdir: str, checkpoint: str = "latest") -> dict[str, Any]:
    """``--mode=robustness``: restores ``checkpoint`` of ``workdir``, skips the perturbations the model
    cannot take (:func:`unsupported`), sweeps the others, rewriting the reports after each; returns a
    summary (accuracy per perturbation and strength, the skipped ones with reasons, file paths)."""
    from snnjax.losses import make_loss
    from snnjax.train import loop

    cfg = config.robustness if "robustness" in config else robustness_config()
    run, meta = loop.restore_trained(config, workdir, checkpoint)
    model = run.steps.model()
    batches, count = [], 0
    run.test_data.reset()
    for batch in run.test_data:
        batches.append({k: jnp.asarray(v) for k, v in batch.items()})
        count += int(np.sum(batch["mask"]))
        if cfg.num_examples and count >= cfg.num_examples:
            break
    if not batches:
        raise ConfigError("--mode=robustness: the test split is empty")
    loss_fn = make_loss(config.loss)
    kinds = list(cfg.perturbations)
    bad = [k for k in kinds if k not in PERTURBATIONS]
    if bad:
        raise ConfigError(f"unknown perturbation {bad[0]!r} in config.robustness.perturbations")
    first = batches[0]
    skipped = unsupported(model, loss_fn, first["image"], first["label"], kinds)
    skipped.update({k: "no strengths listed" for k in kinds if k not in skipped and not len(cfg[k])})
    for kind, reason in skipped.items():
        print(f"robustness: skipping {kind}: {reason}", file=sys.stderr, flush=True)
    key = jax.random.fold_in(jax.random.key(config.seed), loop.EVAL_KEY_OFFSET + 1)
    info = {
        "model": config.model.name,
        "neuron": _neuron_name(config),
        "step": meta["step"],
        "checkpoint": checkpoint,
        "repeats": int(cfg.repeats),
    }
    write = lambda rows, done=False: write_reports(rows, workdir, {**info, "complete": done}, skipped)
    paths = write([])
    rows = sweep(model, loss_fn, batches, cfg, key, skip=skipped, on_sweep=write)
    paths = write(rows, True)
    table: dict[str, dict[str, float]] = {}
    for r in rows:
        table.setdefault(r["perturbation"], {})[f"{r['strength']:g}"] = round(r["accuracy"], 4)
    return {**info, "accuracy": table, "skipped": skipped, "files": paths}
