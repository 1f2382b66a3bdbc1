"""PyTorch implementations of the workloads (``benchmarks/workloads.py``) in the reference environment
(``benchmarks/references/setup_env.sh``): spikingjelly (multi-step mode; ``spikingjelly-static``: with
the first conv + BN run once on a direct-coded image, spikingjelly's ``static_conv`` idiom), snnTorch, Norse
and the equivalent ANN in plain PyTorch.

Every library gets the same network; stateless layers (dense, conv, BN, pool) run on the time-folded
batch ``[T * B, ...]`` (spikingjelly's multi-step layers do this themselves; for snnTorch and Norse we
fold by hand, which is their fastest form), neurons step over time with each library's own LIF:
spikingjelly ``LIFNode(tau=2, v_threshold=1, decay_input=True)`` (its PyTorch path: no CUDA/cupy here),
snnTorch ``Leaky(beta=0.5, threshold=1, reset_mechanism='zero')``, Norse ``LIFBoxCell`` (no synaptic
current) with ``dt * tau_mem_inv = 0.5``; each with its default surrogate gradient.
"""

from __future__ import annotations

import os
import sys

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import workloads as wl

IMPLS = ("spikingjelly", "spikingjelly-static", "snntorch", "norse", "ann-torch")


def _neuron_factory(lib: str):
    """Returns ``make(n_features) -> module mapping [T, B, ...] currents to [T, B, ...] spikes``."""
    if lib in ("spikingjelly", "spikingjelly-static"):
        from spikingjelly.activation_based import neuron

        return lambda: neuron.LIFNode(tau=2.0, v_threshold=wl.V_TH, v_reset=0.0, step_mode="m")
    if lib == "snntorch":
        import snntorch as snn

        class Loop(nn.Module):
            def __init__(self):
                super().__init__()
                self.lif = snn.Leaky(beta=wl.DECAY, threshold=wl.V_TH, reset_mechanism="zero")

            def forward(self, x):
                mem = torch.zeros_like(x[0])
                out = []
                for t in range(x.shape[0]):
                    spk, mem = self.lif(x[t], mem)
                    out.append(spk)
                return torch.stack(out)

        return Loop
    if lib == "norse":
        from norse.torch import LIFBoxCell, LIFBoxParameters

        dt = 1e-3
        p = LIFBoxParameters(tau_mem_inv=torch.as_tensor(wl.DECAY / dt), v_th=torch.as_tensor(wl.V_TH))

        class Loop(nn.Module):
            def __init__(self):
                super().__init__()
                self.cell = LIFBoxCell(p, dt=dt)

            def forward(self, x):
                state, out = None, []
                for t in range(x.shape[0]):
                    z, state = self.cell(x[t], state)
                    out.append(z)
                return torch.stack(out)

        return Loop
    if lib == "ann-torch":
        return nn.ReLU
    raise SystemExit(f"unknown torch impl {lib!r}; choose one of {IMPLS}")


class TimeFolded(nn.Module):
    """Applies a stateless module on ``[T * B, ...]``."""

    def __init__(self, *mods: nn.Module):
        super().__init__()
        self.m = nn.Sequential(*mods)

    def forward(self, x):
        y = self.m(x.flatten(0, 1))
        return y.reshape(x.shape[0], x.shape[1], *y.shape[1:])


class StaticInput(nn.Module):
    """spikingjelly's idiom for a direct-coded image (its ``static_conv``): the first time-folded block runs
    once on ``x[0]`` and its output is repeated over time (snnjax does the same:
    ``models.blocks.stem_over_time``)."""

    def __init__(self, block: TimeFolded):
        super().__init__()
        self.block = block

    def forward(self, x):
        y = self.block.m(x[0])
        return y.unsqueeze(0).repeat(x.shape[0], *([1] * y.ndim))


class Net(nn.Module):
    def __init__(self, s: dict, lib: str):
        super().__init__()
        neuron = _neuron_factory(lib)
        ann = lib == "ann-torch"
        self.kind, self.T, self.ann = s["kind"], s["T"], ann
        if s["kind"] == "mlp":
            mods = [TimeFolded(nn.Linear(s["n_in"], s["hidden"])), neuron()]
            mods += [TimeFolded(nn.Linear(s["hidden"], s["classes"])), neuron()]
        elif s["kind"] == "conv":
            c, hw, mods = 1, s["hw"], []
            for w in s["channels"]:
                mods += [TimeFolded(nn.Conv2d(c, w, 3, padding=1, bias=False), nn.BatchNorm2d(w)), neuron()]
                mods += [TimeFolded(nn.MaxPool2d(2))]
                c, hw = w, hw // 2
            mods += [TimeFolded(nn.Flatten(), nn.Linear(c * hw * hw, s["classes"]))]
        else:
            mods = [TimeFolded(nn.Linear(s["n"], s["n"])), neuron()]
        if lib == "spikingjelly-static":
            if s["kind"] != "conv":
                raise NotImplementedError("spikingjelly-static: w2 only (a static input to a conv)")
            mods[0] = StaticInput(mods[0])
        if ann:  # ReLU is stateless: fold it as well
            mods = [TimeFolded(m) if isinstance(m, nn.ReLU) else m for m in mods]
        self.net = nn.Sequential(*mods)

    def forward(self, x):
        return self.net(x)


class Bench:
    def __init__(self, lib: str, s: dict):
        torch.manual_seed(0)
        self.lib, self.s, self.i = lib, s, 0
        self.net = Net(s, lib)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=wl.LR) if s["optimizer"] else None
        b = s["B"]
        if s["kind"] == "mlp":
            self.x = torch.rand(b, s["n_in"])
        elif s["kind"] == "conv":
            self.x = torch.rand(b, 1, s["hw"], s["hw"])
        else:
            self.x = torch.rand(s["T"], b, s["n"])
        self.y = torch.randint(0, s.get("classes", 10), (b,))

    def step(self) -> None:
        self.i += 1
        s = self.s
        if s["kind"] == "mlp":
            inp = torch.bernoulli(self.x.expand(s["T"], *self.x.shape))
        elif s["kind"] == "conv":
            inp = self.x.unsqueeze(0).expand(s["T"], *self.x.shape)
        else:
            inp = self.x
        out = self.net(inp)
        lif = s["kind"] == "lif"
        loss = out.mean() if lif else nn.functional.cross_entropy(out.mean(0), self.y)
        if self.opt is not None:
            self.opt.zero_grad(set_to_none=True)
        else:
            self.net.zero_grad(set_to_none=True)
        loss.backward()
        if self.opt is not None:
            self.opt.step()
        if self.lib.startswith("spikingjelly"):
            from spikingjelly.activation_based import functional

            functional.reset_net(self.net)


def build(impl: str, s: dict) -> Bench:
    return Bench(impl, s)


def versions() -> dict:
    import importlib

    out = {"torch": torch.__version__, "torch_threads": torch.get_num_threads()}
    for name in ("spikingjelly", "snntorch", "norse"):
        try:
            mod = importlib.import_module(name)
            out[name] = getattr(mod, "__version__", None) or _dist_version(name)
        except ImportError:
            pass
    return out


def _dist_version(name: str) -> str:
    from importlib.metadata import version

    try:
        return version(name)
    except Exception:
        return "?"
