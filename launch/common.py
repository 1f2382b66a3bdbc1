"""What the multi-host launchers share: argument parsing with one-line errors, the snnjax command line,
shell quoting, and running (or, in dry-run, only printing) commands.

The launchers pass ``--config``, ``--workdir`` and every flag they do not know themselves (for example
``--config.train.num_epochs=5`` or ``--mode=eval``) verbatim to ``python -m snnjax.main``; flags after a
lone ``--`` are always passed through. The flags that wire up the processes (``--distributed``,
``--coordinator_address``, ``--num_processes``, ``--process_id``) belong to the launcher and are refused
in the pass-through.
"""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

# Set by the launchers themselves; passing them through would contradict the launch.
RESERVED_FLAGS = (
    "--distributed",
    "--nodistributed",
    "--coordinator_address",
    "--num_processes",
    "--process_id",
)


class LauncherError(Exception):
    """A problem with the launcher's arguments or environment: reported as one ``error:`` line."""


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors raise :class:`LauncherError` (one line, no usage dump)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message):
        raise LauncherError(f"{message} (see {self.prog} --help)")


def add_common_arguments(parser: argparse.ArgumentParser):
    """``--config``, ``--workdir``, ``--env`` and ``--dry_run``."""
    parser.add_argument(
        "--config",
        required=True,
        help="experiment config, relative to the repository root: configs/X.py[:arg]",
    )
    parser.add_argument("--workdir", required=True, help="run directory shared by all hosts")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="environment variable for every process (repeatable)",
    )
    parser.add_argument("--dry_run", action="store_true", help="print the commands and run nothing")


def split_argv(parser: argparse.ArgumentParser, argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    """Parses the launcher's own flags; returns them and the flags to pass through to snnjax.main."""
    argv = list(argv)
    tail: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, tail = argv[:cut], argv[cut + 1 :]
    args, extra = parser.parse_known_args(argv)
    extra = [*extra, *tail]
    if extra and not extra[0].startswith("-"):
        raise LauncherError(
            f"unexpected argument {extra[0]!r}: extra flags for snnjax.main look like "
            "--config.train.num_epochs=5"
        )
    for token in extra:
        name = token.split("=", 1)[0]
        if name in RESERVED_FLAGS:
            raise LauncherError(f"{name} is set by the launcher: leave it out")
        if name in ("--config", "--workdir"):
            raise LauncherError(f"{name} was given twice")
    for item in args.env:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", item, flags=re.DOTALL):
            raise LauncherError(f"--env {item!r} is not KEY=VALUE")
    if not args.config.strip():
        raise LauncherError("--config is empty: pass --config configs/<name>.py")
    return args, extra


def check_config_exists(config: str, root: Path):
    """Raises if the config file (``path[:arg]``) is missing under ``root``."""
    path = config.split(":", 1)[0]
    if not (root / path).is_file():
        raise LauncherError(f"config file {path} not found under {root}: pass --config configs/<name>.py")


def snnjax_argv(python: str, config: str, workdir: str, extra: Sequence[str]) -> list[str]:
    """``python -m snnjax.main --config C --workdir W EXTRA...`` as an argv list (no distributed flags)."""
    return [python, "-m", "snnjax.main", "--config", config, "--workdir", workdir, *extra]


def join(argv: Sequence[str]) -> str:
    """An argv list as one POSIX shell command line (every word quoted where needed)."""
    return shlex.join(list(argv))


def quote_path(path: str) -> str:
    """Shell-quotes ``path`` but keeps a leading ``~/`` unquoted so the remote shell expands it."""
    if path == "~":
        return "~"
    if path.startswith("~/"):
        return "~/" + shlex.quote(path[2:])
    return shlex.quote(path)


def run(argv: Sequence[str], *, capture: bool = False) -> subprocess.CompletedProcess:
    """Runs one command (no local shell), echoing it to stderr first (like ``set -x``); raises if the
    program is missing."""
    print("+ " + join(argv), file=sys.stderr, flush=True)
    try:
        return subprocess.run(list(argv), check=False, capture_output=capture, text=True)
    except FileNotFoundError:
        raise LauncherError(f"{argv[0]} not found on PATH") from None


def main_wrapper(main, argv: Sequence[str] | None = None) -> int:
    """Calls ``main(argv)`` and turns a :class:`LauncherError` into one ``error:`` line and status 2."""
    try:
        return main(sys.argv[1:] if argv is None else list(argv))
    except LauncherError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
