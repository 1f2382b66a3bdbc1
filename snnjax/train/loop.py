"""Training and evaluation of a config in a workdir: create state -> train -> evaluate -> record.

``train_and_evaluate`` resumes from the workdir's latest checkpoint (parameters, optimiser state and the
data iterator's position), so re-running the same command after a crash or kill continues exactly
where the run stopped.
"""

from __future__ import annotations

import math
import os
import time
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
from flax import nnx
from tqdm import tqdm

from snnjax import data, models
from snnjax.errors import ConfigError, TrainingError
from snnjax.train import records
from snnjax.train.checkpoint import Checkpointer
from snnjax.train.optim import make_optimizer
from snnjax.train.steps import Steps, make_loss

EVAL_KEY_OFFSET = 1 << 30  # eval keys are folded from seed + this, disjoint from training steps


def make_mesh() -> jax.sharding.Mesh:
    """A 1-D mesh named ``data`` over every device of every host.

    Auto axis type: XLA propagates the batch sharding through reshapes such as folding time into the
    batch (``[T, B@data] -> [T*B]``), which explicit sharding would reject.
    """
    return jax.make_mesh((jax.device_count(),), ("data",), axis_types=(jax.sharding.AxisType.Auto,))


def check_batch_size(batch_size: int, what: str = "config.train.batch_size"):
    n = jax.device_count()
    if batch_size % n:
        raise ConfigError(
            f"{what}={batch_size} is not divisible by the {n} devices: choose a multiple of {n}"
        )


def make_batch_transform(config: ml_collections.ConfigDict, run: Run):
    """The on-device mix regulariser of ``config.mix`` (Mixup / CutMix / Spiking-Mix), or None."""
    if config.mix.name == "none":
        return None
    from snnjax import augment

    return augment.make_mix(config.mix, run.info.num_classes, run.steps_per_epoch)


class Run:
    """Everything a run needs, built from a config: data pipelines, model, optimizer, steps."""

    def __init__(self, config: ml_collections.ConfigDict, *, need_train_data: bool = True):
        self.config = config
        check_batch_size(config.train.batch_size)
        check_batch_size(config.train.eval_batch_size, "config.train.eval_batch_size")
        self.test_data = data.make_pipeline(
            config.data,
            split="test",
            global_batch_size=config.train.eval_batch_size,
            seed=config.seed,
            train=False,
            model_num_steps=config.model.num_steps,
        )
        self.info = self.test_data.info
        self.train_data = None
        steps_per_epoch = 1
        if need_train_data:
            self.train_data = data.make_pipeline(
                config.data,
                split="train",
                global_batch_size=config.train.batch_size,
                seed=config.seed,
                train=True,
                model_num_steps=config.model.num_steps,
            )
            steps_per_epoch = self.train_data.steps_per_epoch
        self.steps_per_epoch = steps_per_epoch
        self.total_steps = (
            config.train.num_steps
            if config.train.num_steps > 0
            else config.train.num_epochs * steps_per_epoch
        )
        rngs = nnx.Rngs(
            params=config.seed, noise=config.seed + 1, dropout=config.seed + 2, encoding=config.seed + 3
        )
        self.model = models.create(config.model, self.info.num_classes, self.info.image_shape, rngs=rngs)
        tx, self.schedule = make_optimizer(config.optim, self.total_steps, steps_per_epoch)
        optimizer = nnx.Optimizer(self.model, tx, wrt=nnx.Param)
        self.mesh = make_mesh()
        self.steps = Steps(
            self.model, optimizer, make_loss(config.loss), self.mesh, make_batch_transform(config, self)
        )
        self.base_key = jax.random.key(config.seed)

    def step_key(self, step: int) -> jax.Array:
        return jax.random.fold_in(self.base_key, step)

    def evaluate(self, desc: str = "eval") -> dict[str, float]:
        """Accuracy, loss and firing rate of the current state over the whole test split."""
        totals = None
        self.test_data.reset()
        eval_key = jax.random.fold_in(self.base_key, EVAL_KEY_OFFSET)
        for i, batch in enumerate(tqdm(self.test_data, desc=desc, leave=False, disable=None)):
            out = self.steps.eval_step(
                self.steps.state, self.steps.shard_batch(batch), jax.random.fold_in(eval_key, i)
            )
            totals = out if totals is None else jax.tree.map(jnp.add, totals, out)
        totals = jax.device_get(totals)
        count = float(totals["count"])
        return {
            "test_accuracy": float(totals["correct"]) / count,
            "test_loss": float(totals["loss"]) / count,
            "test_firing_rate": float(totals["firing_rate"]) / count,
            "test_examples": int(count),
        }


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
    """Trains ``config`` in ``workdir`` (resuming if it holds a checkpoint) and returns the results."""
    os.makedirs(workdir, exist_ok=True)
    run = Run(config)
    ckpt = Checkpointer(workdir, keep=config.train.keep_checkpoints)
    start, wall_before = 0, 0.0
    data_state = None
    if ckpt.latest_step() is not None:
        run.steps.state, data_state, meta = ckpt.restore(run.steps.state)
        run.steps.state = jax.device_put(run.steps.state, run.steps.replicated)
        start, wall_before = int(meta["step"]), float(meta["wall_time_s"])
        print(f"resuming from step {start} in {workdir}")
    if jax.process_index() == 0:
        with open(os.path.join(workdir, "config.json"), "w") as f:
            f.write(config.to_json_best_effort(indent=2, sort_keys=True))
    if data_state is not None:
        run.train_data.set_state(data_state)
    log = records.MetricsLog(workdir, resume_step=start)
    eval_every = max(int(config.train.eval_every_epochs * run.steps_per_epoch), 1)
    ckpt_every = config.train.checkpoint_every_steps or eval_every
    t0 = time.time()
    last_good = ckpt.latest_step()
    window: dict[str, Any] = {}
    window_len = 0
    train_iter = iter(run.train_data)
    bar = tqdm(total=run.total_steps, initial=start, desc="train", disable=None, dynamic_ncols=True)

    def flush(step: int):
        """Fetches the accumulated training metrics; stops on a non-finite loss."""
        nonlocal window, window_len
        if not window_len:
            return
        means = {k: float(v) / window_len for k, v in jax.device_get(window).items()}
        window, window_len = {}, 0
        if not math.isfinite(means["loss"]):
            ckpt.wait()
            where = f"step {last_good} in {ckpt.latest.directory}" if last_good else "none was saved"
            raise TrainingError(
                f"training loss became {means['loss']} before step {step}: stopped; last good checkpoint: "
                f"{where}. Lower config.optim.learning_rate or enable config.optim.grad_clip"
            )
        lr = float(run.schedule(step))
        loss, accuracy = means.pop("loss"), means.pop("accuracy")
        log.write(
            {"step": step, "train_loss": loss, "train_accuracy": accuracy, **means, "learning_rate": lr}
        )
        bar.set_postfix(loss=f"{loss:.4f}", acc=f"{accuracy:.3f}")

    evaluation: dict[str, float] = {}
    for step in range(start, run.total_steps):
        batch = run.steps.shard_batch(next(train_iter))
        run.steps.state, metrics = run.steps.train_step(run.steps.state, batch, run.step_key(step))
        window = metrics if not window_len else jax.tree.map(jnp.add, window, metrics)
        window_len += 1
        done = step + 1
        bar.update(1)
        if done % config.train.log_every == 0:
            flush(done)
        is_eval = done % eval_every == 0 or done == run.total_steps
        if is_eval or done % ckpt_every == 0:
            flush(done)
            wall = wall_before + time.time() - t0
            evaluation = run.evaluate() if is_eval else {}
            if evaluation:
                log.write({"step": done, "epoch": done / run.steps_per_epoch, **evaluation})
                tqdm.write(
                    f"step {done}/{run.total_steps}: test accuracy {evaluation['test_accuracy']:.4f}, "
                    f"loss {evaluation['test_loss']:.4f} ({wall:.0f} s)"
                )
            ckpt.save(
                done,
                run.steps.state,
                run.train_data.get_state(),
                {"step": done, "wall_time_s": wall},
                best_metric=evaluation.get("test_accuracy"),
            )
            last_good = done
    bar.close()
    ckpt.wait()
    wall = wall_before + time.time() - t0
    if not evaluation:  # resumed at the very end, or no training step left
        evaluation = run.evaluate()
    results = {
        "test_accuracy": evaluation["test_accuracy"],
        "test_loss": evaluation["test_loss"],
        "firing_rate": evaluation["test_firing_rate"],
        "best_test_accuracy": max(
            [r["test_accuracy"] for r in records.read_metrics(log.path) if "test_accuracy" in r]
            or [evaluation["test_accuracy"]]
        ),
        "steps": run.total_steps,
        "epochs": run.total_steps / run.steps_per_epoch,
        "wall_time_s": wall,
        "params": models.num_params(run.steps.model()),
        "dataset": run.info.name,
        "model": config.model.name,
    }
    if jax.process_index() == 0:
        records.write_json(os.path.join(workdir, "results.json"), results)
        records.plot_metrics(workdir)
    ckpt.close()
    return results


