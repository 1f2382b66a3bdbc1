"""Feedback SNNs of SPIDE / IDE-FSNN, trained by implicit differentiation at equilibrium.

A model is a :class:`~snnjax.models.feedback.network.FeedbackSNN`: an input op ``W_x`` driving layer 0, a
chain of linear ops (conv, 2x2 average pool, FC) between spiking layers, an optional feedback op from the
last layer to layer 0 (no bias, Frobenius- or spectral-norm restricted), and an ANN readout ``Linear`` on the
last layer's average firing rate. The spiking dynamics and the implicit backward live in
:mod:`snnjax.implicit`.

- :mod:`~snnjax.models.feedback.ops`: the linear ops, each with ``op(x)`` and ``op.transpose(y)``;
- :mod:`~snnjax.models.feedback.restrict`: the norm restrictions of the feedback weight;
- :mod:`~snnjax.models.feedback.network`: the network and the translation of its config to the solvers;
- :mod:`~snnjax.models.feedback.zoo`: the named models (``config.model.name``) and their config keys.

Loss scale factor ``s`` (``model.scale_factor``): the logits are returned as ``sg(z) + s (z - sg(z))``, equal
to ``z`` in value but with every gradient multiplied by ``s`` (SPIDE's ``(s * loss).backward()``), so the
spiking solver sees ``g`` ``s`` times larger. The configs divide the learning rate by the same ``s``
(``optim.lr_scale``); the coupled SGD weight decay is then effectively ``wd / s``, as in SPIDE.

Statistics: ``firing_rate`` (forward, the mean of the layers' rates) and, from the backward pass, the
gradient of the non-trainable ``solver_stats`` variable (:class:`~snnjax.layers.BackwardStats`), read by
``FeedbackSNN.gradient_metrics``: ``solver_residual``, ``backward_firing_rate`` and ``solver_diverged``.
"""

from snnjax.models.feedback.network import FeedbackSNN
from snnjax.models.feedback.zoo import fsnn_model_config

__all__ = ["FeedbackSNN", "fsnn_model_config"]
