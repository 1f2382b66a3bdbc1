"""``python -m snnjax.convert``: PyTorch weights -> an snnjax workdir, or a workdir -> PyTorch weights.

::

    python -m snnjax.convert --config configs/X.py[:arg] [--config.KEY=VALUE ...] --from W.pth --workdir DIR
    python -m snnjax.convert --workdir DIR --to W.npz|W.safetensors [--checkpoint best]

Errors end in one line ``error: ...`` and exit status 1 (2 for bad arguments).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m snnjax.convert", description=__doc__.splitlines()[0])
    p.add_argument("--config", help="experiment config (configs/*.py[:arg]) the weights belong to")
    p.add_argument(
        "--from", dest="source", help="PyTorch weights: .pth/.pt (needs torch), .npz, .safetensors"
    )
    p.add_argument("--workdir", required=True, help="the workdir to create (--from) or read (--to)")
    p.add_argument(
        "--to", dest="out", help="write the workdir's weights with the authors' keys (.npz/.safetensors)"
    )
    p.add_argument("--checkpoint", default="latest", choices=("latest", "best"), help="with --to")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from snnjax.main import split_config_overrides

    argv = list(sys.argv[1:] if argv is None else argv)
    rest, overrides = split_config_overrides(argv)
    parser = _parser()
    try:
        args = parser.parse_args(rest)
    except SystemExit as e:  # argparse printed the usage and its error
        return int(e.code or 0)
    if (args.source is None) == (args.out is None):
        print("error: pass either --from WEIGHTS (with --config) or --to OUT", file=sys.stderr)
        return 2
    if args.source is not None and not args.config:
        print("error: --from needs --config: the experiment config the weights belong to", file=sys.stderr)
        return 2
    import logging

    from snnjax import convert
    from snnjax.errors import SnnjaxError

    logging.getLogger().setLevel(logging.ERROR)  # orbax's notes on the checkpoint it is asked to write

    try:
        if args.source is not None:
            from snnjax.config import load_config

            result = convert.to_workdir(load_config(args.config, overrides), args.source, args.workdir)
        else:
            result = convert.from_workdir(args.workdir, args.out, args.checkpoint)
    except SnnjaxError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"error: {e.filename + ': ' if e.filename else ''}{e.strerror or e}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
