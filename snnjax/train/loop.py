"""Training and evaluation of a config in a workdir: create state -> train -> evaluate -> record.

``train_and_evaluate`` resumes from the workdir's newest intact checkpoint (parameters, optimiser state
and the data iterator's position), so re-running the same command after a crash, kill or preemption
continues exactly where the run stopped. ``restore_trained`` gives the trained model of a workdir to
evaluation and every analysis mode.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import sys
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
from etils import epath
from flax import nnx
from tqdm import tqdm

from snnjax import data, models, remat
from snnjax.errors import CheckpointError, ConfigError, TrainingError
from snnjax.losses import make_loss
from snnjax.train import memory, records, writers
from snnjax.train.checkpoint import Checkpointer
from snnjax.train.optim import make_optimizer, same_schedule, schedule_record
from snnjax.train.progress import Progress, Throughput
from snnjax.train.steps import Steps
from snnjax.train.stop import StopSignals

EVAL_KEY_OFFSET = 1 << 30  # eval keys are folded from seed + this, disjoint from training steps
FIRST_BATCH = {"position": "first batch"}
"""The data-iterator record of a checkpoint made outside training (``snnjax.convert``): training from it
starts at the first batch."""


def make_mesh() -> jax.sharding.Mesh:
    """A 1-D mesh named ``data`` over every device of every host.

    Auto axis type: XLA propagates the batch sharding through reshapes such as folding time into the
    batch (``[T, B@data] -> [T*B]``), which explicit sharding would reject.
    """
    return jax.make_mesh((jax.device_count(),), ("data",), axis_types=(jax.sharding.AxisType.Auto,))


def check_batch_size(batch_size: int, what: str = "config.train.batch_size"):
    n = jax.device_count()
    if batch_size <= 0:
        raise ConfigError(f"{what}={batch_size} must be positive")
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
        self.model = create_model(config, self.info.num_classes, self.info.image_shape, rngs=rngs)
        tx, self.schedule = make_optimizer(config.optim, self.total_steps, steps_per_epoch)
        self.schedule_record = {
            **schedule_record(config.optim, self.total_steps, steps_per_epoch),
            "num_epochs": config.train.num_epochs,
            "num_steps": config.train.num_steps,
        }
        optimizer = nnx.Optimizer(self.model, tx, wrt=nnx.Param)
        self.mesh = make_mesh()
        self.steps = Steps(
            self.model, optimizer, make_loss(config.loss), self.mesh, make_batch_transform(config, self),
            ensemble=config.eval.ensemble if "eval" in config else 1,
        )  # fmt: skip
        self.base_key = jax.random.key(config.seed)

    @property
    def state(self) -> Any:
        """The current training state (replicated over the mesh)."""
        return self.steps.state

    def load_state(self, state: Any):
        """Replaces the training state (e.g. by a restored one), placing it on the mesh."""
        self.steps.state = jax.device_put(state, self.steps.replicated)

    def compile_train_step(self, batch: dict):
        """Compiles the train step for the host batch ``batch``, picks the blocks' remat level where the
        model leaves it to the budget (:meth:`choose_remat`), and stops the run (one line) if XLA's memory
        estimate of a step exceeds the memory available (single-process runs: every process of a
        multi-process run would have to agree before stopping)."""
        key = jax.random.fold_in(self.base_key, 0)
        batch = self.steps.shard_batch(batch)
        if remat.is_auto(self.model):
            compiled = self.choose_remat(batch, key)
        else:
            compiled = self.steps.compile_train(batch, key)
        if jax.process_count() == 1:
            note = memory.check_fits(compiled, self.config.train.batch_size, also=remat.remedy(self.model))
            if note:
                print(note, file=sys.stderr, flush=True)

    def choose_remat(self, batch: dict, key: Any) -> Any:
        """Sets the model's blocks to the first of ``remat.LEVELS`` (least recomputation first) whose
        train step fits ``config.train.memory_budget_gb`` (the leanest if none does) and returns that
        step compiled. All levels compute the same values and gradients."""
        budget = memory.budget_bytes(float(self.config.train.get("memory_budget_gb", 0.0)))
        for level in remat.LEVELS:
            self.steps.rebuild(functools.partial(remat.set_level, level=level))
            compiled = self.steps.compile_train(batch, key)
            need = memory.estimate_bytes(compiled)
            if budget is None or need is None or need <= budget:
                break
        remat.set_level(self.model, level)
        about = "" if need is None else f": the step needs about {memory.size(need)}"
        within = "" if budget is None else f" of a {memory.size(budget)} budget"
        print(f"block rematerialisation {level}{about}{within}", file=sys.stderr, flush=True)
        return compiled

    def train_step(self, step: int, batch: dict) -> dict:
        """One optimiser step on the host batch of training step ``step``; returns its device metrics."""
        key = jax.random.fold_in(self.base_key, step)
        self.steps.state, metrics = self.steps.train_step(
            self.steps.state, self.steps.shard_batch(batch), key
        )
        return metrics

    def check_eval_fits(self, batch: dict, key: Any):
        """Compiles the eval step for ``batch`` and stops the run (one line) if it cannot fit, like the
        train step's check."""
        compiled = self.steps.compile_eval(batch, key)
        if jax.process_count() == 1:
            size = self.config.train.eval_batch_size
            memory.check_fits(compiled, size, step="eval step", batch_key="config.train.eval_batch_size")

    def evaluate(self, desc: str = "eval", stop: StopSignals | None = None) -> dict[str, float]:
        """Accuracy, loss and firing rate (pooled, and per layer as ``test_firing_rate/<layer>``) of the
        current state over the whole test split ({} if a stop was requested meanwhile)."""
        totals = None
        self.test_data.reset()
        eval_key = jax.random.fold_in(self.base_key, EVAL_KEY_OFFSET)
        for i, batch in enumerate(tqdm(self.test_data, desc=desc, leave=False, disable=None)):
            if stop is not None and stop.pending:
                return {}
            batch = self.steps.shard_batch(batch)
            if i == 0 and not self.steps.eval_compiled_for(batch):
                self.check_eval_fits(batch, eval_key)
            out = self.steps.eval_step(self.steps.state, batch, jax.random.fold_in(eval_key, i))
            totals = out if totals is None else jax.tree.map(jnp.add, totals, out)
        totals = jax.device_get(totals)
        count = float(totals["count"])
        rates = {f"test_{k}": float(v) / count for k, v in totals.items() if k.startswith("firing_rate")}
        return {
            "test_accuracy": float(totals["correct"]) / count,
            "test_loss": float(totals["loss"]) / count,
            "test_firing_rate": rates.pop("test_firing_rate"),
            "test_examples": int(count),
            **dict(sorted(rates.items())),  # test_firing_rate/<layer>
        }


