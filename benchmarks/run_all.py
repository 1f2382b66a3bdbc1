"""Side-by-side benchmark of snnjax, the reference SNN libraries and the equivalent ANN.

    python benchmarks/run_all.py [--workloads w1 w2 w3] [--rounds 10] [--per-round 3] \
        [--bench-python ~/.cache/snnjax/bench-venv/bin/python] [--readme benchmarks/README.md]

Every implementation of a workload runs in its own worker process (``benchmarks/worker.py``; the
PyTorch libraries and spyx in the reference environment made by ``benchmarks/references/setup_env.sh``,
JAX/snnjax in the current one). After set-up and 3 warm-up steps per worker, the runner asks the
workers in turn (the order rotated every round) for ``--per-round`` steps, ``--rounds`` times, so all
implementations are measured interleaved under the same machine load; it reports the median step time of
each (30 steps by default),
ratios to snnjax, to the fastest reference library and to the equivalent ANN, the load average, and the
number of traces of each jitted JAX step (1 = no recompilation). With ``--readme`` the results table
between the ``<!-- results -->`` markers of that file is replaced.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import workloads as wl  # noqa: E402
from common import write_marked  # noqa: E402

from snnjax.runtime import RETAIN_ENV, with_xla_convolutions  # noqa: E402

JAX_LOCAL = ("snnjax", "snnjax-xla", "ann-jax", "ann-jax-xla", "naive-jax", "snnjax-public")
SELF_SETUP = ("snnjax-public",)  # set up their process themselves (snnjax.runtime.setup): no env given
REFS = ("spikingjelly", "spikingjelly-static", "snntorch", "norse", "spyx")
DEFAULT_IMPLS = (
    "snnjax",
    "snnjax-xla",
    "ann-jax",
    "naive-jax",
    "spikingjelly",
    "spikingjelly-static",
    "snntorch",
    "norse",
    "spyx",
    "ann-torch",
)


# XLA CPU option sets: an implementation named ``IMPL+SET`` runs IMPL with XLA_FLAGS=FLAG_SETS[SET]
FLAG_SETS = {
    "onednn": "--xla_cpu_use_onednn=true",
    "xnnpack": "--xla_cpu_use_xnnpack=true",
    "fastmath": "--xla_cpu_enable_fast_math=true",
    "nothunk": "--xla_cpu_use_thunk_runtime=false",
    "memsched": "--xla_cpu_enable_concurrency_optimized_scheduler=false",
    "ynnconv": "--xla_cpu_experimental_ynn_fusion_type=+individual_convolution",  # jaxlib's default
}


class Worker:
    def __init__(self, impl: str, workload: str, python: str, T: int | None, malloc: str, convs: str):
        base, _, flags = impl.partition("+")
        cmd = [python, os.path.join(HERE, "worker.py"), base, workload]
        if T:
            cmd += ["--T", str(T)]
        self.impl, self.times, self.info, self.error = impl, [], {}, None
        env = {**os.environ, "PYTHONPATH": os.path.dirname(HERE)}
        if malloc == "retain" and base not in SELF_SETUP:  # every implementation, JAX and PyTorch alike
            env.update(RETAIN_ENV)
        if flags:
            env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " " + FLAG_SETS[flags]).strip()
        if (
            convs == "xla" and base in (*JAX_LOCAL, "spyx") and base not in SELF_SETUP
        ):  # every JAX implementation, unless its
            env["XLA_FLAGS"] = with_xla_convolutions(env.get("XLA_FLAGS", ""))  # flag set chose already
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )

    def _read(self) -> dict | None:
        line = self.proc.stdout.readline()
        if not line:
            self.error = (self.proc.stderr.read() or "exited").strip().splitlines()[-1:]
            return None
        return json.loads(line)

    def wait_ready(self) -> bool:
        msg = self._read()
        if msg is None or "skip" in msg:
            self.error = self.error or [msg["skip"]]
            return False
        self.info = msg
        return True

    def run(self, k: int) -> None:
        self.proc.stdin.write(f"run {k}\n")
        self.proc.stdin.flush()
        msg = self._read()
        if msg is not None:
            self.times += msg["times_ms"]

    def close(self) -> None:
        try:
            self.proc.stdin.write("done\n")
            self.proc.stdin.flush()
            msg = self._read()
            if msg:
                self.info.update(msg)
        finally:
            self.proc.wait(timeout=60)


def loadavg() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def run_workload(name: str, impls, args) -> dict:
    workers = []
    for impl in impls:
        python = sys.executable if impl.partition("+")[0] in JAX_LOCAL else args.bench_python
        # start workers one at a time: compilation/setup must not overlap other workers' timing
        w = Worker(impl, name, python, args.T, args.malloc, args.convs)
        ok = w.wait_ready()
        print(f"  {name} {impl}: {'ready' if ok else 'skipped: ' + ' '.join(w.error or [])}", flush=True)
        (workers.append(w) if ok else w.proc.kill())
    loads = [loadavg()]
    for r in range(args.rounds):
        k = r % max(len(workers), 1)
        for w in workers[k:] + workers[:k]:  # rotated: no implementation always follows the same one
            w.run(args.per_round)
        loads.append(loadavg())
    for w in workers:
        w.close()
    res = {}
    for w in workers:
        if w.times:
            res[w.impl] = {
                "median_ms": statistics.median(w.times),
                "steps": len(w.times),
                "traces": w.info.get("traces"),
                "versions": w.info.get("versions", {}),
            }
    return {"results": res, "load": loads, "command": _command()}


def table_rows(name: str, out: dict) -> list[list[str]]:
    res = out["results"]
    snn = res.get("snnjax", {}).get("median_ms")
    refs = {k: v["median_ms"] for k, v in res.items() if k in REFS}
    best_ref = min(refs.values()) if refs else None
    ann = res.get("ann-jax", {}).get("median_ms")
    rows = []
    for impl, r in sorted(res.items(), key=lambda kv: kv[1]["median_ms"]):
        m = r["median_ms"]
        rows.append(
            [
                name,
                impl,
                f"{m:.1f}",
                str(r["steps"]),
                f"{m / snn:.2f}" if snn else "-",
                "-" if r["traces"] is None else str(r["traces"]),
            ]
        )
    summary = []
    if snn and best_ref:
        fastest = min(refs, key=refs.get)
        summary.append(f"snnjax / fastest reference ({fastest}) = {snn / best_ref:.2f}")
    if snn and ann:
        summary.append(f"snnjax / equivalent ANN (ann-jax) = {snn / ann:.2f}")
    xla, ann_xla = res.get("snnjax-xla", {}).get("median_ms"), res.get("ann-jax-xla", {}).get("median_ms")
    if xla and ann_xla:
        summary.append(f"snnjax-xla / ann-jax-xla = {xla / ann_xla:.2f}")
    if name == "w4" and snn:
        summary.append(f"snnjax {1e3 * wl.WORKLOADS['w4']['B'] / snn:.2f} images/s")
    if snn and "ann-torch" in res:
        summary.append(f"snnjax / ann-torch = {snn / res['ann-torch']['median_ms']:.2f}")
    return rows, summary


@functools.cache
def _command() -> str:
    """This invocation, with the time it started (one for all its workloads)."""
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return f"`python benchmarks/run_all.py {' '.join(sys.argv[1:])}` ({when})"


def render(all_out: dict, args) -> str:
    import common  # noqa: F401  (table helper)

    header = ["workload", "implementation", "median ms/step", "steps", "x snnjax", "jit traces"]
    rows, notes = [], []
    versions = {}
    for name, out in all_out.items():
        r, s = table_rows(name, out)
        rows += r
        notes.append(
            f"- {wl.DESCRIPTION[name]}: "
            + "; ".join(s)
            + f" (load average during run: {', '.join(out['load'])})"
        )
        for v in out["results"].values():
            versions.update(v["versions"])
    ver = ", ".join(f"{k} {v}" for k, v in sorted(versions.items()))
    commands = dict.fromkeys(out.get("command") or _command() for out in all_out.values())
    machine = f"{platform.machine()} {platform.processor() or ''} {os.cpu_count()} cores"
    md = [
        f"Machine: {machine}, {platform.system()} {platform.release()}; "
        f"python {platform.python_version()}; {ver}.",
        *(f"Command: {c}." for c in commands),
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(r) + " |" for r in rows),
        "",
        *notes,
    ]
    return "\n".join(md)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workloads", nargs="+", default=["w1", "w2", "w3"])
    ap.add_argument("--impls", nargs="+", default=list(DEFAULT_IMPLS))
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--per-round", type=int, default=3)
    ap.add_argument("--T", type=int, default=None, help="override the number of time steps")
    ap.add_argument(
        "--malloc",
        choices=("system", "retain"),
        default="retain",
        help="glibc malloc of every worker: snnjax.runtime.RETAIN_ENV (keeps freed memory, what snnjax.main "
        "sets on CPU) or the system default",
    )
    ap.add_argument(
        "--convs",
        choices=("xla", "ynnpack"),
        default="xla",
        help="convolutions of every JAX worker: XLA's own (snnjax.runtime.use_xla_convolutions, what "
        "snnjax.main sets on CPU) or YNNPACK's (jaxlib's default)",
    )
    ap.add_argument(
        "--bench-python",
        default=os.path.expanduser("~/.cache/snnjax/bench-venv/bin/python"),
        help="python of the reference environment made by benchmarks/references/setup_env.sh",
    )
    ap.add_argument("--readme", default=None, help="rewrite the results section of this markdown file")
    ap.add_argument(
        "--marker", default="results", help="rewrite between <!-- MARKER --> and <!-- /MARKER -->"
    )
    ap.add_argument("--json", default=None, help="also write the raw results here")
    ap.add_argument(
        "--from-json",
        nargs="+",
        default=None,
        help="render saved --json results (later files win) instead of running",
    )
    args = ap.parse_args()
    _command()  # the start time, stated once for all workloads
    if args.from_json:
        all_out = {}
        for path in args.from_json:
            with open(path) as f:
                all_out.update(json.load(f))
        all_out = {k: all_out[k] for k in sorted(all_out)}
        finish(all_out, args)
        return
    impls = list(args.impls)
    if not os.path.exists(args.bench_python):
        print(f"no reference environment at {args.bench_python}: run benchmarks/references/setup_env.sh")
        impls = [i for i in impls if i.partition("+")[0] in JAX_LOCAL]
    all_out = {}
    for name in args.workloads:
        print(f"{name}: {wl.DESCRIPTION[name]}", flush=True)
        all_out[name] = run_workload(name, impls, args)
    finish(all_out, args)


def finish(all_out: dict, args) -> None:
    md = render(all_out, args)
    print("\n" + md)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(all_out, f, indent=1)
    if args.readme:
        write_marked(args.readme, args.marker, md)


if __name__ == "__main__":
    main()
