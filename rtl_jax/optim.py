"""Masked optimisation: pruned weights stay exactly where they are under any optax optimiser.

``zero_outside_mask()`` is an element-wise optax transformation that zeroes updates where the mask is
False. The mask is passed **at call time** as an extra argument (``tx.update(g, s, p, mask=m)``): it
is not closed over (one compiled step serves every ticket) and not hidden in the optimiser state.
:func:`masked` wraps an inner optimiser as ``zero → inner → zero``: the first zeroing keeps masked
gradients out of the inner state (Adam moments), the last removes what the inner optimiser adds
(momentum carried over, weight decay ∝ params), so pruned weights do not move even with AdamW.

(``optax.masked`` is leaf-level and passes masked-out updates through unchanged; see optax#159.)
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

PyTree = Any


def _zero(updates: PyTree, mask: PyTree) -> PyTree:
    return jax.tree.map(lambda u, m: jnp.where(m, u, jnp.zeros((), u.dtype)), updates, mask)


def zero_outside_mask() -> optax.GradientTransformationExtraArgs:
    """Zero the updates outside ``mask`` (keyword argument of ``update``)."""

    def init_fn(params):
        del params
        return optax.EmptyState()

    def update_fn(updates, state, params=None, *, mask=None, **extra_args):
        del params, extra_args
        if mask is None:
            raise ValueError("zero_outside_mask.update needs the mask: call tx.update(g, s, p, mask=mask)")
        return _zero(updates, mask), state

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def masked(inner: optax.GradientTransformation) -> optax.GradientTransformationExtraArgs:
    """``zero_outside_mask → inner → zero_outside_mask``; call ``update(..., mask=mask)``."""
    return optax.chain(zero_outside_mask(), inner, zero_outside_mask())


def make_optimizer(
    name: str,
    learning_rate: float,
    *,
    weight_decay: float = 0.0,
    momentum: float = 0.9,
    b1: float = 0.9,
    b2: float = 0.999,
) -> optax.GradientTransformationExtraArgs:
    """A masked optimiser by name: ``sgd``, ``momentum``, ``adam`` or ``adamw``.

    ``weight_decay`` is decoupled for ``adamw`` and added to the gradient (L2) for the others.
    """
    return masked(make_inner(name, learning_rate, weight_decay=weight_decay, momentum=momentum, b1=b1, b2=b2))


def make_inner(
    name: str,
    learning_rate: float,
    *,
    weight_decay: float = 0.0,
    momentum: float = 0.9,
    b1: float = 0.9,
    b2: float = 0.999,
) -> optax.GradientTransformation:
    """The unmasked optimiser behind :func:`make_optimizer` (for ablations that mask differently)."""
    if not learning_rate > 0:
        raise ValueError(f"learning_rate must be > 0, got {learning_rate!r}")
    if weight_decay < 0:
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay!r}")
    l2 = [optax.add_decayed_weights(weight_decay)] if weight_decay and name != "adamw" else []
    if name == "sgd":
        inner = optax.chain(*l2, optax.sgd(learning_rate))
    elif name == "momentum":
        inner = optax.chain(*l2, optax.sgd(learning_rate, momentum=momentum))
    elif name == "adam":
        inner = optax.chain(*l2, optax.adam(learning_rate, b1=b1, b2=b2))
    elif name == "adamw":
        inner = optax.adamw(learning_rate, b1=b1, b2=b2, weight_decay=weight_decay)
    else:
        raise ValueError(f"unknown optimizer {name!r}; known: adam, adamw, momentum, sgd")
    return inner
