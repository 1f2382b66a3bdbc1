"""Gradient checks of neuron step functions against central finite differences in float64."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from snnjax import dynamics


def trace_loss(neuron, x, weights):
    """A smooth read-out of a whole run: ``sum_t w_t . state_t`` over every state variable and the output."""
    out, states = dynamics.run_neuron(neuron, x, return_states=True)
    leaves = [out, *jax.tree.leaves(states)]
    return sum(jnp.sum(w * leaf) for w, leaf in zip(weights, leaves, strict=True))


def check_against_finite_differences(neuron, fields, x, *, seed=0, eps=1e-6, rtol=1e-6):
    """Autodiff gradient of :func:`trace_loss` w.r.t. the input ``x`` and the neuron's numeric ``fields``
    equals central differences (float64; call inside ``jax.enable_x64``). Returns the autodiff gradients,
    so callers can assert they are not all zero."""
    x = jnp.asarray(x, jnp.float64)
    n_leaves = 1 + len(jax.tree.leaves(neuron.init_state(x.shape[1:], x.dtype)))
    keys = jax.random.split(jax.random.key(seed), n_leaves)
    weights = [jax.random.normal(k, x.shape, jnp.float64) for k in keys]
    params = {f: jnp.asarray(getattr(neuron, f), jnp.float64) for f in fields}

    def loss(params, x):
        return trace_loss(dataclasses.replace(neuron, **params), x, weights)

    g_params, g_x = jax.jit(jax.grad(loss, argnums=(0, 1)))(params, x)
    f = jax.jit(loss)
    flat_x = np.asarray(x).ravel()
    fd_x = np.zeros_like(flat_x)
    for k in range(flat_x.size):
        e = np.zeros_like(flat_x)
        e[k] = eps
        fd_x[k] = (
            f(params, jnp.asarray(flat_x + e).reshape(x.shape))
            - f(params, jnp.asarray(flat_x - e).reshape(x.shape))
        ) / (2 * eps)
    np.testing.assert_allclose(np.asarray(g_x).ravel(), fd_x, rtol=rtol, atol=1e-9)
    for name in fields:
        up = {**params, name: params[name] + eps}
        down = {**params, name: params[name] - eps}
        fd = (f(up, x) - f(down, x)) / (2 * eps)
        np.testing.assert_allclose(float(g_params[name]), float(fd), rtol=rtol, atol=1e-9, err_msg=name)
    return g_params, g_x
