"""Peak memory and step time of the CIFAR GAC-MS-ResNet-18 training step in spikingjelly (reference for
``benchmarks/memory.py``), run in the reference environment (``benchmarks/references/setup_env.sh``).

    PY=~/.cache/snnjax/bench-venv/bin/python
    $PY benchmarks/references/msresnet_spikingjelly.py --T 6 --batch 8 --steps 3

The network follows ``snnjax.models.msresnet`` (CIFAR variant): stem Conv3x3(64) + BN run once on the
image and repeated over T (spikingjelly's ``static_conv`` idiom, as snnjax does), GAC (temporal attention
MLP over T and two 4x4 'same' convs, gate ``sigmoid(TA * SCA) * LIF(X)``), membrane-shortcut blocks
[3, 3, 2] at 128/256/512 (``BN(Conv(LIF(BN(Conv(LIF(x)))))) + shortcut(x)``), head LIF, mean pool, Linear.
Neurons: spikingjelly ``LIFNode(tau=2, decay_input=False, v_threshold=1, v_reset=0)`` in multi-step mode
(``h = 0.5 v + x``, hard reset, GAC-CIFAR's LIF) with its default surrogate; multi-step layers run on
``[T * B, ...]``. SGD with momentum 0.9 (as configs/msresnet_cifar.py). Prints one JSON line: the
process's peak RSS (``VmHWM``) before and after the steps, and the step times.
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import torch
import torch.nn.functional as F
from spikingjelly.activation_based import functional, layer, neuron
from torch import nn


def lif():
    return neuron.LIFNode(tau=2.0, decay_input=False, v_threshold=1.0, v_reset=0.0, step_mode="m")


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.lif1, self.lif2 = lif(), lif()
        self.conv1 = layer.Conv2d(cin, cout, 3, stride, 1, bias=False, step_mode="m")
        self.bn1 = layer.BatchNorm2d(cout, step_mode="m")
        self.conv2 = layer.Conv2d(cout, cout, 3, 1, 1, bias=False, step_mode="m")
        self.bn2 = layer.BatchNorm2d(cout, step_mode="m")
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                layer.Conv2d(cin, cout, 1, stride, bias=False, step_mode="m"),
                layer.BatchNorm2d(cout, step_mode="m"),
            )

    def forward(self, x):  # [T, B, C, H, W] real-valued membrane drive
        y = self.bn2(self.conv2(self.lif2(self.bn1(self.conv1(self.lif1(x))))))
        return y + (x if self.shortcut is None else self.shortcut(x))


class GAC(nn.Module):
    def __init__(self, c, t, k=4):
        super().__init__()
        self.ta = nn.Sequential(nn.Linear(t, t // 2, bias=False), nn.ReLU(), nn.Linear(t // 2, t, bias=False))
        self.sca = nn.Sequential(
            nn.Conv2d(c, c, k, padding="same", bias=False),
            nn.ReLU(),
            nn.Conv2d(c, c, k, padding="same", bias=False),
        )

    def forward(self, x_static, s, t):  # x_static [B, C, H, W] (same at every step), s [T, B, C, H, W]
        flat = x_static.flatten(1)
        avg = flat.mean(1, keepdim=True).expand(-1, t)
        mx = flat.amax(1, keepdim=True).expand(-1, t)
        ta = (self.ta(avg) + self.ta(mx)).t()  # [T, B]
        gate = torch.sigmoid(ta[:, :, None, None, None] * self.sca(x_static)[None])
        return gate * s


class MSResNet18(nn.Module):
    def __init__(self, t, classes=10):
        super().__init__()
        self.t = t
        self.stem = nn.Sequential(nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64))
        self.encode = lif()
        self.gac = GAC(64, t)
        blocks, c = [], 64
        for width, n, stride in ((128, 3, 1), (256, 3, 2), (512, 2, 2)):
            for j in range(n):
                blocks.append(Block(c, width, stride if j == 0 else 1))
                c = width
        self.blocks = nn.Sequential(*blocks)
        self.head_lif = lif()
        self.head = nn.Linear(c, classes)

    def forward(self, img):
        z = self.stem(img)  # once: static image (spikingjelly's static_conv idiom)
        x = z[None].expand(self.t, *z.shape)
        x = self.gac(z, self.encode(x), self.t)
        x = self.blocks(x)
        s = self.head_lif(x).mean((3, 4))  # [T, B, C]
        return self.head(s)  # [T, B, classes]


def rss_gib() -> float:
    """Peak resident GiB of this process (``VmHWM``; ``ru_maxrss`` would include the parent's peak)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--T", type=int, default=6)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=3)
    args = ap.parse_args()
    torch.manual_seed(0)
    model = MSResNet18(args.T)
    functional.set_step_mode(model, "m")
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-5)
    x = torch.randn(args.batch, 3, 32, 32)
    y = torch.randint(0, 10, (args.batch,))
    before = rss_gib()
    times = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x).mean(0), y)
        loss.backward()
        opt.step()
        functional.reset_net(model)
        times.append(time.perf_counter() - t0)
    params = sum(p.numel() for p in model.parameters())
    print(
        json.dumps(
            {
                "impl": "spikingjelly",
                "T": args.T,
                "batch": args.batch,
                "params": params,
                "rss_before_gib": before,
                "peak_rss_gib": rss_gib(),
                "step_s": times,
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
            }
        )
    )


if __name__ == "__main__":
    main()