class MetricWindow:
    """Sums the per-step training metrics on device and fetches their means when logged."""

    def __init__(self):
        self.sums: dict[str, Any] = {}
        self.count = 0

    def add(self, metrics: dict):
        self.sums = metrics if not self.count else jax.tree.map(jnp.add, self.sums, metrics)
        self.count += 1

    def means(self) -> dict[str, float] | None:
        """The means since the last call (None if no step was added); resets the window."""
        if not self.count:
            return None
        means = {k: float(v) / self.count for k, v in jax.device_get(self.sums).items()}
        self.sums, self.count = {}, 0
        return means


@dataclasses.dataclass(frozen=True)
class Cadence:
    """When to log, evaluate and checkpoint (in optimiser steps)."""

    total: int
    log_every: int
    eval_every: int
    checkpoint_every: int

    @classmethod
    def of(cls, config: ml_collections.ConfigDict, run: Run) -> Cadence:
        eval_every = max(int(config.train.eval_every_epochs * run.steps_per_epoch), 1)
        return cls(
            run.total_steps,
            config.train.log_every,
            eval_every,
            config.train.checkpoint_every_steps or eval_every,
        )

    def is_eval(self, done: int) -> bool:
        return done % self.eval_every == 0 or done == self.total

    def is_checkpoint(self, done: int) -> bool:
        return self.is_eval(done) or done % self.checkpoint_every == 0


