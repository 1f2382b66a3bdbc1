"""Run snnjax on every worker of a multi-host Cloud TPU VM pod slice.

    python launch/tpu_vm_pod.py --tpu my-pod --zone us-central2-b [--project P] \\
        --config configs/X.py --workdir gs://bucket/runs/x [--config.train.num_epochs=5 ...] [--dry_run]

Steps (each a ``gcloud compute tpus tpu-vm`` command, printed before it runs):

1. ``--sync copy`` (default): pack this working tree (the files ``git ls-files --cached --others
   --exclude-standard`` lists: tracked and untracked-but-not-ignored, so no virtualenvs or workdirs) into a
   tarball, ``scp`` it to every worker and unpack it into ``--remote_dir``. ``--sync git --repo_url URL
   [--git_ref REF]`` fetches that commit on every worker instead; ``--sync none`` assumes the code is there.
2. Unless ``--no_install``: ``pip install -r requirements.txt "jax[tpu]==<pinned jax>"`` and
   ``pip install -e . --no-deps`` on every worker (jax needs Python >= 3.11: see ``--python``).
3. ``ssh --worker=all``: every worker runs the same ``python -m snnjax.main ... --distributed``. On a TPU VM
   ``jax.distributed.initialize()`` needs no addresses: each worker reads its worker number (its process id)
   and the list of workers from the TPU metadata server, and worker 0's internal IP is the coordinator.

The launcher prints, per worker, the process id and coordinator address JAX will use; the worker list comes
from ``gcloud compute tpus tpu-vm describe`` (``networkEndpoints``), or, to work offline (as in
``--dry_run`` on a laptop), from ``--num_workers N`` and ``--coordinator HOST[:PORT]``.
"""

from __future__ import annotations

import json
import re
import shlex
import sys
import tarfile
import tempfile
from pathlib import Path

if __package__ in (None, ""):  # run as a script: python launch/tpu_vm_pod.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from launch import common
from launch.common import LauncherError

FALLBACK_TPU_COORDINATOR_PORT = "8482"
REMOTE_ARCHIVE = "snnjax-src.tar.gz"


def tpu_coordinator_port() -> str:
    """The port JAX's Cloud TPU cluster detection puts the coordinator on (8482 in jax 0.10)."""
    try:
        from jax._src.clusters import cloud_tpu_cluster

        return str(cloud_tpu_cluster.coordinator_port)
    except Exception:  # no local jax, or its internals moved
        return FALLBACK_TPU_COORDINATOR_PORT


def build_parser() -> common.Parser:
    parser = common.Parser(
        prog="launch/tpu_vm_pod.py",
        description=__doc__,
        epilog="Flags it does not know (e.g. --config.train.num_epochs=5, --mode=eval) go to snnjax.main.",
    )
    parser.add_argument("--tpu", required=True, help="TPU VM name")
    parser.add_argument("--zone", required=True, help="its zone")
    parser.add_argument("--project", help="GCP project (default: gcloud's configured project)")
    common.add_common_arguments(parser)
    parser.add_argument(
        "--sync",
        choices=("copy", "git", "none"),
        default="copy",
        help="how the code reaches the workers (default: copy this working tree)",
    )
    parser.add_argument("--repo_url", help="git URL for --sync git")
    parser.add_argument(
        "--git_ref", default="HEAD", help="branch, tag or commit for --sync git (default HEAD)"
    )
    parser.add_argument(
        "--remote_dir",
        default="snnjax",
        help="repository folder on the workers, relative to $HOME (default snnjax)",
    )
    parser.add_argument("--no_install", action="store_true", help="skip the pip install step")
    parser.add_argument(
        "--python", default="python3", help="python on the workers (>= 3.11; default python3)"
    )
    parser.add_argument(
        "--detach",
        action="store_true",
        help="start training under nohup with output in <remote_dir>/snnjax-train.log and return at once",
    )
    parser.add_argument(
        "--gcloud_flag",
        action="append",
        default=[],
        metavar="FLAG",
        help="extra flag for every gcloud scp/ssh, e.g. --gcloud_flag=--internal-ip (repeatable)",
    )
    parser.add_argument(
        "--num_workers", type=int, help="number of workers, instead of asking gcloud describe"
    )
    parser.add_argument(
        "--coordinator",
        help="worker 0's HOST[:PORT], instead of asking gcloud describe (for the printed plan only)",
    )
    return parser


