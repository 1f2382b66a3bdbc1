"""Page faults and kernel time of a training step, with glibc's default malloc and with snnjax.runtime's.

Each setting runs in a fresh process (glibc reads its malloc settings at start-up): build the workload's
snnjax step, 3 warm-up steps, then ``--steps`` timed steps; report minor page faults, user and system CPU
seconds and wall milliseconds per step, and the wall-time ratio.

    python benchmarks/page_faults.py [--workload w2] [--impl snnjax] [--steps 40]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def measure(impl: str, workload: str, steps: int) -> dict:
    import impl_jax
    import workloads as wl

    bench = impl_jax.build(impl, wl.spec(workload))
    for _ in range(3):
        bench.step()
    r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    for _ in range(steps):
        bench.step()
    wall, r1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF)
    return {
        "faults": (r1.ru_minflt - r0.ru_minflt) / steps,
        "user_s": (r1.ru_utime - r0.ru_utime) / steps,
        "sys_s": (r1.ru_stime - r0.ru_stime) / steps,
        "ms": 1e3 * wall / steps,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workload", default="w2")
    ap.add_argument("--impl", default="snnjax")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(measure(args.impl, args.workload, args.steps)))
        return
    from snnjax.runtime import RETAIN_ENV

    base_env = {k: v for k, v in os.environ.items() if k not in RETAIN_ENV}
    cmd = [sys.executable, __file__, "--child", "--workload", args.workload, "--impl", args.impl]
    cmd += ["--steps", str(args.steps)]
    rows = {}
    for name, env in (("system", base_env), ("retain", {**base_env, **RETAIN_ENV})):
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
        rows[name] = json.loads(out.strip().splitlines()[-1])
    print(f"{args.impl} {args.workload}, {args.steps} steps after 3 warm-up steps, per step:")
    print("| malloc | minor page faults | user CPU s | system CPU s | wall ms | x system |")
    print("|---|---|---|---|---|---|")
    for name, r in rows.items():
        ratio = r["ms"] / rows["system"]["ms"]
        cpu = f"{r['user_s']:.3f} | {r['sys_s']:.3f}"
        print(f"| {name} | {r['faults']:,.0f} | {cpu} | {r['ms']:.1f} | {ratio:.2f} |")


if __name__ == "__main__":
    main()
