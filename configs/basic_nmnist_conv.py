"""SNN basic task (xjtulyc/SNN_basic_task, ``LIF/spike_counter.py``): the snnTorch conv SNN on N-MNIST.

``Conv5x5(2 -> 12) -> MaxPool2 -> Leaky -> Conv5x5(12 -> 32) -> MaxPool2 -> Leaky -> Flatten ->
Linear(800 -> 10) -> Leaky`` on 34x34 two-polarity event frames; snnTorch ``Leaky`` (beta 0.5, threshold
1, subtract reset applied at the next step and detached, ATan surrogate alpha 2); events denoised with a
10 ms filter and integrated into frames of about 1 ms (tonic ``ToFrame(time_window=1000)``; here T=300
equal time windows over each ~300 ms recording); spike-count MSE loss (correct 0.8, incorrect 0.2); Adam
2e-2, betas (0.9, 0.999). The task trains with batch 128 (its notebook; ``spike_counter.py`` uses batch 1
on every 100th training sample) for 10 epochs, with a random rotation by up to 10 degrees, which snnjax does
not implement; the denoise filter looks at the 8 neighbours (tonic's at the 4 direct ones).
18,254 parameters.

``:notebook``: the order of ``neuromorphic_datasets.ipynb``, each Leaky before its MaxPool.

Expected: the task reports no test accuracy, only a training-batch accuracy curve of ``spike_counter.py``
rising from about 0.38 to 0.90 over its 10 epochs; not trained here. Needs the N-MNIST files in
``--config.data.dir`` (``Train|Test/<digit>/*.bin``).
"""

from snnjax.config import base_config, parse_arg
from snnjax.models import basic


def get_config(order: str = "script"):
    order = parse_arg(order, ("script", "notebook"), "script")
    config = base_config()
    config.data.update(name="nmnist", split_by="time", denoise_us=10_000.0, num_frames=0)
    config.model = basic.model_config(
        "snntorch_convnet",
        num_steps=300,
        encoding="events",
        channels=(12, 32),
        kernel_size=5,
        pool_first=order == "script",
        readout="spikes",
    )
    config.model.neuron.lif.update(
        decay=0.5, v_th=1.0, reset="soft_delayed", detach_reset=True, surrogate="atan(alpha=2.0)"
    )
    config.loss.update(name="count_mse", correct_rate=0.8, incorrect_rate=0.2)
    config.optim.update(name="adam", learning_rate=2e-2, b1=0.9, b2=0.999, schedule="constant")
    config.train.update(batch_size=128, eval_batch_size=500, num_epochs=10, log_every=50)
    return config
