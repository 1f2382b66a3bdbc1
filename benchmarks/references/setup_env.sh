#!/usr/bin/env bash
# Creates the reference-library environment for benchmarks/run_all.py (default: ~/.cache/snnjax/bench-venv).
#
#   bash benchmarks/references/setup_env.sh [VENV_DIR]
#
# torch==2.13.0 (the CPU build found on these machines) is installed first; the SNN libraries follow with
# --no-deps plus only the modules they import at runtime, so pip never replaces torch. The script ends by
# checking that torch is still 2.13.0 (CPU) and that every library imports. spyx is a JAX library: it
# gets jax/flax/optax pinned to the versions of the snnjax environment.
set -euo pipefail

VENV="${1:-$HOME/.cache/snnjax/bench-venv}"
PY="${PYTHON:-python3}"
JAX_VER="${JAX_VER:-0.10.2}"
FLAX_VER="${FLAX_VER:-0.12.8}"
OPTAX_VER="${OPTAX_VER:-0.2.8}"

if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
PIP="$VENV/bin/python -m pip"

$PIP install -q "torch==2.13.0"
# runtime imports of the SNN libraries (their full dependency lists pull torchvision/torchaudio/
# tensorboard/... which they do not need for these workloads)
$PIP install -q numpy scipy tqdm packaging "loguru>=0.7,<1" h5py matplotlib
$PIP install -q "jax==$JAX_VER" "jaxlib==$JAX_VER" "flax==$FLAX_VER" "optax==$OPTAX_VER" jax-tqdm grain
$PIP install -q --no-deps nir nirtorch
$PIP install -q --no-deps spikingjelly snntorch norse spyx

"$VENV/bin/python" - <<'EOF'
import importlib
import torch

assert torch.__version__.startswith("2.13.0"), f"torch was replaced: {torch.__version__}"
assert not torch.cuda.is_available() or "+cpu" not in torch.__version__
print("torch", torch.__version__)
for name in ("spikingjelly", "snntorch", "norse", "spyx", "jax", "flax"):
    mod = importlib.import_module(name)
    print(name, getattr(mod, "__version__", "?"))
# the submodules the benchmark uses
import spikingjelly.activation_based.neuron  # noqa: F401
import snntorch  # noqa: F401
import norse.torch  # noqa: F401
import spyx.nn  # noqa: F401
print("reference environment OK:", __import__("sys").prefix)
EOF