def gcloud(sub: str, args, *words: str) -> list[str]:
    """``gcloud compute tpus tpu-vm SUB WORDS --zone Z [--project P]``."""
    argv = ["gcloud", "compute", "tpus", "tpu-vm", sub, *words, "--zone", args.zone]
    if args.project:
        argv += ["--project", args.project]
    return argv


def describe_command(args) -> list[str]:
    return [*gcloud("describe", args, args.tpu), "--format=json"]


def worker_addresses(args) -> tuple[list[str], str]:
    """The internal address of every worker (worker 0 first) and where that list came from."""
    port = tpu_coordinator_port()
    if args.num_workers is not None:
        host = args.coordinator or f"<worker-0-internal-ip>:{port}"
        if ":" not in host:
            host = f"{host}:{port}"
        return [host] + [f"<worker-{i}-internal-ip>" for i in range(1, args.num_workers)], "--num_workers"
    proc = common.run(describe_command(args), capture=True)
    if proc.returncode:
        detail = (proc.stderr or "").strip().splitlines()
        raise LauncherError(
            f"gcloud describe of TPU {args.tpu!r} failed ({detail[-1] if detail else proc.returncode}); "
            "offline, pass --num_workers N [--coordinator HOST:PORT]"
        )
    try:
        endpoints = json.loads(proc.stdout).get("networkEndpoints") or []
    except (json.JSONDecodeError, AttributeError):
        raise LauncherError(f"cannot read gcloud describe's output for TPU {args.tpu!r}") from None
    addresses = [e.get("ipAddress", "?") for e in endpoints]
    if not addresses:
        raise LauncherError(f"gcloud describe lists no networkEndpoints for TPU {args.tpu!r}")
    addresses[0] = args.coordinator or f"{addresses[0]}:{port}"
    if ":" not in addresses[0]:
        addresses[0] = f"{addresses[0]}:{port}"
    return addresses, "gcloud describe"


def jax_requirement(root: Path) -> str:
    """``jax[tpu]==X`` with X the jax pin of requirements.txt (unpinned if there is none)."""
    try:
        text = (root / "requirements.txt").read_text()
    except OSError:
        text = ""
    match = re.search(r"^jax==([\w.]+)\s*$", text, flags=re.MULTILINE)
    return f"jax[tpu]=={match.group(1)}" if match else "jax[tpu]"


