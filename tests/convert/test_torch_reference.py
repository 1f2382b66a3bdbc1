"""Converted weights compute what PyTorch networks with the authors' module layout compute.

Each network below is written here in PyTorch from the published equations, with the authors' module names
(so its ``state_dict()`` has their keys and layouts), given random weights and BatchNorm statistics,
saved with ``torch.save`` and converted; the snnjax model must reproduce its logits (evaluation mode).
Needs torch (skipped otherwise).
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from snnjax import convert  # noqa: E402
from snnjax.train import loop  # noqa: E402
from snnjax.train.steps import call_recorded  # noqa: E402
from tests.convert.conftest import fixture_config  # noqa: E402


# ------------------------------------------------------------------------------------------- neurons
def lif_cifar(x):
    """GAC-CIFAR LIF on ``[B, T, ...]``: ``u = 0.5 u + x``, spike ``u > 1``, hard reset to 0."""
    u, out = torch.zeros_like(x[:, 0]), []
    for t in range(x.shape[1]):
        u = 0.5 * u + x[:, t]
        s = (u > 1.0).float()
        u = u * (1 - s)
        out.append(s)
    return torch.stack(out, 1)


def lif_jelly(x):
    """spikingjelly LIFNode(tau=2, decay_input, v_reset=0) on ``[T, B, ...]``: fires on ``>=``."""
    v, out = torch.zeros_like(x[0]), []
    for t in range(x.shape[0]):
        h = v + (x[t] - v) / 2.0
        s = (h >= 1.0).float()
        v = h * (1 - s)
        out.append(s)
    return torch.stack(out, 0)


class Seq(nn.Module):
    """``SeqToANNContainer``: the wrapped layer(s) as ``.module`` on ``[B, T, ...]`` folded."""

    def __init__(self, *layers):
        super().__init__()
        self.module = layers[0] if len(layers) == 1 else nn.Sequential(*layers)

    def forward(self, x):
        y = self.module(x.flatten(0, 1))
        return y.view(*x.shape[:2], *y.shape[1:])


def randomise(model: nn.Module, seed: int):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            scale = 1.0 if "weight" in name and p.dim() == 1 else 0.0  # BN weights around 1
            p.copy_(torch.randn(p.shape, generator=g) * (0.5 if p.dim() > 1 else 0.2) + scale)
        for name, b in model.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(torch.randn(b.shape, generator=g) * 0.1)
            elif name.endswith("running_var"):
                b.copy_(torch.rand(b.shape, generator=g) + 0.5)
    return model.eval()


# --------------------------------------------------------------------------------------- GAC-CIFAR
class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = Seq(nn.Conv2d(cin, cout, 3, stride, 1, bias=False))
        self.bn1 = Seq(nn.BatchNorm2d(cout))
        self.conv2 = Seq(nn.Conv2d(cout, cout, 3, 1, 1, bias=False))
        self.bn2 = Seq(nn.BatchNorm2d(cout))
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = Seq(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = self.bn2(self.conv2(lif_cifar(self.bn1(self.conv1(lif_cifar(x))))))
        return out + (x if self.downsample is None else self.downsample(x))


class GACModule(nn.Module):
    def __init__(self, t, c):
        super().__init__()
        self.TA = nn.Module()
        self.TA.sharedMLP = nn.Sequential(
            nn.Conv3d(t, t // 2, 1, bias=False), nn.ReLU(), nn.Conv3d(t // 2, t, 1, bias=False)
        )
        self.SCA = nn.Module()
        self.SCA.sharedMLP = nn.Sequential(
            nn.Conv2d(c, c, 4, padding="same", bias=False),
            nn.ReLU(),
            nn.Conv2d(c, c, 4, padding="same", bias=False),
        )

    def forward(self, x, spikes):  # [B, T, C, H, W]
        mlp = self.TA.sharedMLP
        ta = mlp(x.mean((2, 3, 4), keepdim=True)) + mlp(x.amax((2, 3, 4), keepdim=True))
        sca = self.SCA.sharedMLP(x.flatten(0, 1)).view(x.shape)
        return torch.sigmoid(ta * sca) * spikes


class MSResNetCIFAR(nn.Module):
    def __init__(self, stem=8, widths=(16, 16, 32), blocks=(2, 1, 1), t=4, classes=10):
        super().__init__()
        self.T = t
        self.conv1 = Seq(nn.Conv2d(3, stem, 3, 1, 1, bias=False))
        self.bn1 = Seq(nn.BatchNorm2d(stem))
        cin = stem
        for s, (w, n) in enumerate(zip(widths, blocks, strict=True)):
            layers = []
            for j in range(n):
                layers.append(Block(cin, w, 2 if (s and not j) else 1))
                cin = w
            setattr(self, f"layer{s + 1}", nn.Sequential(*layers))
        self.fc1 = Seq(nn.Linear(cin, classes))
        self.encoding = GACModule(t, stem)

    def forward(self, x):
        x = self.bn1(self.conv1(x.unsqueeze(1).repeat(1, self.T, 1, 1, 1)))
        x = self.encoding(x, lif_cifar(x))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc1(lif_cifar(x).mean((3, 4)))  # [B, T, classes]


# -------------------------------------------------------------------------------- SpikingResformer
class BN(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.bn = nn.BatchNorm2d(c)

    def forward(self, x):  # [T, B, C, H, W]
        return self.bn(x.flatten(0, 1)).view(x.shape)


class Conv(nn.Conv2d):
    def forward(self, x):  # multi-step: time folded into the batch
        y = super().forward(x.flatten(0, 1))
        return y.view(*x.shape[:2], *y.shape[1:])


class Act(nn.Module):
    def forward(self, x):
        return lif_jelly(x)


class DSSA(nn.Module):
    def __init__(self, dim, heads, lenth, patch):
        super().__init__()
        self.heads, self.lenth = heads, lenth
        self.register_buffer("firing_rate_x", torch.zeros(1, 1, heads, 1, 1))
        self.register_buffer("firing_rate_attn", torch.zeros(1, 1, heads, 1, 1))
        self.W = Conv(dim, 2 * dim, patch, patch, bias=False)
        self.norm = BN(2 * dim)
        self.Wproj = Conv(dim, dim, 1, bias=False)
        self.norm_proj = BN(dim)

    def forward(self, x):
        t, b, c, h, w = x.shape
        s = lif_jelly(x)
        y = self.norm(self.W(s)).reshape(t, b, self.heads, 2 * c // self.heads, -1)
        d = c // self.heads
        y1, y2 = y[:, :, :, :d], y[:, :, :, d:]
        xs = s.reshape(t, b, self.heads, d, -1)
        attn = lif_jelly(y1.transpose(-1, -2) @ xs / torch.sqrt(self.firing_rate_x * d))
        out = (y2 @ attn) / torch.sqrt(self.firing_rate_attn * self.lenth)
        return self.norm_proj(self.Wproj(lif_jelly(out.reshape(t, b, c, h, w)))) + x


class GWFFN(nn.Module):
    def __init__(self, c, group):
        super().__init__()
        inner = 4 * c
        self.up = nn.Sequential(Act(), Conv(c, inner, 1, bias=False), BN(inner))
        self.conv = nn.ModuleList(
            [nn.Sequential(Act(), Conv(inner, inner, 3, 1, 1, groups=inner // group, bias=False), BN(inner))]
        )
        self.down = nn.Sequential(Act(), Conv(inner, c, 1, bias=False), BN(c))

    def forward(self, x):
        u = self.up(x)
        return self.down(self.conv[0](u) + u) + x


class Down(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv = Conv(cin, cout, 3, 2, 1, bias=False)
        self.norm = BN(cout)

    def forward(self, x):
        return self.norm(self.conv(lif_jelly(x)))


class Resformer(nn.Module):
    def __init__(self, planes=(8, 16, 32), heads=(1, 2, 4), patches=(4, 2, 1), group=8, t=4, classes=10):
        super().__init__()
        self.T = t
        self.prologue = nn.Sequential(Conv(3, planes[0], 3, 1, 1, bias=False), BN(planes[0]))
        self.layers = nn.Sequential()
        size = 32
        for i, (c, h, p) in enumerate(zip(planes, heads, patches, strict=True)):
            stage = nn.Sequential()
            if i:
                stage.append(Down(planes[i - 1], c))
                size //= 2
            stage.append(DSSA(c, h, (size // p) ** 2, p))
            stage.append(GWFFN(c, group))
            self.layers.append(stage)
        self.classifier = nn.Linear(planes[-1], classes, bias=False)

    def forward(self, x):
        x = self.layers(self.prologue(x.unsqueeze(0).repeat(self.T, 1, 1, 1, 1)))
        return self.classifier(x.mean((3, 4)))  # [T, B, classes]


def _snnjax_logits(config, path, x_nhwc):
    model = loop.model_for_summary(config)
    convert.load_state_dict(model, config, convert.read_state_dict(path))
    model.eval()
    return np.asarray(call_recorded(model, x_nhwc)[0])


@pytest.mark.parametrize("name", ["gac_cifar", "resformer_cifar"])
def test_converted_model_reproduces_pytorch_logits(tmp_path, name):
    net = randomise(MSResNetCIFAR() if name == "gac_cifar" else Resformer(), seed=1)
    if name == "resformer_cifar":
        with torch.no_grad():
            for m in net.modules():
                if isinstance(m, DSSA):
                    m.firing_rate_x.uniform_(0.1, 0.4)
                    m.firing_rate_attn.uniform_(0.1, 0.4)
    x = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        logits = net(x).numpy()
    if name == "gac_cifar":
        logits = logits.transpose(1, 0, 2)  # the authors' CIFAR code is batch-major [B, T, K]
    torch.save(net.state_dict(), tmp_path / "w.pth")
    ours = _snnjax_logits(fixture_config(name), tmp_path / "w.pth", x.numpy().transpose(0, 2, 3, 1))
    assert ours.shape == logits.shape
    assert np.ptp(logits, axis=0).max() > 0.1  # spikes reached the head, differently per step
    np.testing.assert_allclose(ours, logits, rtol=1e-4, atol=1e-4)


# ------------------------------------------------------------------------------------ SPIDE CIFAR
class SNNConv(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, stride, 1, bias=True)


class SNNConvTranspose(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.convT = nn.ConvTranspose2d(cin, cout, 3, 2, 1, 1, bias=False)
        self.convT.weight_w = self.convT.weight  # the Frobenius restriction keeps the raw weight as weight_w
        del self.convT._parameters["weight"]


class SpideCIFAR(nn.Module):
    """SPIDE's CIFAR net: IF neurons (``u >= 1`` fires, reset by 2 V_th: rest at -1), all layers updated in
    order within a step, the ConvTranspose feedback from the last layer's previous spikes."""

    def __init__(self, widths=(8, 8, 16, 16, 8), classes=10, t=30):
        super().__init__()
        c0, c1, c2, c3, c4 = widths
        self.T = t
        self.network_x = SNNConv(3, c0, 2)
        self.network_s1, self.network_s2 = SNNConv(c0, c1, 1), SNNConv(c1, c2, 2)
        self.network_s3, self.network_s4 = SNNConv(c2, c3, 1), SNNConv(c3, c4, 1)
        self.network_s5 = SNNConvTranspose(c4, c0)
        self.classifier = nn.Linear(c4 * 8 * 8, classes)

    def forward(self, x):
        ops = [self.network_s1.conv, self.network_s2.conv, self.network_s3.conv, self.network_s4.conv]
        w = self.network_s5.convT.weight_w
        feedback = lambda s: nn.functional.conv_transpose2d(s, w, stride=2, padding=1, output_padding=1)
        x1 = self.network_x.conv(x)
        u, s, total = [None] * 5, [None] * 5, [0.0] * 5
        for t in range(self.T):
            for i in range(5):
                drive = (x1 + (feedback(s[4]) if t else 0)) if i == 0 else ops[i - 1](s[i - 1])
                u[i] = drive if t == 0 else u[i] + drive
                s[i] = (u[i] >= 1.0).float()
                u[i] = u[i] - 2.0 * s[i]
                total[i] = total[i] + s[i]
        return self.classifier((total[4] / self.T).flatten(1))