def evaluate_workdir(
    config: ml_collections.ConfigDict, workdir: str, which: str = "latest"
) -> dict[str, Any]:
    """Restores the latest (or best) checkpoint of ``workdir`` and evaluates it on the test split."""
    run = Run(config, need_train_data=False)
    ckpt = Checkpointer(workdir, keep=config.train.keep_checkpoints)
    state, _, meta = ckpt.restore(run.steps.state, which)
    run.steps.state = jax.device_put(state, run.steps.replicated)
    evaluation = run.evaluate()
    ckpt.close()
    return {"step": meta["step"], "checkpoint": which, **evaluation}


# (classes, input shape) of each dataset, so a summary needs no data on disk
DATASET_SHAPES = {
    "digits": (10, (8, 8, 1)),
    "mnist": (10, (28, 28, 1)),
    "fashion_mnist": (10, (28, 28, 1)),
    "cifar10": (10, (32, 32, 3)),
    "cifar100": (100, (32, 32, 3)),
    # event datasets at their default config.data.frame_size (frames [T, B, H, W, 2])
    "cifar10_dvs": (10, (48, 48, 2)),
    "nmnist": (10, (34, 34, 2)),
    "dvs128_gesture": (11, (128, 128, 2)),
}


def model_for_summary(config: ml_collections.ConfigDict) -> nnx.Module:
    """The model of ``config`` built without loading any data."""
    name = config.data.name
    if name == "imagenet2012":
        size = config.data.image_size
        num_classes, shape = 1000, (size, size, 3)
    elif name in DATASET_SHAPES:
        num_classes, shape = DATASET_SHAPES[name]
    else:
        known = sorted([*DATASET_SHAPES, "imagenet2012"])
        raise ConfigError(f"unknown dataset {name!r}; choose one of {known}")
    return models.create(config.model, num_classes, shape, rngs=nnx.Rngs(config.seed))
