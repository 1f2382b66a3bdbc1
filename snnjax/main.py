"""Command line: ``python -m snnjax.main --config configs/X.py --workdir DIR [--mode=...]``.

Modes: ``train`` (default; resumes from the workdir), ``eval`` (restore a checkpoint and evaluate),
``summary`` (parameter table), and the analyses of a trained workdir in ``ANALYSES``. All logic lives
in the library; errors in the user's input end in one line on stderr and exit status 1.
"""

from __future__ import annotations

import json
import os
import re
import sys

from absl import app, flags, logging
from ml_collections import config_flags

# --mode name -> module of snnjax.analysis whose ``run_mode(config, workdir, checkpoint) -> dict`` it calls
ANALYSES = {"energy": "snnjax.analysis.energy", "robustness": "snnjax.analysis.robustness"}

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file(
    "config", None, "Experiment config file (configs/*.py[:arg]).", lock_config=True
)
flags.DEFINE_string("workdir", None, "Run directory: checkpoints, metrics, results.")
flags.DEFINE_enum("mode", "train", ["train", "eval", "summary", *ANALYSES], "What to do.")
flags.DEFINE_enum("checkpoint", "latest", ["latest", "best"], "Checkpoint to restore in eval mode.")
flags.DEFINE_bool("distributed", False, "Call jax.distributed.initialize() (multi-host runs).")
flags.DEFINE_string("coordinator_address", None, "host:port of process 0 (else auto-detected).")
flags.DEFINE_integer("num_processes", None, "Number of processes (else auto-detected).")
flags.DEFINE_integer("process_id", None, "This process's index (else auto-detected).")


def run(config, workdir: str | None, mode: str, checkpoint: str = "latest") -> int:
    """Runs one CLI mode; returns the exit status."""
    from snnjax import models
    from snnjax.train import loop

    if mode == "summary":
        rows, total = models.parameter_table(loop.model_for_summary(config))
        width = max(len(r[0]) for r in rows)
        for path, shape, count in rows:
            print(f"{path:<{width}}  {shape!s:<22} {count:>12,}")
        print(f"{'total trainable parameters':<{width}}  {'':<22} {total:>12,}  ({total / 1e6:.2f}M)")
        return 0
    if not workdir:
        print("error: --workdir is required for --mode=" + mode, file=sys.stderr)
        return 1
    if mode == "train":
        results = loop.train_and_evaluate(config, workdir)
    elif mode == "eval":
        results = loop.evaluate_workdir(config, workdir, checkpoint)
    else:
        import importlib

        results = importlib.import_module(ANALYSES[mode]).run_mode(config, workdir, checkpoint)
    print(json.dumps(results, indent=2, sort_keys=True))
    return 0


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)  # orbax logs every save at INFO
    if FLAGS.distributed:
        import jax

        jax.distributed.initialize(FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id)
    from snnjax.errors import SnnjaxError

    try:
        sys.exit(run(FLAGS.config, FLAGS.workdir, FLAGS.mode, FLAGS.checkpoint))
    except SnnjaxError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)


def _valid_keys(config, prefix: str = "") -> list[str]:
    keys = []
    for k, v in config.items():
        if hasattr(v, "items"):
            keys += _valid_keys(v, f"{prefix}{k}.")
        else:
            keys.append(f"{prefix}{k}")
    return keys


def check_override_keys(argv: list[str]) -> str | None:
    """Returns an error line if an ``--config.KEY=`` override names a key the config lacks."""
    config_arg = next((a.split("=", 1)[1] for a in argv if a.startswith("--config=")), None)
    if config_arg is None and "--config" in argv[:-1]:
        config_arg = argv[argv.index("--config") + 1]
    if config_arg is None:
        return None
    path, _, arg = config_arg.partition(":")
    if not os.path.exists(path):
        return f"config file {path} not found: pass --config configs/<name>.py"
    keys = [m.group(1) for a in argv if (m := re.match(r"--config\.([\w.]+)(=|$)", a))]
    if not keys:
        return None
    config = config_flags.config_flags._LoadConfigModule("config", path).get_config(*([arg] if arg else []))
    valid = _valid_keys(config)
    for key in keys:
        if key not in valid and not any(v.startswith(key + ".") for v in valid):
            section = key.rsplit(".", 1)[0] if "." in key else ""
            close = [v for v in valid if v.startswith(section + ".")] if section else valid
            where = f" in {section}" if section else ""
            return f"unknown config key {key!r}; valid keys{where}: {', '.join(close)}"
    return None


if __name__ == "__main__":
    from snnjax import runtime

    if runtime.cpu_only():  # before anything starts JAX's CPU client (snnjax.runtime)
        runtime.retain_freed_memory()
        runtime.use_xla_convolutions()
    error = check_override_keys(sys.argv[1:])
    if error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    flags.mark_flags_as_required(["config"])
    app.run(main)