def test_converted_feedback_network_reproduces_pytorch_logits(tmp_path):
    net = randomise(SpideCIFAR(), seed=3)
    with torch.no_grad():  # keep the feedback's Frobenius norm below the bound 2, where its factor is 1
        net.network_s5.convT.weight_w.mul_(0.05 / net.network_s5.convT.weight_w.std())
        for op in (net.network_x, net.network_s1, net.network_s2, net.network_s3, net.network_s4):
            op.conv.weight.mul_(0.8)
    state = net.state_dict()
    for key in list(state):  # the authors' model registers the modules again under snn_func
        head, _, rest = key.partition(".")
        if head == "network_x" or head.startswith("network_s"):
            alias = (
                "snn_func.network_x"
                if head == "network_x"
                else f"snn_func.network_s_list.{int(head[-1]) - 1}"
            )
            state[f"{alias}.{rest}"] = state[f"snn_spide_conv.{alias}.{rest}"] = state[key]
    torch.save(state, tmp_path / "w.pth")
    x = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        logits = net(x).numpy()
    ours = _snnjax_logits(fixture_config("spide_cifar"), tmp_path / "w.pth", x.numpy().transpose(0, 2, 3, 1))
    assert ours.shape == (1, *logits.shape)
    assert np.ptp(logits, axis=0).max() > 0.1  # the rates, not just the readout's bias, differ per example
    np.testing.assert_allclose(ours[0], logits, rtol=1e-4, atol=1e-4)


