"""Run snnjax on several GPU nodes of a SLURM cluster: writes an sbatch script and submits it.

    python launch/slurm_gpu.py --nodes 4 --gpus_per_node 8 --time 04:00:00 --partition gpu --account A \\
        --config configs/X.py --workdir /shared/runs/x [--config.train.num_epochs=5 ...] [--dry_run]

The script asks for ``--nodes`` nodes with ``--gpus_per_node`` GPUs each, takes the first host of
``scontrol show hostnames "$SLURM_JOB_NODELIST"`` as the coordinator (process 0 runs there) and starts the
processes with ``srun``; each runs

    python -m snnjax.main --config ... --workdir ... --distributed \\
        --coordinator_address=$HEAD_NODE:$PORT --num_processes=$SLURM_NTASKS --process_id=$SLURM_PROCID

``--per node`` (default): one process per node that drives all of the node's GPUs (fewer processes, one
host-side input pipeline per node). ``JAX_LOCAL_DEVICE_IDS=0,...,G-1`` is set explicitly: without it,
``jax.distributed.initialize()`` notices SLURM and restricts each process to the GPU numbered
``$SLURM_LOCALID``, i.e. to GPU 0 of every node. ``--per gpu``: one process per GPU, process
``$SLURM_PROCID`` using GPU ``$SLURM_LOCALID`` of its node.

The script runs from ``--repo_dir`` (default: this repository), so the code, the python environment (see
``--setup``) and ``--workdir`` must be on a filesystem every node sees. ``--dry_run`` prints the script, the
concrete command of every process (node names from ``--nodelist``, e.g. ``gpu[01-04]``) and the ``sbatch``
command, and writes or submits nothing.
"""

from __future__ import annotations

import itertools
import re
import shlex
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: python launch/slurm_gpu.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from launch import common
from launch.common import LauncherError


def build_parser() -> common.Parser:
    parser = common.Parser(
        prog="launch/slurm_gpu.py",
        description=__doc__,
        epilog="Flags it does not know (e.g. --config.train.num_epochs=5, --mode=eval) go to snnjax.main.",
    )
    parser.add_argument("--nodes", type=int, required=True, help="number of nodes")
    parser.add_argument("--gpus_per_node", type=int, required=True, help="GPUs per node")
    parser.add_argument(
        "--per", choices=("node", "gpu"), default="node", help="one process per node or per GPU"
    )
    parser.add_argument("--time", default="01:00:00", help="time limit (default 01:00:00)")
    parser.add_argument("--partition", help="SLURM partition")
    parser.add_argument("--account", help="SLURM account")
    parser.add_argument("--job_name", default="snnjax", help="job name (default snnjax)")
    parser.add_argument("--cpus_per_task", type=int, help="CPU cores per process")
    parser.add_argument("--mem", help="memory per node, e.g. 200G")
    parser.add_argument(
        "--sbatch_flag",
        action="append",
        default=[],
        metavar="FLAG",
        help="extra #SBATCH line, e.g. --sbatch_flag=--exclusive (repeatable)",
    )
    parser.add_argument(
        "--port", type=int, default=8476, help="coordinator port on the head node (default 8476)"
    )
    parser.add_argument("--python", default="python", help="python on the nodes (default python)")
    parser.add_argument(
        "--setup",
        action="append",
        default=[],
        metavar="LINE",
        help="shell line run before srun, e.g. 'source ~/venvs/snnjax/bin/activate' (repeatable)",
    )
    parser.add_argument(
        "--repo_dir", default=str(common.REPO_ROOT), help="repository on the shared filesystem"
    )
    parser.add_argument(
        "--output", default="slurm-%x-%j.out", help="SLURM output file (default slurm-%%x-%%j.out)"
    )
    parser.add_argument("--script", help="where to write the sbatch script (default <job_name>.sbatch)")
    parser.add_argument("--nodelist", help="node names for --dry_run, in SLURM syntax: gpu[01-04]")
    common.add_common_arguments(parser)
    return parser


