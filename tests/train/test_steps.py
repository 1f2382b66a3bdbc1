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


def _toynet_steps(neuron: str, ensemble: int):
    """Steps of a small NSNN ToyNet (8 hidden, T=2) with a noisy (Gaussian 0.5) or deterministic LIF."""
    import optax

    from snnjax import models
    from snnjax.losses import loss_config, make_loss
    from snnjax.models import nsnn
    from snnjax.train.loop import make_mesh

    cfg = nsnn.model_config("nsnn_toynet", num_steps=2, hidden=8, neuron=nsnn.noisy_lif_neuron(0.5))
    cfg.neuron.type = neuron
    model = models.create(cfg, 3, (2, 2, 1), rngs=nnx.Rngs(params=0, noise=1))
    optimizer = nnx.Optimizer(model, optax.sgd(0.1), wrt=nnx.Param)
    return steps.Steps(model, optimizer, make_loss(loss_config()), make_mesh(), ensemble=ensemble)


def _batch():
    import jax

    image = jax.random.normal(jax.random.key(3), (32, 2, 2, 1)) * 2.0
    return {"image": image, "label": jnp.arange(32) % 3, "mask": jnp.ones(32, bool)}


def _passes(run, batch, keys):
    """Per-step outputs ``[passes, T, B, K]`` of the model run by hand, one reseeded pass per key."""
    outs = []
    for k in keys:
        model = run.model()
        steps.reseed(model, k)
        outs.append(steps.call_recorded(model, batch["image"])[0])
    return jnp.stack(outs)


def _correct(out, labels):
    return float(jnp.sum(out.sum(0).argmax(-1) == labels))


def test_eval_ensemble_of_one_is_the_single_reseeded_pass():
    import jax

    run, batch, key = _toynet_steps("noisy_lif", 1), _batch(), jax.random.key(7)
    metrics = run.eval_step(run.state, batch, key)
    (out,) = _passes(run, batch, [key])
    assert float(metrics["correct"]) == _correct(out, batch["label"])
    loss = run.loss_fn  # the mean over examples of the per-step cross-entropy
    np.testing.assert_allclose(float(metrics["loss"]) / 32, float(loss(out, batch["label"])), rtol=1e-5)


@pytest.mark.slow
def test_eval_ensemble_averages_passes_with_split_keys_and_changes_noisy_predictions():
    import jax

    batch, key = _batch(), jax.random.key(7)
    single, run = _toynet_steps("noisy_lif", 1), _toynet_steps("noisy_lif", 8)
    metrics = run.eval_step(run.state, batch, key)
    outs = _passes(run, batch, jax.random.split(key, 8))
    mean = outs.mean(0)
    assert float(metrics["correct"]) == _correct(mean, batch["label"])
    np.testing.assert_allclose(
        float(metrics["loss"]) / 32, float(run.loss_fn(mean, batch["label"])), rtol=1e-5
    )
    # the ensemble's predictions differ from a single pass's, and the passes differ from each other
    (one,) = _passes(single, batch, [key])
    assert bool(jnp.any(mean.sum(0).argmax(-1) != one.sum(0).argmax(-1)))
    assert not np.allclose(outs[0], outs[1])
    # deterministic given the key; another key gives another result
    again = run.eval_step(run.state, batch, key)
    assert jax.tree.map(float, again) == jax.tree.map(float, metrics)
    other = run.eval_step(run.state, batch, jax.random.key(8))
    assert float(other["loss"]) != float(metrics["loss"])


def test_eval_ensemble_leaves_a_deterministic_model_unchanged():
    import jax

    batch, key = _batch(), jax.random.key(7)
    single, ensemble = _toynet_steps("lif", 1), _toynet_steps("lif", 4)
    one = single.eval_step(single.state, batch, key)
    many = ensemble.eval_step(ensemble.state, batch, key)
    assert float(many["correct"]) == float(one["correct"])
    np.testing.assert_allclose(float(many["loss"]), float(one["loss"]), rtol=1e-6)


def test_eval_ensemble_must_be_positive():
    from snnjax.errors import ConfigError

    with pytest.raises(ConfigError, match=r"config\.eval\.ensemble must be >= 1"):
        _toynet_steps("lif", 0)
