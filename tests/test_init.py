"""``import snnjax``: the public namespace loads lazily and carries the version."""

import subprocess
import sys

import snnjax


def test_import_is_cheap_and_starts_no_jax():
    code = "import sys, snnjax; print('jax' in sys.modules, snnjax.__version__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", snnjax.__version__]


def test_public_namespace():
    assert snnjax.__version__.count(".") == 2
    for name in ("neurons", "layers", "surrogate", "config", "models", "data", "train", "registry"):
        assert getattr(snnjax, name).__name__ == f"snnjax.{name}"
    assert set(snnjax.__all__) <= set(dir(snnjax))
    assert snnjax.registry.NEURONS.get("lif") is snnjax.neurons.LIF


def test_load_and_predict_are_top_level():
    assert snnjax.load is snnjax.inference.load and snnjax.predict is snnjax.inference.predict
    assert {"load", "predict", "inference"} <= set(dir(snnjax))
