"""HL-Gauss value head: the target histogram, its expectation, and the loss's minimum."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from pydantic import ValidationError

from pmarl_bench.agents import HLGaussValue

HEAD = HLGaussValue(bins=41, min=-2.0, max=2.0, sigma=0.75)


def test_target_histogram_is_a_distribution_centred_on_the_target():
    targets = jnp.array([-1.3, 0.0, 0.37, 1.9])
    probs = HEAD.target_probs(targets)
    assert probs.shape == (4, 41)
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-6)
    assert (probs >= 0).all()
    # away from the edges the histogram's mean is the target (to within a bin's rounding)
    np.testing.assert_allclose((probs * HEAD.centers()).sum(-1)[:3], targets[:3], atol=1e-3)
    # a target outside the range is clipped to it
    out = HEAD.target_probs(jnp.array([5.0]))
    np.testing.assert_allclose(out, HEAD.target_probs(jnp.array([2.0])), atol=1e-7)


def test_loss_is_minimised_by_the_target_histogram():
    target = jnp.array([0.6])
    best = jnp.log(HEAD.target_probs(target) + 1e-12)
    others = [jnp.zeros((1, 41)), jnp.log(HEAD.target_probs(jnp.array([0.5])) + 1e-12)]
    for logits in others:
        assert HEAD.loss(best, target)[0] < HEAD.loss(logits, target)[0]
    # gradient descent from uniform logits moves the predicted value to the target
    logits = jnp.zeros((1, 41))
    grad = jax.jit(jax.grad(lambda lg: HEAD.loss(lg, target).sum()))
    for _ in range(300):
        logits = logits - 2.0 * grad(logits)
    np.testing.assert_allclose(HEAD.value(logits), target, atol=0.02)


def test_bad_range_is_rejected():
    with pytest.raises(ValidationError, match="max"):
        HLGaussValue(min=1.0, max=1.0)
