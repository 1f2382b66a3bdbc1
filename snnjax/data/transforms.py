"""Augmentations in numpy/Pillow, all driven by explicit random draws (a pipeline is deterministic given its
seed): batch transforms of images ``[N, H, W, C]`` or event frames ``[N, T, H, W, C]``, and per-image
transforms (AutoAugment, RandAugment, ImageNet crops) of uint8 ``[H, W, C]`` with a ``np.random.Generator``.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Sequence

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

# ----------------------------------------------------------------------------------------------------
# Batch transforms


def normalize(
    images: np.ndarray, mean: Sequence[float] | None = None, std: Sequence[float] | None = None
) -> np.ndarray:
    """uint8 ``[..., C]`` -> float32 ``(x / 255 - mean) / std`` per channel (just ``x / 255`` if no mean)."""
    if mean is None:
        return np.multiply(images, np.float32(1.0 / 255.0), dtype=np.float32)
    std_a = np.asarray(std, np.float64)
    scale = (1.0 / (255.0 * std_a)).astype(np.float32)
    bias = (-np.asarray(mean, np.float64) / std_a).astype(np.float32)
    x = np.multiply(images, scale, dtype=np.float32)
    x += bias
    return x


def flip_roll_crop(
    batch: np.ndarray,
    *,
    flips: np.ndarray | None = None,
    shifts: np.ndarray | None = None,
    offsets: np.ndarray | None = None,
    pad: int = 0,
) -> np.ndarray:
    """Per-sample flip -> roll -> pad-crop of ``[N, ..., H, W, C]`` (the same transform for all leading axes
    of a sample, e.g. the ``T`` frames of an event sample); returns a new array of the same shape.

    Sample ``i`` is mirrored along W if ``flips[i]``, circularly shifted by ``shifts[i] = (dy, dx)`` (as
    ``np.roll``), then zero-padded by ``pad`` and cropped back to ``H x W`` at ``offsets[i] = (oy, ox)`` in
    ``[0, 2 * pad]``. (Cropping at ``ox`` and then mirroring equals mirroring and cropping at ``2 pad - ox``.)
    """
    h, w = batch.shape[-3:-1]
    out = np.zeros_like(batch)
    for i, x in enumerate(batch):  # slicing per sample: much faster than one fancy-index gather
        if flips is not None and flips[i]:
            x = x[..., ::-1, :]
        if shifts is not None and (shifts[i, 0] or shifts[i, 1]):
            x = np.roll(x, (int(shifts[i, 0]), int(shifts[i, 1])), axis=(-3, -2))
        if offsets is not None and pad:
            dy, dx = pad - int(offsets[i, 0]), pad - int(offsets[i, 1])  # output = input moved by dy, dx
            out[i, ..., max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0), :] = x[
                ..., max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0), :
            ]
        else:
            out[i] = x
    return out


NDA_OPS = ("roll", "rotate", "cutout")


def rotate_nearest(x: np.ndarray, degrees: float) -> np.ndarray:
    """``[..., H, W, C]`` rotated by ``degrees`` about the image centre, nearest-neighbour sampling, zeros
    where the source falls outside (torchvision's ``rotate`` with ``NEAREST`` and fill 0; positive angles
    turn counter-clockwise on screen, y pointing down)."""
    h, w = x.shape[-3:-1]
    a = np.deg2rad(degrees)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    # output pixel (y, x) takes the input pixel the rotation moved there
    src_x = np.cos(a) * (xx - cx) - np.sin(a) * (yy - cy) + cx
    src_y = np.sin(a) * (xx - cx) + np.cos(a) * (yy - cy) + cy
    iy, ix = np.floor(src_y + 0.5).astype(np.int64), np.floor(src_x + 0.5).astype(np.int64)
    inside = (iy >= 0) & (iy < h) & (ix >= 0) & (ix < w)
    out = x[..., np.clip(iy, 0, h - 1), np.clip(ix, 0, w - 1), :]
    return out * inside[:, :, None].astype(x.dtype)


def nda(batch: np.ndarray, ops: np.ndarray, params: np.ndarray) -> np.ndarray:
    """SpikingResformer's event augmentation after the flip (its ``DVSAugment``: NDA with one op, strength
    2) on ``[N, ..., H, W, C]``, the same transform for all leading axes of a sample (the ``T`` frames).

    Sample ``i`` gets op ``NDA_OPS[ops[i]]`` with ``params[i] = (a, b)``: ``roll`` circularly shifts by
    ``(a, b)`` pixels (drawn in ``[-H // 3, H // 3]``), ``rotate`` turns by ``a`` degrees (drawn in
    ``[-30, 30]``) with :func:`rotate_nearest`, ``cutout`` zeroes rows ``[a - H//3//2, a + H//3//2)`` and
    columns ``[b - W//3//2, b + W//3//2)`` (clipped; ``a, b`` drawn in ``[0, H)``, ``[0, W)``)."""
    h, w = batch.shape[-3:-1]
    out = np.empty_like(batch)
    for i, x in enumerate(batch):
        op, (a, b) = NDA_OPS[int(ops[i])], params[i]
        if op == "roll":
            out[i] = np.roll(x, (int(a), int(b)), axis=(-3, -2))
        elif op == "rotate":
            out[i] = rotate_nearest(x, float(a))
        else:
            half_h, half_w = int(h / 3) // 2, int(w / 3) // 2
            out[i] = x
            y1, y2 = np.clip([int(a) - half_h, int(a) + half_h], 0, h)
            x1, x2 = np.clip([int(b) - half_w, int(b) + half_w], 0, w)
            out[i, ..., y1:y2, x1:x2, :] = 0
    return out


def draw_nda(rng: np.random.Generator, n: int, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """``(ops [n], params [n, 2])`` of :func:`nda` for ``n`` samples of ``h x w`` frames."""
    ops = rng.integers(0, len(NDA_OPS), size=n)
    shift = int(h / 3)
    rolls = rng.integers(-shift, shift + 1, size=(n, 2))
    angles = rng.uniform(-30.0, 30.0, size=n)
    centres = np.stack([rng.integers(0, h, size=n), rng.integers(0, w, size=n)], axis=1)
    params = np.where((ops == 0)[:, None], rolls, np.where((ops == 1)[:, None], angles[:, None], centres))
    return ops, params.astype(np.float64)


# ----------------------------------------------------------------------------------------------------
# Per-image ops for AutoAugment / RandAugment: uint8 [H, W, C] and a severity in [0, 1]


def _to_pil(image: np.ndarray) -> Image.Image:
    return Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)


def _from_pil(img: Image.Image, channels: int) -> np.ndarray:
    out = np.asarray(img, dtype=np.uint8)
    return out[..., None] if channels == 1 else out


def _signed(rng: np.random.Generator, value: float) -> float:
    return value if rng.random() < 0.5 else -value


def _pil_op(fn: Callable[..., Image.Image]) -> Callable:
    """An op from ``fn(pil_image, f, rng, fillcolor) -> pil_image``."""

    def op(image, f, rng, fill):
        fillcolor = fill if image.shape[-1] == 1 else (fill,) * image.shape[-1]
        return _from_pil(fn(_to_pil(image), f, rng, fillcolor), image.shape[-1])

    return op


def _affine(coeffs: Callable[[float, int, int], tuple[float, ...]], scale: float, of_size: int | None = None):
    """A geometric op: a PIL affine map (output -> input coordinates) ``coeffs(v, H, W)`` of a signed
    ``v = +-scale f`` (times the image size along axis ``of_size``), nearest sampling, constant fill."""

    def transform(img, f, rng, fillcolor):
        w, h = img.size
        v = _signed(rng, scale * f * (1 if of_size is None else (h, w)[of_size]))
        return img.transform(
            img.size, Image.Transform.AFFINE, coeffs(v, h, w), Image.Resampling.NEAREST, fillcolor=fillcolor
        )

    return _pil_op(transform)


def _enhancer(cls: type) -> Callable:
    return _pil_op(lambda img, f, rng, _: cls(img).enhance(1.0 + _signed(rng, 0.9 * f)))


def _rotate(img, f, rng, fillcolor):
    return img.rotate(_signed(rng, 30.0 * f), Image.Resampling.NEAREST, fillcolor=fillcolor)


# name -> op(image uint8 [H, W, C], severity f in [0, 1], rng, fill) -> uint8 [H, W, C]
OPS: dict[str, Callable[[np.ndarray, float, np.random.Generator, int], np.ndarray]] = {
    "identity": lambda image, f, rng, fill: image,
    "autocontrast": _pil_op(lambda img, *_: ImageOps.autocontrast(img)),
    "equalize": _pil_op(lambda img, *_: ImageOps.equalize(img)),
    "invert": lambda image, f, rng, fill: 255 - image,
    "rotate": _pil_op(_rotate),
    # threshold 256 (1 - f): f = 0 inverts no pixel, f = 1 all
    "solarize": lambda image, f, rng, fill: np.where(
        image >= 256 - round(256 * f), 255 - image, image
    ).astype(np.uint8),
    "color": _enhancer(ImageEnhance.Color),
    "posterize": lambda image, f, rng, fill: image & np.uint8((0xFF << round(4 * f)) & 0xFF),  # 8 - 4 f bits
    "contrast": _enhancer(ImageEnhance.Contrast),
    "brightness": _enhancer(ImageEnhance.Brightness),
    "sharpness": _enhancer(ImageEnhance.Sharpness),
    "shear_x": _affine(lambda s, h, w: (1.0, s, -s * (h - 1) / 2, 0.0, 1.0, 0.0), 0.3),
    "shear_y": _affine(lambda s, h, w: (1.0, 0.0, 0.0, s, 1.0, -s * (w - 1) / 2), 0.3),
    "translate_x": _affine(lambda t, h, w: (1.0, 0.0, t, 0.0, 1.0, 0.0), 0.45, of_size=1),
    "translate_y": _affine(lambda t, h, w: (1.0, 0.0, 0.0, 0.0, 1.0, t), 0.45, of_size=0),
}
"""Severity ``f`` in [0, 1] maps to: rotate ±30°·f, shear ±0.3·f, translate ±0.45·f of the size,
colour/contrast/brightness/sharpness factor 1 ± 0.9·f, solarize threshold 256·(1 - f), posterize
8 - 4·f bits. Signed ops pick the sign at random. Geometric ops fill with ``fill``."""

RANDAUGMENT_OPS = (
    "identity", "autocontrast", "equalize", "rotate", "solarize", "color", "posterize",
    "contrast", "brightness", "sharpness", "shear_x", "shear_y", "translate_x", "translate_y",
)  # fmt: skip


def apply_op(
    image: np.ndarray, name: str, severity: float, rng: np.random.Generator, fill: int = 0
) -> np.ndarray:
    """Applies op ``name`` of :data:`OPS` with ``severity`` in [0, 1] to uint8 ``[H, W, C]``."""
    return OPS[name](image, float(np.clip(severity, 0.0, 1.0)), rng, fill)


# ----------------------------------------------------------------------------------------------------
# AutoAugment (CIFAR-10 policy of Cubuk et al., 2019) and RandAugment (Cubuk et al., 2020)

# 25 sub-policies, each two (op, probability, magnitude bin 0..9) steps.
CIFAR10_POLICY: tuple[tuple[tuple[str, float, int], tuple[str, float, int]], ...] = (
    (("invert", 0.1, 7), ("contrast", 0.2, 6)),
    (("rotate", 0.7, 2), ("translate_x", 0.3, 9)),
    (("sharpness", 0.8, 1), ("sharpness", 0.9, 3)),
    (("shear_y", 0.5, 8), ("translate_y", 0.7, 9)),
    (("autocontrast", 0.5, 8), ("equalize", 0.9, 2)),
    (("shear_y", 0.2, 7), ("posterize", 0.3, 7)),
    (("color", 0.4, 3), ("brightness", 0.6, 7)),
    (("sharpness", 0.3, 9), ("brightness", 0.7, 9)),
    (("equalize", 0.6, 5), ("equalize", 0.5, 1)),
    (("contrast", 0.6, 7), ("sharpness", 0.6, 5)),
    (("color", 0.7, 7), ("translate_x", 0.5, 8)),
    (("equalize", 0.3, 7), ("autocontrast", 0.4, 8)),
    (("translate_y", 0.4, 3), ("sharpness", 0.2, 6)),
    (("brightness", 0.9, 6), ("color", 0.2, 8)),
    (("solarize", 0.5, 2), ("invert", 0.0, 3)),
    (("equalize", 0.2, 0), ("autocontrast", 0.6, 0)),
    (("equalize", 0.2, 8), ("equalize", 0.6, 4)),
    (("color", 0.9, 9), ("equalize", 0.6, 6)),
    (("autocontrast", 0.8, 4), ("solarize", 0.2, 8)),
    (("brightness", 0.1, 3), ("color", 0.7, 0)),
    (("solarize", 0.4, 5), ("autocontrast", 0.9, 3)),
    (("translate_y", 0.9, 9), ("translate_y", 0.7, 9)),
    (("autocontrast", 0.9, 2), ("solarize", 0.8, 3)),
    (("equalize", 0.8, 8), ("invert", 0.1, 3)),
    (("translate_y", 0.7, 9), ("autocontrast", 0.9, 1)),
)
AUTOAUGMENT_POLICIES = {"cifar10": CIFAR10_POLICY}


@dataclasses.dataclass(frozen=True)
class AutoAugment:
    """AutoAugment: one random sub-policy per image; each of its two ops fires with its probability.

    Magnitude bin ``m`` (0..9) is severity ``m / 9`` (see :data:`OPS`).
    """

    policy: str = "cifar10"
    fill: int = 0

    def __post_init__(self) -> None:
        if self.policy not in AUTOAUGMENT_POLICIES:
            raise ValueError(
                f"unknown AutoAugment policy {self.policy!r}: known {tuple(AUTOAUGMENT_POLICIES)}"
            )

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """uint8 ``[H, W, C]`` -> uint8 ``[H, W, C]``."""
        table = AUTOAUGMENT_POLICIES[self.policy]
        for name, prob, magnitude in table[rng.integers(len(table))]:
            if rng.random() < prob:
                image = apply_op(image, name, magnitude / 9.0, rng, self.fill)
        return image


@dataclasses.dataclass(frozen=True)
class RandAugment:
    """RandAugment: ``num_ops`` ops drawn uniformly from :data:`RANDAUGMENT_OPS`, each applied with
    probability ``prob`` at magnitude ``M ~ N(magnitude, magnitude_std)`` clipped to
    ``[0, max_magnitude]`` (severity ``M / max_magnitude``; ``magnitude_std=inf`` draws ``U(0, M)``).
    """

    num_ops: int = 2
    magnitude: float = 9.0
    magnitude_std: float = 0.0
    max_magnitude: float = 10.0
    prob: float = 0.5
    fill: int = 0

    @classmethod
    def from_string(cls, spec: str, fill: int = 0) -> RandAugment:
        """Parses timm-style ``'rand-m7-n1-mstd0.5'`` (keys m, n, mstd, mmax, p; ``inc1`` accepted as
        a no-op since every op here grows in severity with the magnitude)."""
        parts = spec.split("-")
        if parts[0] != "rand":
            raise ValueError(f"RandAugment spec {spec!r} must start with 'rand-', e.g. 'rand-m7-n1-mstd0.5'")
        kwargs: dict[str, float] = {}
        keys = dict(m="magnitude", n="num_ops", mstd="magnitude_std", mmax="max_magnitude", p="prob")
        for part in parts[1:]:
            match = re.fullmatch(r"([a-z]+)([0-9.]+|inf)", part)
            if match is None or (match.group(1) not in keys and match.group(1) != "inc"):
                raise ValueError(
                    f"bad RandAugment spec item {part!r} in {spec!r}: known keys {sorted(keys)}, inc"
                )
            if match.group(1) in keys:
                kwargs[keys[match.group(1)]] = float(match.group(2))
        if "num_ops" in kwargs:
            kwargs["num_ops"] = int(kwargs["num_ops"])
        return cls(**kwargs, fill=fill)

    def _severity(self, rng: np.random.Generator) -> float:
        m = self.magnitude
        if math.isinf(self.magnitude_std):
            m = rng.uniform(0.0, m)
        elif self.magnitude_std > 0:
            m = rng.normal(m, self.magnitude_std)
        return float(np.clip(m, 0.0, self.max_magnitude)) / self.max_magnitude

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """uint8 ``[H, W, C]`` -> uint8 ``[H, W, C]``."""
        for i in rng.integers(len(RANDAUGMENT_OPS), size=self.num_ops):
            if rng.random() < self.prob:
                image = apply_op(image, RANDAUGMENT_OPS[i], self._severity(rng), rng, self.fill)
        return image


def apply_per_image(
    images: np.ndarray, seeds: np.ndarray, fn: Callable[[np.ndarray, np.random.Generator], np.ndarray]
) -> np.ndarray:
    """Applies ``fn(image, rng)`` to each image of uint8 ``[N, H, W, C]``, ``rng`` seeded by ``seeds[i]``."""
    out = np.empty_like(images)
    for i, (image, seed) in enumerate(zip(images, seeds, strict=True)):
        out[i] = fn(image, np.random.default_rng(int(seed)))
    return out


# ----------------------------------------------------------------------------------------------------
# ImageNet crops: uint8 [H, W, C] of any size -> [size, size, C]


def _resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    img = _to_pil(image).resize((width, height), Image.Resampling.BILINEAR)
    return _from_pil(img, image.shape[-1])


def sample_resized_crop_box(
    rng: np.random.Generator,
    height: int,
    width: int,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    attempts: int = 10,
) -> tuple[int, int, int, int]:
    """Inception-style crop box ``(top, left, h, w)``: area fraction in ``scale``, aspect ratio (w/h,
    log-uniform) in ``ratio``; after ``attempts`` failures, the largest centred box within ``ratio``."""
    area = height * width
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(attempts):
        target = area * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(*log_ratio))
        w = round(math.sqrt(target * aspect))
        h = round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            return int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1)), h, w
    in_ratio = width / height
    if in_ratio < ratio[0]:
        w, h = width, round(width / ratio[0])
    elif in_ratio > ratio[1]:
        h, w = height, round(height * ratio[1])
    else:
        h, w = height, width
    return (height - h) // 2, (width - w) // 2, h, w


