"""Cosine similarity of SPIDE's spiking-solver gradient to the IDE (Broyden) gradient on FC-F400.

One batch of 128 Gaussian 28x28 images with random labels, the freshly initialised Fashion-MNIST FC-F400
model (T = 5, IF, evaluation mode: no dropout; feedback-norm restriction off so that every run sees the same
weights), gradients of the mean cross-entropy w.r.t. the FSNN weights (W_x and F, divided by the loss scale
``s``), for several ``s`` and ``T_b``. Also prints the backward statistics (relative residual, backward
firing rate).

    python benchmarks/spide_gradient_cosine.py
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import optax
from common import load_config
from flax import nnx

from snnjax.models import create


def _config():
    return load_config("ide_fmnist_fc400")


def fsnn_gradient(x, y, **model) -> tuple[jnp.ndarray, dict]:
    """Flattened ``(dL/dW_x, dL/dF) / s`` and the backward statistics."""
    cfg = _config()
    cfg.model.update(feedback_norm=0.0, **model)
    net = create(cfg.model, 10, (28, 28, 1), rngs=nnx.Rngs(0))
    net.eval()
    loss = lambda m: optax.softmax_cross_entropy_with_integer_labels(nnx.capture(m)(x)[0], y).mean()
    g = nnx.grad(loss)(net)
    flat = jnp.concatenate([g["inp"]["kernel"][...].ravel(), g["feedback"]["kernel"][...].ravel()])
    return flat / cfg.model.scale_factor, {k: float(v) for k, v in net.gradient_metrics(g).items()}


def main() -> None:
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(128, 28, 28, 1)).astype(np.float32))
    y = jnp.asarray(rng.integers(0, 10, 128))
    ref, stats = fsnn_gradient(x, y, solver="broyden")
    print(f"broyden: relative residual {stats['solver_residual']:.2e}")
    for s in (100.0, 400.0, 1000.0):
        for tb in (100, 250):
            g, stats = fsnn_gradient(x, y, solver="spide", scale_factor=s, backward_steps=tb)
            cos = float(g @ ref / (jnp.linalg.norm(g) * jnp.linalg.norm(ref)))
            print(
                f"spide s={s:6.0f} T_b={tb:3d}: cosine {cos:.5f}, residual {stats['solver_residual']:.4f}, "
                f"backward firing rate {stats['backward_firing_rate']:.4f}"
            )


if __name__ == "__main__":
    main()
