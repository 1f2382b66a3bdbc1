"""Command line: ``python -m snnjax.main --config configs/X.py[:arg] --workdir DIR [--mode=...]``.

Modes: ``train`` (default; resumes from the workdir), ``eval`` (restore a checkpoint and evaluate),
``summary`` (parameter table), and the analyses of a trained workdir in ``ANALYSES``. All logic lives
in the library. A user error or an environment fault (bad config, missing data, unusable workdir, full
disk, a signal) ends in one line ``error: ...`` on stderr and a non-zero exit status; only a bug in
snnjax itself shows a traceback.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from collections.abc import Sequence

from absl import flags

# --mode name -> module of snnjax.analysis whose ``run_mode(config, workdir, checkpoint) -> dict`` it calls
ANALYSES = {
    "energy": "snnjax.analysis.energy",
    "monitor": "snnjax.analysis.monitor",
    "robustness": "snnjax.analysis.robustness",
}

FLAGS = flags.FlagValues()
flags.DEFINE_string("config", None, "Experiment config file (configs/*.py[:arg]).", flag_values=FLAGS)
flags.DEFINE_string("workdir", None, "Run directory: checkpoints, metrics, results.", flag_values=FLAGS)
flags.DEFINE_enum("mode", "train", ["train", "eval", "summary", *ANALYSES], "What to do.", flag_values=FLAGS)
flags.DEFINE_enum(
    "checkpoint", "latest", ["latest", "best"], "Checkpoint to restore in eval mode.", flag_values=FLAGS
)
flags.DEFINE_bool(
    "distributed", False, "Call jax.distributed.initialize() (multi-host runs).", flag_values=FLAGS
)
flags.DEFINE_string(
    "coordinator_address", None, "host:port of process 0 (else auto-detected).", flag_values=FLAGS
)
flags.DEFINE_integer("num_processes", None, "Number of processes (else auto-detected).", flag_values=FLAGS)
flags.DEFINE_integer("process_id", None, "This process's index (else auto-detected).", flag_values=FLAGS)


def split_config_overrides(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """Separates ``--config.KEY=VALUE`` overrides (returned as ``KEY=VALUE``) from the other arguments."""
    rest, overrides = [], []
    args = iter(argv)
    for arg in args:
        if arg.startswith("--config."):
            key, sep, value = arg[len("--config.") :].partition("=")
            overrides.append(f"{key}={value if sep else next(args, '')}")
        else:
            rest.append(arg)
    return rest, overrides


def print_summary(config):
    from snnjax import models
    from snnjax.train import loop

    rows, total = models.parameter_table(loop.model_for_summary(config))
    width = max(len(r[0]) for r in rows)
    for path, shape, count in rows:
        print(f"{path:<{width}}  {shape!s:<22} {count:>12,}")
    print(f"{'total trainable parameters':<{width}}  {'':<22} {total:>12,}  ({total / 1e6:.2f}M)")


def run(config, workdir: str | None, mode: str, checkpoint: str = "latest") -> dict | None:
    """Runs one CLI mode; returns its results (None for the summary)."""
    from snnjax.errors import ConfigError
    from snnjax.train import loop
    from snnjax.train import workdir as workdir_lib

    if mode == "summary":
        print_summary(config)
        return None
    if not workdir:
        raise ConfigError(f"--workdir is required for --mode={mode}")
    if mode == "train":
        with workdir_lib.session(workdir, loop.note) as path:
            return loop.train_and_evaluate(config, path)
    path = workdir_lib.check(workdir)
    if mode == "eval":
        return loop.evaluate_workdir(config, path, checkpoint)
    import importlib

    return importlib.import_module(ANALYSES[mode]).run_mode(config, path, checkpoint)


def _quiet_background_errors():
    """Library log noise and tracebacks of background threads stay out of the terminal; failed
    asynchronous checkpoint saves are reported by the checkpointer itself."""
    import logging
    import warnings

    # orbax (through absl) and asyncio log the errors of background saves; the checkpointer reports them
    logging.getLogger().setLevel(logging.CRITICAL)
    warnings.filterwarnings("ignore", module="orbax")
    threading.excepthook = lambda args: None
    sys.unraisablehook = lambda unraisable: None


def _terminate(signum, frame):
    from snnjax.errors import Interrupted

    raise Interrupted("SIGTERM: stopped", exit_code=143)


def main(argv: Sequence[str] | None = None) -> int:
    """Parses the command line and runs it; returns the exit status."""
    argv = list(sys.argv if argv is None else argv)
    rest, overrides = split_config_overrides(argv[1:])
    try:
        FLAGS.unparse_flags()
        FLAGS([argv[0], *rest])
    except flags.Error as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not FLAGS.config:
        print("error: --config is required: pass --config configs/<name>.py", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _terminate)  # until training installs its graceful stop
    _quiet_background_errors()
    from snnjax.errors import Interrupted, SnnjaxError

    try:
        from snnjax.config import load_config

        config = load_config(FLAGS.config, overrides)
        if FLAGS.distributed:
            import jax

            try:
                jax.distributed.initialize(FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id)
            except (RuntimeError, ValueError) as e:
                print(f"error: jax.distributed.initialize failed: {str(e).splitlines()[0]}", file=sys.stderr)
                return 1
        results = run(config, FLAGS.workdir, FLAGS.mode, FLAGS.checkpoint)
    except Interrupted as e:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the stop is done: no second signal while exiting
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except SnnjaxError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        where = f"{e.filename}: " if e.filename else ""
        print(f"error: {where}{e.strerror or e}", file=sys.stderr)
        return 1
    except MemoryError:
        print("error: out of memory: lower config.train.batch_size", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    if results is not None:
        print(json.dumps(results, indent=2, sort_keys=True))
    return 0


def cli() -> None:
    """The ``snnjax`` console script and ``python -m snnjax[.main]``: CPU runtime options, then main()."""
    from snnjax import runtime

    if runtime.cpu_only():  # before anything starts JAX's CPU client (snnjax.runtime)
        runtime.retain_freed_memory()
        runtime.use_xla_convolutions()
    sys.exit(main())


if __name__ == "__main__":
    cli()
