"""``python -m snnjax.nir export --workdir W --out model.nir``: a trained workdir as a NIR file.

Prints the written path and the graph's nodes; errors end in one ``error:`` line and exit status 1.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from snnjax.errors import SnnjaxError


def export_workdir(workdir: str, out: str, *, checkpoint: str = "latest", dt: float = 1.0):
    """Writes the NIR graph of ``workdir``'s model (``checkpoint``: latest | best) to ``out``."""
    import numpy as np

    import snnjax
    from snnjax import nir as snnjax_nir
    from snnjax.data import specs

    snnjax_nir.require_nir()
    model, config = snnjax.load(workdir, checkpoint=checkpoint)
    _, shape = specs.input_info(config.data)
    sample = np.zeros((1, *shape), np.float32)
    metadata = dict(dataset=str(config.data.name), normalize=bool(config.data.normalize))
    graph = snnjax_nir.export(model, sample, dt=dt, metadata=metadata)
    snnjax_nir.write(out, graph)
    return graph


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m snnjax.nir", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    export = commands.add_parser("export", help="write a trained workdir's model as a NIR graph")
    export.add_argument("--workdir", required=True, help="a trained workdir (config.json, checkpoints/)")
    export.add_argument("--out", required=True, help="the .nir file to write")
    export.add_argument("--checkpoint", choices=("latest", "best"), default="latest")
    export.add_argument("--dt", type=float, default=1.0, help="NIR time of one step (snnTorch reads 1e-4)")
    args = parser.parse_args(argv)
    try:
        graph = export_workdir(args.workdir, args.out, checkpoint=args.checkpoint, dt=args.dt)
    except SnnjaxError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {args.out}: {' -> '.join(f'{k} ({type(v).__name__})' for k, v in graph.nodes.items())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
