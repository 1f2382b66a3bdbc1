"""NIR (Neuromorphic Intermediate Representation) export and import (docs/nir.md).

::

    graph = snnjax.nir.export(model, images)     # nir.NIRGraph of a trained basic MLP / conv SNN
    snnjax.nir.write("model.nir", graph)
    net = snnjax.nir.load("model.nir")           # an snnjax NNX model: [T, B, *shape] -> [T, B, ...]

Graphs use NIR's layout (channels first) and its continuous-time neurons read as one forward-Euler step
of length ``dt`` per time step (``snnjax.nir.semantics``). Needs the optional ``nir`` package
(``pip install 'snnjax[nir]'``); the CLI ``python -m snnjax.nir export --workdir W --out model.nir``
exports a trained workdir.
"""

from __future__ import annotations

from typing import Any

from etils import epath

from snnjax.errors import ConfigError


def require_nir() -> Any:
    """The ``nir`` package, or a one-line ConfigError saying how to install it."""
    try:
        import nir
    except ImportError:
        raise ConfigError("NIR export/import needs the nir package: pip install 'snnjax[nir]'") from None
    return nir


def read(path: epath.PathLike):
    """The ``nir.NIRGraph`` stored in a ``.nir`` file.

    A graph that NIR's type check rejects is read unchecked (Norse writes the export sample's batch axis
    into its Input and Output types); snnjax checks the input shape when the loaded model runs.
    """
    nir = require_nir()
    path = epath.Path(path)
    if not path.exists():
        raise ConfigError(f"{path} not found")
    try:
        try:
            return nir.read(str(path))
        except ValueError:
            return nir.read(str(path), type_check=False)
    except (OSError, KeyError, ValueError, AssertionError) as error:
        raise ConfigError(f"{path} is not a readable NIR file: {str(error).splitlines()[0]}") from None


def write(path: epath.PathLike, graph) -> None:
    """Writes ``graph`` to ``path`` (HDF5, the ``.nir`` format)."""
    nir = require_nir()
    nir.write(str(path), graph)


def export(model, sample_input, **kwargs):
    """``snnjax.nir.exporter.export``: the ``nir.NIRGraph`` of ``model`` (see there)."""
    from snnjax.nir import exporter

    return exporter.export(model, sample_input, **kwargs)


def load(graph, **kwargs):
    """``snnjax.nir.graph.load``: an snnjax model computing ``graph`` (a NIRGraph or a ``.nir`` path)."""
    require_nir()
    from snnjax.nir import graph as graph_lib

    return graph_lib.load(graph, **kwargs)