def random_resized_crop(
    image: np.ndarray, rng: np.random.Generator, size: int = 224, flip: bool = True
) -> np.ndarray:
    """ImageNet training crop: random-resized crop (:func:`sample_resized_crop_box`) to
    ``size x size`` (bilinear) and, if ``flip``, a horizontal flip with probability 1/2.
    uint8 ``[H, W, C]`` -> uint8 ``[size, size, C]``."""
    top, left, h, w = sample_resized_crop_box(rng, image.shape[0], image.shape[1])
    out = _resize(image[top : top + h, left : left + w], size, size)
    if flip and rng.random() < 0.5:
        out = out[:, ::-1]
    return np.ascontiguousarray(out)


def resize_center_crop(image: np.ndarray, size: int = 224, resize: int | None = None) -> np.ndarray:
    """ImageNet evaluation crop: resize the shorter side to ``resize`` (default ``round(size / 0.875)``,
    256 for 224), then centre-crop ``size x size``. uint8 ``[H, W, C]`` -> uint8 ``[size, size, C]``."""
    resize = resize or round(size / 0.875)
    h, w = image.shape[:2]
    scale = resize / min(h, w)
    nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
    out = _resize(image, nh, nw)
    top, left = (nh - size) // 2, (nw - size) // 2
    return np.ascontiguousarray(out[top : top + size, left : left + size])
