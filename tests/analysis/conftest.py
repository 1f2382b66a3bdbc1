"""Tiny trained workdirs, one per model family, shared by the analysis-mode tests.

Every family is reduced to a few channels / neurons, T = 2 (SPIDE: T = 4, T_b = 4) and scikit-learn's 8x8
digits (no download), and trained for 2 steps: enough to restore a checkpoint and run an analysis mode.
"""

from __future__ import annotations

import pytest

from snnjax import config as config_lib
from tests.train.conftest import REPO

COMMON = ("data.name=digits", "train.num_steps=2", "train.batch_size=16", "train.eval_batch_size=120",
          "train.log_every=1", "train.eval_every_epochs=100.0")  # fmt: skip

# config -> overrides reducing it (beside COMMON)
FAMILIES = {
    "quickstart": ("model.num_steps=2", "model.hidden=(16,)"),
    "basic_mnist_conv": ("model.num_steps=2", "model.channels=(4,8)", "model.hidden=(16,)",
                         "data.crop_padding=0"),
    "msresnet_cifar_small": ("model.num_steps=2", "model.stem_width=4", "model.widths=(4,8)",
                             "model.blocks=(1,1)", "data.crop_padding=0", "data.flip=False", "mix.name=none"),
    "nsnn_fmnist_small": ("model.num_steps=2", "model.hidden=16"),
    "spikingmix_fmnist_small": ("model.num_steps=2", "model.planes=(8,16)", "model.group_size=16"),
    "spide_mnist_lenet": ("model.num_steps=4", "model.backward_steps=4", "model.dropout=0.0"),
    "basic_mnist_hybrid": (),
}  # fmt: skip


def family_config(name: str, *overrides: str):
    """The reduced config of family ``name`` (a key of :data:`FAMILIES`)."""
    spec = str(REPO / "configs" / f"{name}.py")
    return config_lib.load_config(spec, [*COMMON, *FAMILIES[name], *overrides])


@pytest.fixture(scope="session")
def trained_workdirs(tmp_path_factory):
    """``get(name) -> workdir``: trains family ``name`` (reduced) once per session."""
    from snnjax.train import loop

    done: dict[str, str] = {}

    def get(name: str) -> str:
        if name not in done:
            workdir = tmp_path_factory.mktemp(name)
            loop.train_and_evaluate(family_config(name), str(workdir))
            done[name] = str(workdir)
        return done[name]

    return get
