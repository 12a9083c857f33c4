"""Masked training and evaluation steps, and a resumable step loop.

One jitted step serves every mask: the mask is a traced argument, never closed over. The forward
pass uses ``params ⊙ mask`` and the optimiser zeroes updates outside the mask (see :mod:`optim`), so
pruned weights are exactly zero in the effective network and never move in the raw params.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax

from rtl_jax import masks as masks_lib
from rtl_jax.models import ModelSpec

PyTree = Any
Batch = dict[str, Any]


@flax.struct.dataclass
class TrainState:
    """Everything a step changes. ``batch_stats`` is ``{}`` for models without BatchNorm."""

    step: jax.Array
    params: PyTree
    batch_stats: PyTree
    opt_state: PyTree


def init_state(params: PyTree, batch_stats: PyTree, tx: optax.GradientTransformation) -> TrainState:
    """A fresh state (fresh optimiser) at step 0."""
    return TrainState(
        step=jnp.zeros((), jnp.int32), params=params, batch_stats=batch_stats or {}, opt_state=tx.init(params)
    )


def _variables(params, batch_stats):
    v = {"params": params}
    if batch_stats:
        v["batch_stats"] = batch_stats
    return v


def make_train_step(spec: ModelSpec, loss_fn: Callable, tx: optax.GradientTransformationExtraArgs, *, jit=True):
    """``step(state, mask, batch) -> (state, metrics)``: one masked optimiser step."""
    module = spec.module

    def step(state: TrainState, mask: PyTree, batch: Batch):
        def loss_of(params):
            eff = masks_lib.apply(params, mask)
            v = _variables(eff, state.batch_stats)
            if state.batch_stats:
                out, new_vars = module.apply(v, batch["x"], train=True, mutable=["batch_stats"])
                new_bs = new_vars["batch_stats"]
            else:
                out = module.apply(v, batch["x"], train=True)
                new_bs = state.batch_stats
            loss, aux = loss_fn(out, batch)
            return loss, (aux, new_bs)

        (_, (aux, new_bs)), grads = jax.value_and_grad(loss_of, has_aux=True)(state.params)
        updates, opt_state = tx.update(grads, state.opt_state, state.params, mask=mask)
        params = optax.apply_updates(state.params, updates)
        return TrainState(step=state.step + 1, params=params, batch_stats=new_bs, opt_state=opt_state), aux

    return jax.jit(step) if jit else step


def make_predict(spec: ModelSpec, *, jit=True):
    """``predict(params, batch_stats, mask, x) -> outputs`` in eval mode with ``params ⊙ mask``."""
    module = spec.module

    def predict(params, batch_stats, mask, x):
        return module.apply(_variables(masks_lib.apply(params, mask), batch_stats), x, train=False)

    return jax.jit(predict) if jit else predict


def predict_in_batches(predict, params, batch_stats, mask, x: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """Outputs for all of ``x``; the last batch is padded so there is one compilation per shape."""
    n = x.shape[0]
    outs = []
    for i in range(0, n, batch_size):
        xb = x[i : i + batch_size]
        pad = batch_size - xb.shape[0]
        if pad and n > batch_size:
            xb = np.concatenate([xb, np.zeros((pad,) + xb.shape[1:], xb.dtype)])
        out = np.asarray(predict(params, batch_stats, mask, xb))
        outs.append(out[: out.shape[0] - pad] if pad and n > batch_size else out)
    return np.concatenate(outs)


def check_finite(losses, where: str) -> None:
    """Raise ``FloatingPointError`` naming ``where`` when any loss is NaN/inf."""
    arr = np.asarray(losses, dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise FloatingPointError(f"non-finite loss ({arr[bad[0]]}) at {where}, step offset {int(bad[0])}")
