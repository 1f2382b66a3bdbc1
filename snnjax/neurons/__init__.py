"""Pure spiking-neuron step functions ``step(state, x, params) -> (state, spike)``.

Every neuron record has ``init_state(shape, dtype)``, ``step(state, x, key=None)`` and a class flag
``stochastic`` (whether ``step`` needs a PRNG key per time step). The families: LIF / IF (``lif``), ALIF
(``adaptive``), current-based LIF (``cuba``), the non-spiking leaky integrator LI (``integrator``), NSNN's
noisy LIF (``noisy``) and Spiking-Mix's graded multi-threshold LIFs (``multithreshold``). Each neuron
class is registered in ``snnjax.registry.NEURONS`` under its config name; its dataclass fields are its
config keys.
"""

from snnjax.neurons.adaptive import ALIF, ALIFState, alif_step
from snnjax.neurons.cuba import CubaLIF, CubaState, cuba_lif_step
from snnjax.neurons.integrator import LI, li_step
from snnjax.neurons.lif import IF, LIF, LIFState, apply_reset, fire, integrate, lif_step
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
    "ALIF",
    "IF",
    "LI",
    "LIF",
    "ALIFState",
    "CubaLIF",
    "CubaState",
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
    "alif_step",
    "apply_reset",
    "bernoulli_spike",
    "cuba_lif_step",
    "dual_threshold_step",
    "fire",
    "integrate",
    "li_step",
    "lif_step",
    "noisy_lif_step",
    "shared_threshold_step",
]
