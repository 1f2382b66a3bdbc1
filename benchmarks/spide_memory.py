"""Peak memory of an implicit-differentiation training step vs the number of time steps T (SPIDE/IDE).

The XLA compiler's ``memory_analysis().temp_size_in_bytes`` (scratch memory of the compiled step, arguments
and outputs excluded) of one jitted SGD training step (forward spiking phase, implicit backward, update) of
a feedback SNN, at ``T = 30`` and ``T = 300`` (and ``T_b`` scaled by the same factor for the spiking
solver). Only rates and clamp masks are stored, so the ratio should be ~1 (acceptance: <= 1.2).

    python benchmarks/spide_memory.py [--config spide_mnist_convnetf] [--batch 32]
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import optax
from common import load_config
from flax import nnx

from snnjax.data import input_info
from snnjax.models import create


def step_temp_bytes(config_name: str, num_steps: int, backward_steps: int, batch: int, solver: str) -> int:
    """Scratch bytes of one compiled training step (CPU backend)."""
    cfg = load_config(config_name)
    cfg.model.update(num_steps=num_steps, backward_steps=backward_steps, solver=solver)
    classes, shape = input_info(cfg.data)
    model = create(cfg.model, classes, shape, rngs=nnx.Rngs(0))
    opt = nnx.Optimizer(model, optax.sgd(1e-3, momentum=0.9), wrt=nnx.Param)
    x = jnp.zeros((batch, *shape), jnp.float32)
    y = jnp.zeros((batch,), jnp.int32)

    @nnx.jit
    def train_step(model, opt, x, y):
        def loss_fn(m):
            logits = nnx.capture(m)(x)
            return optax.softmax_cross_entropy_with_integer_labels(logits.mean(0), y).mean()

        loss, grads = nnx.value_and_grad(loss_fn)(model)
        opt.update(model, grads)
        return loss

    compiled = train_step.lower(model, opt, x, y).compile()
    return int(compiled.memory_analysis().temp_size_in_bytes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="spide_mnist_convnetf")
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    print(f"backend {jax.default_backend()}, config {args.config}, batch {args.batch}")
    for solver in ("spide", "broyden"):
        small = step_temp_bytes(args.config, 30, 100, args.batch, solver)
        large = step_temp_bytes(args.config, 300, 1000, args.batch, solver)
        print(
            f"{solver:8s} T=30 (T_b=100): {small / 2**20:8.2f} MiB   "
            f"T=300 (T_b=1000): {large / 2**20:8.2f} MiB   ratio {large / small:.3f}"
        )


if __name__ == "__main__":
    main()