def note(message: str):
    """A one-line message to the user (stderr, also without a terminal)."""
    tqdm.write(message, file=sys.stderr)


def resume(run: Run, ckpt: Checkpointer, workdir: epath.Path) -> tuple[int, float]:
    """Loads the newest intact checkpoint into ``run``; returns ``(step, wall time so far)``."""
    restored = ckpt.restore_newest_intact(run.state, note)
    if restored is None:
        return 0, 0.0
    step, state, data_state, meta = restored
    check_schedule(run, meta.get("schedule"), step, workdir)
    run.load_state(state)
    if data_state != FIRST_BATCH:
        run.train_data.set_state(data_state)
    print(f"resuming from step {step} in {workdir}")
    return step, float(meta["wall_time_s"])


def check_schedule(run: Run, saved: dict | None, step: int, workdir: epath.Path):
    """Refuses (one-line ConfigError) to resume at ``step`` when the config's learning-rate schedule gives
    other rates than the one the checkpoint was trained with (``saved``, its :func:`schedule_record`) at
    any step still to come, e.g. a changed ``train.num_epochs`` re-stretching a cosine schedule, unless
    ``config.train.allow_schedule_change``. Checkpoints without a record pass."""
    if saved is None or same_schedule(saved, run.schedule_record, step):
        return
    new, changes = run.schedule_record, []
    for key in ("num_epochs", "num_steps"):
        if saved.get(key) != new[key]:
            changes.append(f"config.train.{key} {saved.get(key)} -> {new[key]}")
    for key in ("total_steps", "steps_per_epoch"):
        if saved[key] != new[key]:
            changes.append(f"{key.replace('_', ' ')} {saved[key]} -> {new[key]}")
    old_optim, new_optim = saved["optim"], new["optim"]
    changes += [
        f"config.optim.{k} {old_optim.get(k)!r} -> {new_optim.get(k)!r}"
        for k in sorted(set(old_optim) | set(new_optim))
        if _json_value(old_optim.get(k)) != _json_value(new_optim.get(k))
    ]
    what = ", ".join(changes) or "the learning rates differ"
    if run.config.train.allow_schedule_change:
        note(f"resuming step {step} on a changed learning-rate schedule ({what})")
        return
    raise ConfigError(
        f"the checkpoint at step {step} in {workdir} was trained on another learning-rate schedule ({what}): "
        "resume with the old values, use a new workdir, or pass --config.train.allow_schedule_change=True "
        "to continue on the new schedule"
    )


def _json_value(value: Any) -> Any:
    """A config value as it reads back from JSON (tuples become lists)."""
    return list(value) if isinstance(value, tuple) else value


def log_training(
    log: records.MetricsLog,
    window: MetricWindow,
    run: Run,
    step: int,
    last_good: int | None,
    throughput: Throughput,
    wall: Callable[[], float],
) -> dict[str, float] | None:
    """Fetches the window's means (so every step up to ``step`` has finished) and writes them, the
    wall time so far and the window's throughput to the metrics log; returns the record (None if the
    window was empty). Stops the run on a non-finite loss."""
    means = window.means()
    if means is None:
        return None
    if not math.isfinite(means["loss"]):
        where = f"step {last_good}" if last_good else "none was saved"
        raise TrainingError(
            f"training loss became {means['loss']} before step {step}: stopped; last good checkpoint: "
            f"{where}. Lower config.optim.learning_rate or enable config.optim.grad_clip"
        )
    loss, accuracy = means.pop("loss"), means.pop("accuracy")
    record = {
        "step": step,
        "train_loss": loss,
        "train_accuracy": accuracy,
        **means,
        "learning_rate": float(run.schedule(step)),
        "wall_time_s": wall(),
        **throughput.rates(step),
    }
    throughput.mark(step)
    log.write(record)
    return record


