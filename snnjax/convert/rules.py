"""The declarative mapping between a PyTorch state dict and an snnjax model, and its strict application.

A family's mapping is a :class:`Mapping`: a list of :class:`Rule` s, each tying one snnjax variable (an
``nnx.Param`` or ``nnx.BatchStat`` by its dotted path) to one PyTorch key through a :class:`Layout`, plus
the keys the import may ignore. :func:`load_into` assigns every snnjax parameter and batch statistic
exactly once and uses every PyTorch tensor or finds it ignored; :func:`export` is its inverse.

Layouts (PyTorch -> snnjax): conv ``OIHW -> HWIO`` (``ConvTranspose2d``'s ``[in, out, kh, kw]`` is the
``OIHW`` weight of the conv it transposes, so it maps the same way), linear ``[out, in] -> [in, out]``, a
linear on a flattened ``C, H, W`` feature map -> rows in ``H, W, C`` order, a 1x1x1 ``Conv3d`` -> a matrix,
and plain reshapes (``[1]`` -> scalar, ``[1, 1, h, 1, 1]`` -> ``[h]``).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence
from collections.abc import Mapping as MappingABC

import numpy as np
from flax import nnx

from snnjax.errors import ConfigError

Shape = tuple[int, ...]


# --------------------------------------------------------------------------------------------- layouts
@dataclasses.dataclass(frozen=True)
class Layout:
    """Identity layout: the same shape on both sides."""

    def torch_shape(self, shape: Shape) -> Shape:
        """The PyTorch shape of an snnjax variable of ``shape``."""
        return tuple(shape)

    def to_snnjax(self, value: np.ndarray, shape: Shape) -> np.ndarray:
        return value.reshape(shape)

    def to_torch(self, value: np.ndarray) -> np.ndarray | None:
        """The PyTorch tensor (None: the variable is derived and has no PyTorch tensor of its own)."""
        return value


@dataclasses.dataclass(frozen=True)
class Reshape(Layout):
    """The same values in another shape, e.g. a PyTorch ``[1]`` parameter for an snnjax scalar."""

    torch: Shape

    def torch_shape(self, shape: Shape) -> Shape:
        return self.torch

    def to_torch(self, value: np.ndarray) -> np.ndarray:
        return value.reshape(self.torch)


@dataclasses.dataclass(frozen=True)
class Conv(Layout):
    """Conv weight ``[O, I/groups, kh, kw]`` (``ConvTranspose2d``: ``[in, out, kh, kw]``) <-> HWIO."""

    def torch_shape(self, shape: Shape) -> Shape:
        kh, kw, i, o = shape
        return (o, i, kh, kw)

    def to_snnjax(self, value: np.ndarray, shape: Shape) -> np.ndarray:
        return value.transpose(2, 3, 1, 0)

    def to_torch(self, value: np.ndarray) -> np.ndarray:
        return value.transpose(3, 2, 0, 1)


@dataclasses.dataclass(frozen=True)
class Linear(Layout):
    """Linear weight ``[out, in]`` <-> kernel ``[in, out]``; with ``chw = (C, H, W)`` the input is a
    flattened ``C, H, W`` map in PyTorch and an ``H, W, C`` map in snnjax, so the columns are reordered."""

    chw: Shape | None = None

    def torch_shape(self, shape: Shape) -> Shape:
        return (shape[1], shape[0])

    def to_snnjax(self, value: np.ndarray, shape: Shape) -> np.ndarray:
        if self.chw is None:
            return value.T
        c, h, w = self.chw
        return value.reshape(-1, c, h, w).transpose(2, 3, 1, 0).reshape(shape)

    def to_torch(self, value: np.ndarray) -> np.ndarray:
        if self.chw is None:
            return value.T
        c, h, w = self.chw
        return value.reshape(h, w, c, -1).transpose(3, 2, 0, 1).reshape(value.shape[1], -1)


@dataclasses.dataclass(frozen=True)
class Pointwise3d(Layout):
    """A bias-free 1x1x1 ``Conv3d`` weight ``[O, I, 1, 1, 1]`` used as a matrix ``v @ W``: ``[I, O]``."""

    def torch_shape(self, shape: Shape) -> Shape:
        return (shape[1], shape[0], 1, 1, 1)

    def to_snnjax(self, value: np.ndarray, shape: Shape) -> np.ndarray:
        return value.reshape(shape[1], shape[0]).T

    def to_torch(self, value: np.ndarray) -> np.ndarray:
        return value.T.reshape(*value.T.shape, 1, 1, 1)


@dataclasses.dataclass(frozen=True)
class NonZeroFlag(Layout):
    """A scalar 0/1 flag that is 1 when the source tensor has any non-zero value (derived on import, not
    exported): e.g. "the running rate was initialised"."""

    torch: Shape

    def torch_shape(self, shape: Shape) -> Shape:
        return self.torch

    def to_snnjax(self, value: np.ndarray, shape: Shape) -> np.ndarray:
        return np.full(shape, float(np.any(value != 0)), np.float32)

    def to_torch(self, value: np.ndarray) -> None:
        return None


# ----------------------------------------------------------------------------------------------- rules
@dataclasses.dataclass(frozen=True)
class Rule:
    """``target`` (dotted snnjax path, or None for a PyTorch-only buffer) <- ``source`` (PyTorch key).

    ``aliases``: further PyTorch keys holding the same tensor (modules registered under several names);
    they must equal ``source`` on import and are written with it on export. ``hint``: appended to a
    shape error (and to a missing-key error unless ``missing`` says something else): what config choice
    the tensor depends on. A rule without a target is a
    buffer that snnjax does not need (e.g. ``num_batches_tracked``): ignored on import, written as
    ``constant`` on export so the authors' modules load the file with ``strict=True``.
    """

    target: str | None
    source: str
    layout: Layout = Layout()
    aliases: tuple[str, ...] = ()
    hint: str = ""
    constant: np.ndarray | None = None
    missing: str = ""


@dataclasses.dataclass
class Mapping:
    """A family's rules for one config; ``where`` names the config in error messages, ``ignore`` are
    regexes of PyTorch keys the import skips, ``unexpected_hints`` ``(regex, advice)`` pairs explain
    unexpected keys, ``finish`` adds keys derived from the others to an export."""

    rules: list[Rule]
    where: str
    ignore: tuple[str, ...] = ()
    unexpected_hints: tuple[tuple[str, str], ...] = ()
    finish: Callable[[dict[str, np.ndarray]], None] | None = None  # adds derived keys to an export


def batch_norm(target: str, source: str, **kw) -> list[Rule]:
    """``BatchNorm{1,2,3}d`` (weight, bias, running mean / var; ``num_batches_tracked`` kept for export)."""
    rules = [
        Rule(f"{target}.scale", f"{source}.weight", **kw),
        Rule(f"{target}.bias", f"{source}.bias", **kw),
        Rule(f"{target}.mean", f"{source}.running_mean", **kw),
        Rule(f"{target}.var", f"{source}.running_var", **kw),
    ]
    return [*rules, Rule(None, f"{source}.num_batches_tracked", constant=np.zeros((), np.int64))]


def conv(target: str, source: str, *, bias: bool = False, **kw) -> list[Rule]:
    """``Conv2d`` / ``ConvTranspose2d`` weight (and bias) -> ``target.kernel`` (``target.bias``)."""
    rules = [Rule(f"{target}.kernel", f"{source}.weight", Conv(), **kw)]
    if bias:
        rules.append(Rule(f"{target}.bias", f"{source}.bias", **kw))
    return rules


def linear(target: str, source: str, *, bias: bool = True, chw: Shape | None = None, **kw) -> list[Rule]:
    """``Linear`` weight (and bias) -> ``target.kernel`` (``target.bias``); ``chw``: see :class:`Linear`."""
    rules = [Rule(f"{target}.kernel", f"{source}.weight", Linear(chw), **kw)]
    if bias:
        rules.append(Rule(f"{target}.bias", f"{source}.bias", **kw))
    return rules


def with_aliases(rules: Sequence[Rule], aliases: Callable[[str], tuple[str, ...]]) -> list[Rule]:
    """``rules`` with ``aliases(source)`` added to every rule."""
    return [dataclasses.replace(r, aliases=r.aliases + aliases(r.source)) for r in rules]


# ---------------------------------------------------------------------------------------- application
TARGETS = nnx.Any(nnx.Param, nnx.BatchStat)


def variables(state: nnx.State) -> dict[str, nnx.Variable]:
    """The variables of ``state`` (the model's parameters and batch statistics) by dotted path."""
    return {".".join(map(str, path)): var for path, var in nnx.to_flat_state(state)}


def _check_targets(mapping: Mapping, names: MappingABC[str, nnx.Variable]):
    seen: set[str] = set()
    for rule in mapping.rules:
        if rule.target is None:
            continue
        if rule.target not in names:
            raise ConfigError(f"the mapping names {rule.target!r}, which {mapping.where} does not have")
        if rule.target in seen:
            raise ConfigError(f"{rule.target!r} is assigned twice by the mapping of {mapping.where}")
        seen.add(rule.target)
    missing = sorted(set(names) - seen)
    if missing:
        raise ConfigError(
            f"no PyTorch tensor maps to {missing[0]!r} ({len(missing)} unmapped) of {mapping.where}: "
            "this configuration has no counterpart in the authors' code"
        )


def _hint(text: str) -> str:
    return f" ({text})" if text else ""


def load_into(model: nnx.Module, mapping: Mapping, tensors: MappingABC[str, np.ndarray]) -> list[str]:
    """Assigns the PyTorch ``tensors`` to ``model`` by ``mapping`` (in place); returns the ignored keys.

    Raises:
      ConfigError: a missing or unexpected key, a shape mismatch, aliases that differ, or a model
        variable no rule assigns - one line naming the key and ``mapping.where``.
    """
    state = nnx.state(model, TARGETS)
    names = variables(state)
    _check_targets(mapping, names)
    used: set[str] = set()
    values: dict[str, np.ndarray] = {}
    for rule in mapping.rules:
        if rule.target is None:
            used.update((rule.source, *rule.aliases))
            continue
        if rule.source not in tensors:
            raise ConfigError(
                f"missing key {rule.source!r} for {mapping.where}{_hint(rule.missing or rule.hint)}"
            )
        var = names[rule.target]
        value = np.asarray(tensors[rule.source])
        expected = rule.layout.torch_shape(tuple(var.shape))
        if tuple(value.shape) != tuple(expected):
            raise ConfigError(
                f"{rule.source!r} has shape {tuple(value.shape)}, {mapping.where} expects {tuple(expected)}"
                f"{_hint(rule.hint)}"
            )
        for alias in rule.aliases:
            if alias in tensors and not np.array_equal(tensors[alias], value):
                raise ConfigError(f"{alias!r} should hold the same tensor as {rule.source!r} but differs")
            used.add(alias)
        used.add(rule.source)
        converted = rule.layout.to_snnjax(value.astype(np.float32), tuple(var.shape))
        values[rule.target] = converted.astype(var.dtype)
    ignored = [k for k in tensors if k not in used and any(re.fullmatch(p, k) for p in mapping.ignore)]
    unexpected = [k for k in tensors if k not in used and k not in ignored]
    if unexpected:
        advice = next(
            (msg for pattern, msg in mapping.unexpected_hints if re.match(pattern, unexpected[0])), ""
        )
        more = f" and {len(unexpected) - 1} more" if len(unexpected) > 1 else ""
        raise ConfigError(f"unexpected key {unexpected[0]!r}{more} for {mapping.where}{_hint(advice)}")
    for name, value in values.items():
        names[name][...] = value
    nnx.update(model, state)
    return ignored


def export(model: nnx.Module, mapping: Mapping) -> dict[str, np.ndarray]:
    """The PyTorch state dict of ``model`` by ``mapping`` (aliases and PyTorch-only buffers included)."""
    names = variables(nnx.state(model, TARGETS))
    _check_targets(mapping, names)
    out: dict[str, np.ndarray] = {}
    for rule in mapping.rules:
        if rule.target is None:
            value = rule.constant
        else:
            value = rule.layout.to_torch(np.asarray(names[rule.target][...]))
        if value is None:
            continue
        for key in (rule.source, *rule.aliases):
            if key in out and not np.array_equal(out[key], value):
                raise ConfigError(
                    f"cannot export {mapping.where}: {key!r} is shared in PyTorch, but the snnjax variables "
                    "it maps from differ"
                )
            out[key] = np.array(value)
    if mapping.finish is not None:
        mapping.finish(out)
    return out
