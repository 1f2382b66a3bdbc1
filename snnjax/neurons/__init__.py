"""Pure spiking-neuron step functions ``step(state, x, params) -> (state, spike)``.

Every neuron record has ``init_state(shape, dtype)``, ``step(state, x, key=None)`` and a class flag
``stochastic`` (whether ``step`` needs a PRNG key per time step). Each neuron class is registered in
``snnjax.registry.NEURONS`` under its config name; its dataclass fields are its config keys.
"""

from snnjax.neurons.lif import IF, LIF, LIFState, apply_reset, integrate, lif_step
from snnjax.neurons.multithreshold import (
    DualThresholdLIF,
    MultiState,
    SharedThresholdLIF,
    dual_threshold_step,
    shared_threshold_step,
)
from snnjax.neurons.noisy import (
    GaussianNoise,
    LogisticNoise,
    Noise,
    NoisyLIF,
    TriangularNoise,
    UniformNoise,
    bernoulli_spike,
    noisy_lif_step,
)

__all__ = [
    "IF",
    "LIF",
    "DualThresholdLIF",
    "GaussianNoise",
    "LIFState",
    "LogisticNoise",
    "MultiState",
    "Noise",
    "NoisyLIF",
    "SharedThresholdLIF",
    "TriangularNoise",
    "UniformNoise",
    "apply_reset",
    "bernoulli_spike",
    "dual_threshold_step",
    "integrate",
    "lif_step",
    "noisy_lif_step",
    "shared_threshold_step",
]