def draw_metrics(log: records.MetricsLog):
    """Redraws metrics.png beside the metrics log (the writer process only); a failure is a warning."""
    if not log.enabled:
        return
    try:
        records.plot_metrics(log.path.parent)
    except Exception as e:  # a plot must never end a training run
        note(f"warning: metrics.png not drawn: {type(e).__name__}: {e}")


def train(run: Run, ckpt: Checkpointer, log: records.MetricsLog, cadence: Cadence, start: int,
          wall_before: float, stop: StopSignals) -> dict[str, float]:  # fmt: skip
    """Runs the training steps ``start .. cadence.total``, evaluating and checkpointing on the cadence;
    returns the last evaluation ({} if none happened).

    Step results are fetched only at log points and progress reports (every
    ``config.train.progress_every_s``), so the host keeps dispatching ahead of the device in between.
    """
    t0 = time.time()
    wall = lambda: wall_before + time.time() - t0
    last_good = ckpt.latest_step()
    window = MetricWindow()
    evaluation: dict[str, float] = {}
    train_iter = iter(run.train_data)
    progress = Progress(
        cadence.total,
        start,
        run.config.train.batch_size,
        run.config.train.progress_every_s,
        enabled=jax.process_index() == 0,
    )
    throughput = Throughput(progress.clock, run.config.train.batch_size)  # of each log window
    try:
        for step in range(start, cadence.total):
            ckpt.check_for_errors()
            batch = next(train_iter)
            if step == start:
                progress.compiling()
                first_began = time.monotonic()
                run.compile_train_step(batch)
            metrics = run.train_step(step, batch)
            window.add(metrics)
            done = step + 1
            if step == start:
                jax.block_until_ready(metrics)
                progress.first_step_done(time.monotonic() - first_began)
                throughput.mark(done)
            stopping = stop.requested(done)
            saving = stopping or cadence.is_checkpoint(done)
            if saving or done % cadence.log_every == 0:
                record = log_training(log, window, run, done, last_good, throughput, wall)
                # a terminal's bar moves at every log point; plain lines come every progress_every_s
                # and at every checkpoint
                if record is not None and (progress.tty or saving or progress.due()):
                    progress.report(done, record["train_loss"], record["train_accuracy"])
            elif progress.due():
                last = jax.device_get({k: metrics[k] for k in ("loss", "accuracy")})
                progress.report(done, float(last["loss"]), float(last["accuracy"]))
            if not saving:
                continue
            with progress.clock.paused():  # evaluating and saving count in no throughput
                evaluation = run.evaluate(stop=stop) if cadence.is_eval(done) and not stopping else {}
                if evaluation:
                    log.write({"step": done, "epoch": done / run.steps_per_epoch, **evaluation,
                               "wall_time_s": wall()})  # fmt: skip
                    note(
                        f"step {done}/{cadence.total}: test accuracy {evaluation['test_accuracy']:.4f}, "
                        f"loss {evaluation['test_loss']:.4f} ({wall():.0f} s)"
                    )
                    draw_metrics(log)
                meta = {"step": done, "wall_time_s": wall(), "schedule": run.schedule_record}
                ckpt.save(
                    done, run.state, run.train_data.get_state(), meta, metric=evaluation.get("test_accuracy")
                )
            last_good = done
            if stopping or stop.pending:
                ckpt.wait()
                raise stop.interrupted(
                    f"saved step {done} in {ckpt.directory}; run the same command to resume"
                )
    finally:
        progress.close()
    return evaluation


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: epath.PathLike) -> dict[str, Any]:
    """Trains ``config`` in ``workdir`` (resuming if it holds a checkpoint) and returns the results."""
    workdir = epath.Path(workdir)
    run = Run(config)
    with Checkpointer(workdir, keep=config.train.keep_checkpoints) as ckpt, StopSignals() as stop:
        start, wall_before = resume(run, ckpt, workdir)
        if jax.process_index() == 0:
            (workdir / "config.json").write_text(config.to_json_best_effort(indent=2, sort_keys=True))
        writer = writers.make_writer(config, workdir, resume_step=start, enabled=jax.process_index() == 0)
        try:
            log = records.MetricsLog(
                workdir, resume_step=start, enabled=jax.process_index() == 0, writer=writer
            )
            t0 = time.time()
            evaluation = train(run, ckpt, log, Cadence.of(config, run), start, wall_before, stop)
            ckpt.wait()
            wall = wall_before + time.time() - t0
            evaluation = evaluation or run.evaluate()  # resumed at the very end: nothing was trained
            results = summarize(config, run, evaluation, log, wall)
            if jax.process_index() == 0:
                records.write_json(workdir / "results.json", results)
                draw_metrics(log)
        finally:
            writer.close()
    return results


