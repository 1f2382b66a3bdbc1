"""One implementation of one workload, driven over stdin/stdout so that the runner can interleave
several implementations (each in its own process and environment).

    python benchmarks/worker.py IMPL WORKLOAD [--T N]

Protocol (one JSON object per output line): after setup and warm-up it prints ``{"ready": ...}``;
each input line ``run K`` runs K steps and prints their times in ms; ``done`` prints the final
statistics (trace count for JAX impls) and exits.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import workloads as wl

TORCH_IMPLS = ("spikingjelly", "spikingjelly-static", "snntorch", "norse", "ann-torch")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("impl")
    ap.add_argument("workload")
    ap.add_argument("--T", type=int, default=None)
    ap.add_argument("--warmup", type=int, default=3)
    args = ap.parse_args()
    s = wl.spec(args.workload, T=args.T)
    t0 = time.perf_counter()
    if args.impl in TORCH_IMPLS:
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "references"))
        import impl_torch as impl
    elif args.impl == "spyx":
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "references"))
        import impl_spyx as impl
    elif args.impl == "snnjax-public":
        import public_api as impl
    else:
        import impl_jax as impl
    try:
        bench = impl.build(args.impl, s)
        for _ in range(args.warmup):
            bench.step()
    except NotImplementedError as e:
        print(json.dumps({"skip": str(e)}), flush=True)
        return
    print(
        json.dumps({"ready": True, "setup_s": time.perf_counter() - t0, "versions": impl.versions()}),
        flush=True,
    )
    for line in sys.stdin:
        cmd = line.split()
        if not cmd:
            continue
        if cmd[0] == "run":
            times = []
            for _ in range(int(cmd[1])):
                t = time.perf_counter()
                bench.step()
                times.append((time.perf_counter() - t) * 1e3)
            print(json.dumps({"times_ms": times}), flush=True)
        elif cmd[0] == "done":
            print(json.dumps({"traces": getattr(bench, "traces", None), "steps": bench.i}), flush=True)
            return


if __name__ == "__main__":
    main()
