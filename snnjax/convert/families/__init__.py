"""One mapping per model family: ``config.model.name`` -> ``(model, model config, classes, input shape) ->
Mapping`` (:mod:`snnjax.convert.rules`)."""

from __future__ import annotations

from collections.abc import Callable

from snnjax.convert.families import fsnn, gac, nsnn, resformer
from snnjax.convert.rules import Mapping

FAMILIES: dict[str, Callable[..., Mapping]] = {
    "msresnet": gac.mapping,
    "nsnn_resnet19": nsnn.resnet,
    "nsnn_resnet18": nsnn.resnet,
    "nsnn_resnet34": nsnn.resnet,
    "nsnn_vgg": nsnn.vgg,
    "nsnn_vgg_noap": nsnn.vgg,
    "nsnn_cifarnet": nsnn.cifarnet,
    "nsnn_toynet": nsnn.toynet,
    "spikingresformer": resformer.mapping,
    **dict.fromkeys(fsnn.LAYOUTS, fsnn.mapping),
}
