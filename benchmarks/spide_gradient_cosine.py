"""Cosine similarity of SPIDE's spiking-solver gradient to the IDE (Broyden) gradient.

One batch of Gaussian images with random labels, a freshly initialised feedback SNN (evaluation mode: no
dropout; feedback-norm restriction off so that every run sees the same weights), gradients of the mean
cross-entropy w.r.t. the FSNN's kernels (every layer but the readout, whose gradient does not pass through
the solver), divided by the loss scale ``s``, for several ``s`` and ``T_b``. Also prints the backward
statistics (relative residual, backward firing rate) and, with ``--per-layer``, the cosine of each layer.

    python benchmarks/spide_gradient_cosine.py                      # Fashion-MNIST FC-F400, T = 5
    python benchmarks/spide_gradient_cosine.py --config spide_cifar --batch 8 \
        --scale-factors 400 --backward-steps 250 1000 4000 --per-layer
"""

from __future__ import annotations

import argparse

import jax.numpy as jnp
import numpy as np
import optax
from common import load_config
from flax import nnx

from snnjax.data import input_info
from snnjax.layers import GRADIENT_TARGETS
from snnjax.models import create


def fsnn_gradient(config_name: str, x, y, **model) -> tuple[dict[str, jnp.ndarray], dict[str, float]]:
    """``{layer: flattened dL/dkernel / s}`` of every FSNN layer and the backward statistics."""
    cfg = load_config(config_name)
    cfg.model.update(feedback_norm=0.0, **model)
    classes, shape = input_info(cfg.data)
    net = create(cfg.model, classes, shape, rngs=nnx.Rngs(0))
    net.eval()
    loss = lambda m: optax.softmax_cross_entropy_with_integer_labels(nnx.capture(m)(x)[0], y).mean()
    grads = nnx.grad(loss, argnums=nnx.DiffState(0, GRADIENT_TARGETS))(net)  # + solver statistics
    layers = {}
    for path, value in nnx.to_flat_state(grads):
        if str(path[-1]) == "kernel" and str(path[0]) != "readout":
            layers[".".join(map(str, path[:-1]))] = value[...].ravel() / cfg.model.scale_factor
    return layers, {k: float(v) for k, v in net.gradient_metrics(grads).items()}


def cosine(a: jnp.ndarray, b: jnp.ndarray) -> float:
    return float(a @ b / (jnp.linalg.norm(a) * jnp.linalg.norm(b)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="ide_fmnist_fc400")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--scale-factors", type=float, nargs="+", default=[100.0, 400.0, 1000.0])
    parser.add_argument("--backward-steps", type=int, nargs="+", default=[100, 250])
    parser.add_argument("--per-layer", action="store_true")
    args = parser.parse_args()
    classes, shape = input_info(load_config(args.config).data)
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(args.batch, *shape)).astype(np.float32))
    y = jnp.asarray(rng.integers(0, classes, args.batch))
    ref, stats = fsnn_gradient(args.config, x, y, solver="broyden")
    print(f"{args.config}, batch {args.batch}; broyden: relative residual {stats['solver_residual']:.2e}")
    flat = lambda g: jnp.concatenate(list(g.values()))
    for s in args.scale_factors:
        for tb in args.backward_steps:
            g, stats = fsnn_gradient(args.config, x, y, solver="spide", scale_factor=s, backward_steps=tb)
            line = (
                f"spide s={s:6.0f} T_b={tb:4d}: cosine {cosine(flat(g), flat(ref)):.5f}, "
                f"residual {stats['solver_residual']:.4f}, "
                f"backward firing rate {stats['backward_firing_rate']:.4f}"
            )
            if args.per_layer:
                line += "; " + ", ".join(f"{k} {cosine(g[k], ref[k]):.3f}" for k in ref)
            print(line, flush=True)


if __name__ == "__main__":
    main()