# ------------------------------------------------------------------------------------ GAC ImageNet
def mem_update(x):
    """GAC-ImageNet ``mem_update`` on ``[T, B, ...]``: ``u = 0.25 u (1 - s) + x``, spike ``u > 0.5``."""
    u, s, out = torch.zeros_like(x[0]), torch.zeros_like(x[0]), []
    for t in range(x.shape[0]):
        u = 0.25 * u * (1 - s) + x[t]
        s = (u > 0.5).float()
        out.append(s)
    return torch.stack(out, 0)


class TdBN(nn.Module):
    """``batch_norm_2d``: a BatchNorm3d over ``[B, C, T, H, W]`` as ``.bn``."""

    def __init__(self, c):
        super().__init__()
        self.bn = nn.BatchNorm3d(c)

    def forward(self, x):  # [T, B, C, H, W]
        return self.bn(x.permute(1, 2, 0, 3, 4)).permute(2, 0, 1, 3, 4)


class TConv(nn.Conv2d):
    def forward(self, x):  # [T, B, C, H, W], per step
        return torch.stack([super(TConv, self).forward(x_t) for x_t in x])


class Block18(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1, self.bn1 = TConv(cin, cout, 3, stride, 1, bias=False), TdBN(cout)
        self.conv2, self.bn2 = TConv(cout, cout, 3, 1, 1, bias=False), TdBN(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(TConv(cin, cout, 1, stride, bias=False), TdBN(cout))

    def forward(self, x):
        y = self.bn2(self.conv2(mem_update(self.bn1(self.conv1(mem_update(x))))))
        return y + self.shortcut(x)


class MSResNetImageNet(nn.Module):
    def __init__(self, stem=8, widths=(8, 8, 16, 16), blocks=(1, 2, 1, 1), classes=1000):
        super().__init__()
        self.conv1 = nn.Sequential(TConv(3, stem, 7, 2, 3, bias=False), TdBN(stem))
        self.encoding = GACModule(4, stem)
        cin = stem
        for s, (w, n) in enumerate(zip(widths, blocks, strict=True)):
            stage = [Block18(cin if j == 0 else w, w, 2 if j == 0 else 1) for j in range(n)]
            setattr(self, f"conv{s + 2}_x", nn.Sequential(*stage))
            cin = w
        self.fc1 = nn.Linear(cin, classes)
        self.fc1_s = nn.Module()
        self.fc1_s.layer = Seq(self.fc1)  # the same module registered twice, as the authors' tdLayer does

    def forward(self, x):
        x = self.conv1(x.unsqueeze(0).repeat(4, 1, 1, 1, 1))
        x = self.encoding(x.transpose(0, 1), mem_update(x).transpose(0, 1)).transpose(0, 1)
        x = self.conv5_x(self.conv4_x(self.conv3_x(self.conv2_x(x))))
        return self.fc1(mem_update(x).mean((3, 4)))  # [T, B, classes]


# ----------------------------------------------------------------------------- NSNN ResNet-19 (PLIF)
def plif(x, tau):
    """NSNN's PLIF on ``[B, T, ...]``: ``u = tau u + x``, spike ``u > 1``, hard reset (``tau`` = decay)."""
    u, out = torch.zeros_like(x[:, 0]), []
    for t in range(x.shape[1]):
        u = tau * u + x[:, t]
        s = (u > 1.0).float()
        u = u * (1 - s)
        out.append(s)
    return torch.stack(out, 1)


class Sn(nn.Module):
    def __init__(self):
        super().__init__()
        self.tau = nn.Parameter(torch.tensor([0.5]))

    def forward(self, x):
        return plif(x, self.tau.clamp(0, 1))


class TdLayer(nn.Module):
    def __init__(self, layer, c=None):
        super().__init__()
        self.layer = Seq(layer)
        self.bn = None
        if c is not None:
            self.bn = nn.Module()
            self.bn.tdbn = Seq(nn.BatchNorm2d(c))

    def forward(self, x):
        x = self.layer(x)
        return x if self.bn is None else self.bn.tdbn(x)


class NBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.sn = Sn()
        self.conv1 = TdLayer(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), cout)
        self.conv2 = TdLayer(nn.Conv2d(cout, cout, 3, 1, 1, bias=False), cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = TdLayer(nn.Conv2d(cin, cout, 1, stride, bias=False), cout)

    def forward(self, x):
        out = self.conv2(self.sn(self.conv1(x)))
        return self.sn(out + (x if self.downsample is None else self.downsample(x)))


class NSNNResNet19(nn.Module):
    def __init__(self, width=4, classes=10, t=2):
        super().__init__()
        scale = lambda c: c * width // 64
        self.T = t
        self.sn = Sn()
        self.conv1 = TdLayer(nn.Conv2d(3, scale(64), 3, 1, 1, bias=False), scale(64))
        cin = scale(64)
        for s, (w, n, st) in enumerate(zip((128, 256, 512), (3, 3, 2), (1, 2, 2), strict=True)):
            layers = []
            for j in range(n):
                layers.append(NBlock(cin, scale(w), st if j == 0 else 1))
                cin = scale(w)
            setattr(self, f"layer{s + 1}", nn.Sequential(*layers))
        self.fc1 = TdLayer(nn.Linear(cin, scale(256)))
        self.fc2 = TdLayer(nn.Linear(scale(256), classes))

    def forward(self, x):
        x = self.sn(self.conv1(x.unsqueeze(1).repeat(1, self.T, 1, 1, 1)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc2(self.sn(self.fc1(x.mean((3, 4)))))  # [B, T, classes]


@pytest.mark.parametrize("name", ["gac_imagenet", "nsnn_resnet19_plif"])
def test_converted_imagenet_and_nsnn_models_reproduce_pytorch_logits(tmp_path, name):
    net = randomise(MSResNetImageNet() if name == "gac_imagenet" else NSNNResNet19(), seed=5)
    if name == "nsnn_resnet19_plif":
        with torch.no_grad():
            for m in net.modules():
                if isinstance(m, Sn):
                    m.tau.uniform_(0.3, 0.9)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        logits = net(x).numpy()
    if name == "nsnn_resnet19_plif":
        logits = logits.transpose(1, 0, 2)  # the authors' NSNN code is batch-major [B, T, K]
    torch.save(net.state_dict(), tmp_path / "w.pth")
    extra = ["model.num_steps=2"] if name == "nsnn_resnet19_plif" else []
    config = fixture_config(name, *extra)
    ours = _snnjax_logits(config, tmp_path / "w.pth", x.numpy().transpose(0, 2, 3, 1))
    assert ours.shape == logits.shape
    assert np.ptp(logits, axis=0).max() > 0.1
    np.testing.assert_allclose(ours, logits, rtol=1e-4, atol=1e-4)