def summarize(config, run: Run, evaluation: dict, log: records.MetricsLog, wall: float) -> dict[str, Any]:
    """The ``results.json`` record of a finished run."""
    accuracies = [r["test_accuracy"] for r in records.read_metrics(log.path) if "test_accuracy" in r]
    return {
        "test_accuracy": evaluation["test_accuracy"],
        "test_loss": evaluation["test_loss"],
        "firing_rate": evaluation["test_firing_rate"],
        "best_test_accuracy": max(accuracies or [evaluation["test_accuracy"]]),
        "steps": run.total_steps,
        "epochs": run.total_steps / run.steps_per_epoch,
        "wall_time_s": wall,
        "params": models.num_params(run.steps.model()),
        "dataset": run.info.name,
        "model": config.model.name,
    }


def restore_trained(
    config: ml_collections.ConfigDict, workdir: epath.PathLike, which: str = "latest"
) -> tuple[Run, dict]:
    """The test-data run of ``config`` with the latest (or best) checkpoint of ``workdir`` loaded, and
    that checkpoint's record (``meta['step']``). Raises :class:`CheckpointError` without one."""
    workdir = epath.Path(workdir)
    if not (workdir / "checkpoints").exists():
        raise CheckpointError(
            f"no {which} checkpoint in {workdir / 'checkpoints'}: train first (--mode=train)"
        )
    run = Run(config, need_train_data=False)
    with Checkpointer(workdir, keep=config.train.keep_checkpoints, read_only=True) as ckpt:
        state, _, meta = ckpt.restore_which(run.state, which)
    run.load_state(state)
    return run, meta


def evaluate_workdir(
    config: ml_collections.ConfigDict, workdir: epath.PathLike, which: str = "latest"
) -> dict[str, Any]:
    """Restores the latest (or best) checkpoint of ``workdir`` and evaluates it on the test split."""
    run, meta = restore_trained(config, workdir, which)
    return {"step": meta["step"], "checkpoint": which, **run.evaluate()}


def create_model(
    config: ml_collections.ConfigDict, num_classes: int, shape: tuple[int, ...], *, rngs: nnx.Rngs
) -> nnx.Module:
    """``config.model`` built for ``config.data``; event frames need the ``events`` encoder, which is the only
    one that reads them (:class:`~snnjax.models.common.Encoder`)."""
    events = data.dataset_spec(config.data.name).kind == "event"
    if events != (config.model.encoding == "events"):
        need = "'events'" if events else "a static-input encoder such as 'direct'"
        raise ConfigError(
            f"dataset {config.data.name!r} gives {'event frames' if events else 'images'}: set "
            f"config.model.encoding to {need} (it is {config.model.encoding!r})"
        )
    return models.create(config.model, num_classes, shape, rngs=rngs)


def model_for_summary(config: ml_collections.ConfigDict) -> nnx.Module:
    """The model of ``config`` built without loading any data."""
    num_classes, shape = data.input_info(config.data)
    return create_model(config, num_classes, shape, rngs=nnx.Rngs(config.seed))
