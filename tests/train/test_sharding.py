"""Data parallelism: the same config on 8 simulated CPU devices gives the single-device losses."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.train.conftest import REPO

SCRIPT = """
import json, sys
sys.path.insert(0, {repo!r})
import jax
from snnjax.config import load_config
from snnjax.models import basic
from snnjax.train.loop import Run
config = load_config('configs/quickstart.py', ['train.batch_size=64', 'train.eval_batch_size=360'])
if {conv!r}:  # a conv net folds time into the (sharded) batch
    config.model = basic.model_config('convnet', num_steps=8, channels=(8, 16), dropout=0.1)
run = Run(config)
it = iter(run.train_data)
losses = []
for step in range(6):
    batch = next(it)
    losses.append(float(run.train_step(step, batch)['loss']))
sharding = run.steps.shard_batch(batch)['image'].sharding
print(json.dumps({{'devices': jax.device_count(), 'losses': losses,
                  'shards': len(sharding.device_set), 'accuracy': run.evaluate()['test_accuracy']}}))
"""


def _run(devices: int, conv: bool) -> dict:
    env = {
        **os.environ,
        "JAX_PLATFORMS": "cpu",
        "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}",
    }
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(repo=str(REPO), conv=conv)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize("conv", [False, True])
def test_eight_devices_match_one_device(conv):
    one, eight = _run(1, conv), _run(8, conv)
    assert one["devices"] == 1 and eight["devices"] == 8
    assert eight["shards"] == 8  # the batch really is split 8 ways
    np.testing.assert_allclose(eight["losses"], one["losses"], rtol=2e-5, atol=1e-6)
    assert abs(eight["accuracy"] - one["accuracy"]) <= 1 / 360 + 1e-9
