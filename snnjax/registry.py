"""Name -> object tables that turn config strings into library objects, one table per kind.

A module adds an entry with one line, ``@NEURONS.register("lif")`` over a class or function, and config
code looks it up with ``NEURONS.get(name)``; an unknown name is a one-line :class:`ConfigError` that
lists the registered names. The tables live here so every kind is in one place; the modules that define
the entries register them when they are imported (``snnjax.config`` imports all of them but ``augment``,
which registers the mixes it alone looks up).

Small parameterised components (surrogates, noise families) are written in configs as data, either as
a string ``'atan(alpha=2.0)'`` or as a mapping ``{'name': 'atan', 'alpha': 2.0}``; :meth:`Registry.create`
builds the registered dataclass from either form and :meth:`Registry.spec` writes an instance back as
the string form.
"""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

from snnjax.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """A table of named entries of one kind (``'neuron'``, ``'loss'``, ...)."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str, entry: T | None = None) -> Any:
        """Adds ``entry`` under ``name``; without ``entry``, a decorator that adds what it decorates."""
        if entry is not None:
            self._add(name, entry)
            return entry

        def decorate(obj: T) -> T:
            self._add(name, obj)
            return obj

        return decorate

    def _add(self, name: str, entry: T) -> None:
        if name in self._entries and self._entries[name] is not entry:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = entry

    def get(self, name: str) -> T:
        """The entry registered under ``name``; ConfigError naming the choices if there is none."""
        if name not in self._entries:
            raise ConfigError(f"unknown {self.kind} {name!r}; choose one of {self.names()}")
        return self._entries[name]

    def names(self) -> list[str]:
        """The registered names, sorted."""
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def create(self, spec: str | Mapping[str, Any]):
        """An instance of a registered dataclass from ``'name(k=v, ...)'`` or ``{'name': ..., k: v}``."""
        name, params = parse_spec(spec)
        cls = self.get(name)
        known = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(params) - set(known))
        if unknown:
            raise ConfigError(f"{self.kind} {name!r} has no parameter {unknown[0]!r}; it has {known}")
        return cls(**params)

    def spec(self, obj: Any) -> str:
        """The string form ``'name(k=v, ...)'`` of an instance of a registered dataclass (first name of
        its class)."""
        name = next((n for n, e in self._entries.items() if e is type(obj)), None)
        if name is None:
            raise ConfigError(f"{type(obj).__name__} is not a registered {self.kind}")
        args = ", ".join(f"{f.name}={getattr(obj, f.name)!r}" for f in dataclasses.fields(obj))
        return f"{name}({args})"


def parse_spec(spec: str | Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """``'atan(alpha=2)'`` or ``{'name': 'atan', 'alpha': 2}`` -> ``('atan', {'alpha': 2})``.

    Values in the string form are Python literals (numbers, strings, tuples, booleans, None).
    """
    if isinstance(spec, Mapping) or hasattr(spec, "to_dict"):
        params = dict(spec.to_dict() if hasattr(spec, "to_dict") else spec)
        if "name" not in params:
            raise ConfigError(f"component {params} needs a 'name' key")
        return str(params.pop("name")), params
    if not isinstance(spec, str):
        raise ConfigError(f"expected a component spec like 'atan(alpha=2.0)', got {spec!r}")
    try:
        node = ast.parse(spec.strip(), mode="eval").body
    except SyntaxError:
        raise ConfigError(f"cannot parse {spec!r}; write it as 'name' or 'name(key=value, ...)'") from None
    if isinstance(node, ast.Name):
        return node.id, {}
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.args:
        try:
            return node.func.id, {k.arg: ast.literal_eval(k.value) for k in node.keywords}
        except ValueError:
            pass
    raise ConfigError(f"cannot parse {spec!r}; write it as 'name' or 'name(key=literal, ...)'")


# One table per kind. Entries are registered by the module that defines them.
SURROGATES: Registry[Callable] = Registry("surrogate")
NOISES: Registry[Callable] = Registry("noise")
NEURONS: Registry[Callable] = Registry("neuron")
ENCODERS: Registry[Any] = Registry("encoding")
LOSSES: Registry[Any] = Registry("loss")
OPTIMIZERS: Registry[Callable] = Registry("optimizer")
SCHEDULES: Registry[Callable] = Registry("schedule")
MIXES: Registry[Callable] = Registry("mix")
MODELS: Registry[Callable] = Registry("model")
