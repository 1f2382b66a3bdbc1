import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from snnjax import neurons
from snnjax.models.common import RecordedNeuron
from snnjax.train import steps


class _TwoLayers(nnx.Module):
    def __init__(self):
        self.a = RecordedNeuron(neurons.LIF(decay=0.5))
        self.b = RecordedNeuron(neurons.LIF(decay=0.5))

    def __call__(self, x):
        s1 = self.a(x)
        s2 = self.b(1.5 * (1.0 - s1))
        self.sow(nnx.Intermediate, "residual", jnp.float32(3.0))
        self.sow(nnx.Intermediate, "residual", jnp.float32(5.0))
        return s1, s2


def test_call_recorded_averages_sown_scalars_by_name_and_leaves_nothing_on_the_model():
    model = _TwoLayers()
    x = jnp.array([[[0.6, 1.2, 0.3, 2.0]], [[0.6, 0.1, 0.9, 0.0]]])  # [T=2, B=1, N=4]
    (s1, s2), recorded = steps.call_recorded(model, x)  # a sow outside nnx.capture fails (pyproject.toml)
    # layer a by hand: t0 fires on inputs 1.2 and 2.0; t1: 0.5 * 0.3 + 0.9 = 1.05 fires
    np.testing.assert_array_equal(s1, [[[0, 1, 0, 1]], [[0, 0, 1, 0]]])
    # layer b gets 1.5 where a was silent: fires at t0 on 0 and 2, at t1 on 0, 1 and 3
    np.testing.assert_array_equal(s2, [[[1, 0, 1, 0]], [[1, 1, 0, 1]]])
    assert set(recorded) == {"firing_rate", "residual"}
    assert float(recorded["firing_rate"]) == pytest.approx((3 / 8 + 5 / 8) / 2)
    assert float(recorded["residual"]) == pytest.approx(4.0)
    assert not nnx.state(model, nnx.Intermediate)


def test_call_recorded_reports_zero_rate_for_a_model_without_neurons():
    out, recorded = steps.call_recorded(nnx.Linear(3, 2, rngs=nnx.Rngs(0)), jnp.ones((1, 3)))
    assert out.shape == (1, 2)
    assert recorded == {"firing_rate": 0.0}


def test_train_step_logs_backward_statistics_and_does_not_train_them():
    """A feedback SNN's solver statistics arrive through the gradient into the step's metrics; the
    optimizer leaves them alone."""
    import jax
    import optax

    from snnjax.losses import loss_config, make_loss
    from snnjax.train.loop import make_mesh
    from tests.models.feedback.helpers import tiny_fc

    model = tiny_fc()
    optimizer = nnx.Optimizer(model, optax.sgd(0.1), wrt=nnx.Param)
    run = steps.Steps(model, optimizer, make_loss(loss_config()), make_mesh())
    batch = {
        "image": jax.random.normal(jax.random.key(0), (4, 2, 2, 1)) * 3,
        "label": jnp.array([0, 1, 2, 0]),
    }
    state, metrics = run.train_step(run.state, run.shard_batch(batch), jax.random.key(1))
    assert {"solver_residual", "backward_firing_rate", "solver_diverged"} <= set(metrics)
    assert 0.0 < float(metrics["solver_residual"]) < 1.0 and float(metrics["solver_diverged"]) == 0.0
    stats = [v for p, v in nnx.to_flat_state(state) if "solver_stats" in p]
    assert stats and all(np.array_equal(v[...], np.zeros(3)) for v in stats)
