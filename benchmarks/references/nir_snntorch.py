"""A trained snnjax workdir, exported to NIR, evaluated by snnjax and by snnTorch's NIR importer.

Two steps in two environments (snnTorch needs torch; snnjax does not):

    python -m snnjax --config configs/quickstart.py --workdir W               # train (digits, < 1 min)
    python benchmarks/references/nir_snntorch.py export --workdir W --out D   # snnjax's environment
    ~/.cache/snnjax/bench-venv/bin/python benchmarks/references/nir_snntorch.py snntorch --out D

``export`` writes ``D/model.nir`` with ``dt = 1e-4`` (the step snnTorch's importer assumes) and
``D/test.npz``: the test split, direct-coded in NIR's layout ``[T, B, C, H, W]``, with the snnjax graph's
outputs. ``snntorch`` reads the graph with ``snntorch.import_nir.import_from_nir`` and prints both
accuracies and the largest difference between the two libraries' per-step outputs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def export(workdir: str, out: Path) -> None:
    import jax.numpy as jnp

    import snnjax
    import snnjax.nir
    from snnjax.data import specs
    from snnjax.nir.__main__ import export_workdir

    out.mkdir(parents=True, exist_ok=True)
    export_workdir(workdir, str(out / "model.nir"), dt=1e-4)
    model, config = snnjax.load(workdir)
    images, labels = specs.dataset_spec(config.data.name).read(config.data.dir or None, "test")
    scores = np.asarray(snnjax.predict(model, images, config))
    x = np.transpose(snnjax.inference.preprocess(images, config), (0, 3, 1, 2))
    x = np.broadcast_to(x, (int(config.model.num_steps), *x.shape)).astype(np.float32)
    y = np.asarray(snnjax.nir.load(out / "model.nir", dt=1e-4)(jnp.asarray(x)))
    np.savez_compressed(out / "test.npz", x=x, labels=labels, y=y)
    ours, graph = np.mean(scores.argmax(-1) == labels), np.mean(y.sum(0).argmax(-1) == labels)
    print(f"snnjax: accuracy {ours:.4f} (model), {graph:.4f} (its NIR graph), {len(labels)} test images")


def run_snntorch(out: Path) -> None:
    import nir
    import torch
    from snntorch import utils
    from snntorch.import_nir import import_from_nir

    d = np.load(out / "test.npz")
    net = import_from_nir(nir.read(out / "model.nir"))
    x = torch.from_numpy(d["x"])
    ys = []
    with torch.no_grad():
        # the importer turns NIR's Flatten(start_dim=0) into torch.nn.Flatten(0, -1), which flattens the
        # batch axis too: one sample at a time
        for b in range(x.shape[1]):
            utils.reset(net)
            state, steps = None, []
            for t in range(x.shape[0]):
                y, state = net(x[t, b : b + 1], state)
                steps.append(y.reshape(-1))
            ys.append(torch.stack(steps))
    y = torch.stack(ys, 1).numpy()
    accuracy, gap = np.mean(y.sum(0).argmax(-1) == d["labels"]), np.abs(y - d["y"]).max()
    print(f"snnTorch import_from_nir: accuracy {accuracy:.4f}, max |output - snnjax| {gap:.2e}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=("export", "snntorch"))
    parser.add_argument("--workdir", help="trained workdir (export)")
    parser.add_argument("--out", required=True, type=Path, help="folder for model.nir and test.npz")
    args = parser.parse_args()
    export(args.workdir, args.out) if args.step == "export" else run_snntorch(args.out)