def source_files(root: Path) -> list[str]:
    """The working tree's files as git sees them: tracked plus untracked-but-not-ignored, existing ones."""
    import subprocess

    try:
        out = subprocess.run(
            ["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            check=True,
            capture_output=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        raise LauncherError(
            f"cannot list the files of {root} with git ({e}): use --sync git or none"
        ) from None
    names = sorted({n for n in out.decode().split("\0") if n})
    return [n for n in names if (root / n).is_file()]


def archive_path(args) -> Path:
    return Path(tempfile.gettempdir()) / f"snnjax-src-{re.sub(r'[^A-Za-z0-9_.-]', '_', args.tpu)}.tar.gz"


def pack(root: Path, files: list[str], path: Path):
    with tarfile.open(path, "w:gz") as tar:
        for name in files:
            tar.add(root / name, arcname=name, recursive=False)


def setup_command(args, root: Path) -> str | None:
    """The shell command every worker runs before training (unpack or fetch the code, install)."""
    d = common.quote_path(args.remote_dir)
    parts = []
    if args.sync == "copy":
        parts.append(f"mkdir -p {d} && tar -xzf {REMOTE_ARCHIVE} -C {d} && rm -f {REMOTE_ARCHIVE}")
    elif args.sync == "git":
        url, ref = shlex.quote(args.repo_url), shlex.quote(args.git_ref)
        parts.append(
            f"git init -q {d} && git -C {d} fetch -q --depth 1 {url} {ref}"
            f" && git -C {d} checkout -q --force FETCH_HEAD"
        )
    if not args.no_install:
        pip = common.join([args.python, "-m", "pip", "install", "-q"])
        parts.append(
            f"cd {d} && {pip} -r requirements.txt {shlex.quote(jax_requirement(root))}"
            f" && {pip} -e . --no-deps"
        )
    return " && ".join(parts) if parts else None


def train_command(args, extra: list[str]) -> str:
    """The shell command every worker runs to train (JAX auto-detects the distributed setup)."""
    argv = [*common.snnjax_argv(args.python, args.config, args.workdir, extra), "--distributed"]
    env = [*args.env]
    line = common.join((["env", *env] if env else []) + argv)
    d = common.quote_path(args.remote_dir)
    if args.detach:
        return f"cd {d} && nohup {line} > snnjax-train.log 2>&1 < /dev/null &"
    return f"cd {d} && {line}"


def ssh(args, command: str) -> list[str]:
    return [*gcloud("ssh", args, args.tpu), "--worker=all", *args.gcloud_flag, "--command", command]


def _main(argv: list[str]) -> int:
    parser = build_parser()
    args, extra = common.split_argv(parser, argv)
    if args.num_workers is not None and args.num_workers < 1:
        raise LauncherError(f"--num_workers must be >= 1, got {args.num_workers}")
    if args.coordinator is not None and not re.fullmatch(r"[^\s:]+(:\d{1,5})?", args.coordinator):
        raise LauncherError(f"--coordinator {args.coordinator!r} is not HOST or HOST:PORT")
    if args.sync == "git" and not args.repo_url:
        raise LauncherError("--sync git needs --repo_url URL")
    root = common.REPO_ROOT
    if args.sync == "copy":
        common.check_config_exists(args.config, root)
    if not args.workdir.startswith(("gs://", "/")):
        print(
            f"warning: --workdir {args.workdir} is relative: every worker must see the same workdir "
            "(a gs:// path or a filesystem mounted at the same path on all workers)",
            file=sys.stderr,
        )

    addresses, source = worker_addresses(args)
    n = len(addresses)
    print(
        f"# Cloud TPU VM pod {args.tpu} (zone {args.zone}): {n} worker(s) (from {source}); every worker runs "
        "the same command and jax.distributed.initialize() auto-detects:"
    )
    for i, address in enumerate(addresses):
        where = address if i else address.rsplit(":", 1)[0]
        print(
            f"#   worker {i} ({where}): process_id={i} num_processes={n} coordinator_address={addresses[0]}"
        )

    steps: list[list[str]] = []
    archive = archive_path(args)
    files: list[str] = []
    if args.sync == "copy":
        files = source_files(root)
        print(
            f"# pack {len(files)} files of {root} (git ls-files --cached --others --exclude-standard)"
            f" into {archive}"
        )
        steps.append(
            [
                *gcloud("scp", args, str(archive), f"{args.tpu}:{REMOTE_ARCHIVE}"),
                "--worker=all",
                *args.gcloud_flag,
            ]
        )
    setup = setup_command(args, root)
    if setup:
        steps.append(ssh(args, setup))
    steps.append(ssh(args, train_command(args, extra)))

    if args.dry_run:
        for step in steps:
            print(common.join(step))
        return 0
    if args.sync == "copy":
        pack(root, files, archive)
    try:
        for step in steps:
            proc = common.run(step)
            if proc.returncode:
                print(
                    f"error: command failed with status {proc.returncode}: {common.join(step[:6])} ...",
                    file=sys.stderr,
                )
                return proc.returncode
    finally:
        if args.sync == "copy":
            archive.unlink(missing_ok=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    return common.main_wrapper(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
