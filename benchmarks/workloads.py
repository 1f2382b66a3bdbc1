"""Workload definitions shared by every implementation (no framework import: used by both venvs).

A step is one full training step unless noted: forward over T, loss, backward, Adam update
(lr 1e-3). LIF everywhere: decay 0.5 (tau 2), threshold 1.0, hard reset to 0.

- w1 mlp:  784 -> dense 512 -> LIF -> dense 10 -> LIF, T=25, batch 128, rate-coded (Bernoulli) input
  sampled inside the step, loss = cross-entropy of the mean output spike rate, Adam.
- w2 conv: 1x28x28 direct-coded (repeated) over T=8, conv3x3(32)+BN+LIF, maxpool2, conv3x3(64)+BN+LIF,
  maxpool2, dense 10, mean over time, cross-entropy, batch 64, Adam.
- w3 lif:  dense 1024 -> 1024 -> LIF over T=100, batch 16, forward + backward only (loss = mean spike
  rate; gradient w.r.t. all parameters, no optimizer) as in the open-neuromorphic benchmark.
- w4 msresnet: the CIFAR GAC-MS-ResNet-18 (``snnjax.models.msresnet``, 12.6M parameters) at T=4,
  batch 8 of 32x32x3 images, mean-over-time cross-entropy, Adam (JAX implementations only).

The equivalent ANN (``ann-*``) is the same network with ReLU in place of each neuron, applied on the
``T * B`` folded batch (for w1 the Bernoulli-coded input is kept), the floor an SNN step cannot beat.
Inputs are random (uniform pixel intensities, random labels): step cost does not depend on the data.
"""

from __future__ import annotations

WORKLOADS: dict[str, dict] = {
    "w1": dict(kind="mlp", T=25, B=128, n_in=784, hidden=512, classes=10, optimizer=True),
    "w2": dict(kind="conv", T=8, B=64, hw=28, channels=(32, 64), classes=10, optimizer=True),
    "w3": dict(kind="lif", T=100, B=16, n=1024, optimizer=False),
    "w4": dict(kind="msresnet", T=4, B=8, hw=32, classes=10, optimizer=True, gac=True),
    "spide": dict(
        kind="spide", T=30, B=128, hw=28, c=1, classes=10, optimizer=True, config="spide_mnist_lenet"
    ),
    "spide-alexnetf": dict(
        kind="spide", T=30, B=16, hw=32, c=3, classes=10, optimizer=True, config="spide_cifar"
    ),
}

DESCRIPTION = {
    "w1": "W1 mlp 784-512-LIF-10-LIF, T=25, B=128, rate input, Adam",
    "w2": "W2 conv 2x(conv3x3+BN+LIF+pool)+dense, T=8, B=64, Adam",
    "w3": "W3 dense 1024 + LIF, T=100, B=16, fwd+bwd",
    "w4": "W4 CIFAR GAC-MS-ResNet-18, T=4, B=8, Adam",
    "spide": "SPIDE MNIST LeNet (configs/spide_mnist_lenet.py), T=30, T_b=100, B=128, Adam",
    "spide-alexnetf": "SPIDE CIFAR AlexNet-F (configs/spide_cifar.py), T=30, T_b=250, B=16, Adam",
}

LR = 1e-3
DECAY = 0.5
V_TH = 1.0


def spec(name: str, **overrides) -> dict:
    """The workload's parameters, with overrides (e.g. ``T=32``)."""
    if name not in WORKLOADS:
        raise SystemExit(f"unknown workload {name!r}; choose one of {sorted(WORKLOADS)}")
    return {**WORKLOADS[name], **{k: v for k, v in overrides.items() if v is not None}}