def _split_top_level(text: str) -> list[str]:
    """Splits at commas outside brackets."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "[":
            depth += 1
            if depth > 1:
                raise LauncherError(f"nested brackets in nodelist {text!r}")
        elif ch == "]":
            depth -= 1
            if depth < 0:
                raise LauncherError(f"unbalanced ']' in nodelist {text!r}")
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    if depth:
        raise LauncherError(f"unbalanced '[' in nodelist {text!r}")
    parts.append(text[start:])
    return parts


def _expand_range(body: str, whole: str) -> list[str]:
    """``01-03,07`` -> ``['01', '02', '03', '07']`` (zero padding kept)."""
    out = []
    for item in body.split(","):
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", item)
        if not m:
            raise LauncherError(f"bad range {item!r} in nodelist {whole!r}")
        lo, hi = m.group(1), m.group(2) or m.group(1)
        if int(hi) < int(lo):
            raise LauncherError(f"range {item!r} in nodelist {whole!r} runs backwards")
        width = len(lo) if lo.startswith("0") else 0
        out += [str(v).zfill(width) for v in range(int(lo), int(hi) + 1)]
    return out


def expand_nodelist(nodelist: str) -> list[str]:
    """Host names of a SLURM node list, in ``scontrol show hostnames`` order.

    ``gpu[01-03,07]`` -> gpu01 gpu02 gpu03 gpu07; ``node5`` -> node5; ``a[1-2],b3`` -> a1 a2 b3;
    ``r[1-2]-n[1-2]`` -> r1-n1 r1-n2 r2-n1 r2-n2.
    """
    nodelist = nodelist.strip()
    if not nodelist:
        raise LauncherError("empty nodelist")
    hosts = []
    for part in _split_top_level(nodelist):
        if not part:
            raise LauncherError(f"empty entry in nodelist {nodelist!r}")
        pieces = re.split(r"(\[[^\]]*\])", part)
        choices = [_expand_range(p[1:-1], nodelist) if p.startswith("[") else [p] for p in pieces if p != ""]
        for combo in itertools.product(*choices):
            name = "".join(combo)
            if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
                raise LauncherError(f"bad host name {name!r} in nodelist {nodelist!r}")
            hosts.append(name)
    return hosts


def local_device_ids(args) -> str:
    return ",".join(str(i) for i in range(args.gpus_per_node))


def process_command(args, extra: list[str], concrete: dict[str, str] | None = None) -> str:
    """What one process runs. ``concrete=None``: the script's form, expanding ``$HEAD_NODE``,
    ``$SLURM_NTASKS``, ``$SLURM_PROCID`` (and ``$SLURM_LOCALID``) in each task; else those values given
    as ``head``, ``num``, ``pid``, ``local``."""
    argv = common.snnjax_argv(args.python, args.config, args.workdir, extra)
    if concrete is None:
        ids = shlex.quote(local_device_ids(args)) if args.per == "node" else '"$SLURM_LOCALID"'
        flags = [
            '--coordinator_address="$HEAD_NODE:$COORDINATOR_PORT"',
            '--num_processes="$SLURM_NTASKS"',
            '--process_id="$SLURM_PROCID"',
        ]
    else:
        ids = shlex.quote(local_device_ids(args) if args.per == "node" else concrete["local"])
        flags = [
            shlex.quote(f"--coordinator_address={concrete['head']}:{args.port}"),
            f"--num_processes={concrete['num']}",
            f"--process_id={concrete['pid']}",
        ]
    return f"JAX_LOCAL_DEVICE_IDS={ids} {common.join(argv)} --distributed {' '.join(flags)}"


def sbatch_script(args, extra: list[str]) -> str:
    tasks_per_node = 1 if args.per == "node" else args.gpus_per_node
    lines = [
        "#!/bin/bash",
        f"#SBATCH --job-name={args.job_name}",
        f"#SBATCH --nodes={args.nodes}",
        f"#SBATCH --ntasks-per-node={tasks_per_node}",
        f"#SBATCH --gres=gpu:{args.gpus_per_node}",
        f"#SBATCH --time={args.time}",
    ]
    if args.partition:
        lines.append(f"#SBATCH --partition={args.partition}")
    if args.account:
        lines.append(f"#SBATCH --account={args.account}")
    if args.cpus_per_task:
        lines.append(f"#SBATCH --cpus-per-task={args.cpus_per_task}")
    if args.mem:
        lines.append(f"#SBATCH --mem={args.mem}")
    lines.append(f"#SBATCH --output={args.output}")
    lines += [f"#SBATCH {flag}" for flag in args.sbatch_flag]
    per = (
        f"one process per node, each driving the node's {args.gpus_per_node} GPUs"
        if args.per == "node"
        else "one process per GPU"
    )
    lines += [
        f"# Generated by launch/slurm_gpu.py: {args.nodes} node(s) x {args.gpus_per_node} GPU(s), {per}.",
        "set -e",
        f"cd {shlex.quote(args.repo_dir)}",
        *args.setup,
        *(f"export {shlex.quote(kv.split('=', 1)[0])}={shlex.quote(kv.split('=', 1)[1])}" for kv in args.env),
        'HEAD_NODE=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n1)',
        '[ -n "$HEAD_NODE" ] || { echo "no head node in SLURM_JOB_NODELIST" >&2; exit 1; }',
        f"COORDINATOR_PORT={args.port}",
        "export HEAD_NODE COORDINATOR_PORT",
        'echo "coordinator $HEAD_NODE:$COORDINATOR_PORT on nodes $SLURM_JOB_NODELIST"',
        "# single quotes: every task expands its own $SLURM_PROCID / $SLURM_LOCALID",
        f"srun --ntasks-per-node={tasks_per_node} --kill-on-bad-exit=1 bash -c "
        + shlex.quote(process_command(args, extra)),
    ]
    return "\n".join(lines) + "\n"


def _main(argv: list[str]) -> int:
    parser = build_parser()
    args, extra = common.split_argv(parser, argv)
    if args.nodes < 1:
        raise LauncherError(f"--nodes must be >= 1, got {args.nodes}")
    if args.gpus_per_node < 1:
        raise LauncherError(f"--gpus_per_node must be >= 1, got {args.gpus_per_node}")
    if not 0 < args.port < 65536:
        raise LauncherError(f"--port must be in 1..65535, got {args.port}")
    if args.nodelist is not None and not args.dry_run:
        raise LauncherError("--nodelist is for --dry_run only: SLURM chooses the nodes")
    if Path(args.repo_dir).is_dir():
        common.check_config_exists(args.config, Path(args.repo_dir))
    elif not args.dry_run:  # a dry run may describe a cluster's paths from elsewhere
        raise LauncherError(
            f"--repo_dir {args.repo_dir} is not a folder here: submit from a host that sees it"
        )
    script_path = Path(args.script or f"{args.job_name}.sbatch")
    script = sbatch_script(args, extra)
    submit = ["sbatch", str(script_path)]
    if not args.dry_run:
        script_path.write_text(script)
        print(f"wrote {script_path}")
        proc = common.run(submit)
        return proc.returncode

    if args.nodelist is not None:
        hosts = expand_nodelist(args.nodelist)
        if len(hosts) != args.nodes:
            raise LauncherError(
                f"--nodelist {args.nodelist} names {len(hosts)} node(s) but --nodes is {args.nodes}"
            )
        origin = f"--nodelist {args.nodelist}"
    else:
        hosts = [f"node{i}" for i in range(args.nodes)]
        origin = "example names; pass --nodelist for real ones"
    per_node = 1 if args.per == "node" else args.gpus_per_node
    num = args.nodes * per_node
    print(f"# ==== sbatch script (would be written to {script_path}) ====")
    print(script, end="")
    print(
        f"# ==== per-process commands: {num} process(es), coordinator {hosts[0]}:{args.port} "
        f"(nodes: {origin}) ===="
    )
    for node, host in enumerate(hosts):  # SLURM's default block distribution
        for local in range(per_node):
            pid = node * per_node + local
            print(f"# process {pid} on {host} (SLURM_PROCID={pid}, SLURM_LOCALID={local})")
            concrete = {"head": hosts[0], "num": str(num), "pid": str(pid), "local": str(local)}
            print(process_command(args, extra, concrete))
    print("# ==== submit ====")
    print(common.join(submit))
    return 0


def main(argv: list[str] | None = None) -> int:
    return common.main_wrapper(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
