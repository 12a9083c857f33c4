"""Pruning: pluggable scores, exact-count top-k, global or layer-wise scope, count or fraction amounts.

Every pruning function ranks only the weights a mask currently keeps, so masks never regrow, and keeps
an exact number of weights: ties are broken deterministically by flat index (the weight that comes
first in leaf order, then row-major order, is kept), as in jaxpruner's top-k.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np

from rtl_jax import masks as masks_lib
from rtl_jax import tree as tree_lib

PyTree = Any
ScoreFn = Callable[..., PyTree]
Scope = Literal["global", "layerwise"]
AmountMode = Literal["count", "fraction"]


# --------------------------------------------------------------------------- scores
def magnitude_scores(params: PyTree, *, key: jax.Array | None = None) -> PyTree:
    """|w| (Frankle & Carbin; the paper's criterion)."""
    del key
    return jax.tree.map(lambda p: jnp.abs(p).astype(jnp.float32), params)


def random_scores(params: PyTree, *, key: jax.Array) -> PyTree:
    """Uniform random scores: the random-pruning control."""
    if key is None:
        raise ValueError("random_scores needs a PRNG key")
    leaves, treedef = jax.tree.flatten(params)
    keys = jax.random.split(key, len(leaves))
    return jax.tree.unflatten(
        treedef, [jax.random.uniform(k, jnp.shape(p), jnp.float32) for k, p in zip(keys, leaves, strict=True)]
    )


SCORE_FNS: dict[str, ScoreFn] = {"magnitude": magnitude_scores, "random": random_scores}


def get_score_fn(name: str) -> ScoreFn:
    if name not in SCORE_FNS:
        raise ValueError(f"unknown pruning score {name!r}; known: {sorted(SCORE_FNS)}")
    return SCORE_FNS[name]


# --------------------------------------------------------------------------- top-k
def topk_mask(scores: jax.Array, keep: jax.Array | int, valid: jax.Array | None = None) -> jax.Array:
    """Bool mask keeping exactly ``keep`` entries of 1-D ``scores`` (largest first).

    Entries with ``valid == False`` are ranked last (they are never kept while enough valid entries
    exist). Ties break by index: the lower index is kept. ``keep`` may be traced (jit/vmap-friendly).
    """
    scores = jnp.asarray(scores, jnp.float32)
    n = scores.shape[0]
    if valid is not None:
        scores = jnp.where(valid, scores, -jnp.inf)
    idx = jnp.arange(n, dtype=jnp.int32)
    # lexsort: last key is primary. Sort by -score ascending, then by index ascending.
    order = jnp.lexsort((idx, -scores))
    rank = jnp.zeros(n, jnp.int32).at[order].set(idx)
    return rank < keep


def _check_scores_finite(scores: PyTree, mask: PyTree, prunable: PyTree) -> None:
    for path, s in masks_lib._prunable_leaves(scores, prunable):
        if isinstance(s, jax.core.Tracer):
            return
        if not bool(jnp.all(jnp.isfinite(s))):
            raise FloatingPointError(f"pruning scores of {path!r} contain NaN or inf")


def keep_counts_layerwise(kept: dict[str, int], remove_total: int | None = None,
                          fraction: float | None = None) -> dict[str, int]:
    """Per-layer keep counts for layer-wise pruning.

    ``fraction``: each layer removes ``round(fraction * kept_l)``. ``remove_total``: the count is split
    across layers proportionally to what each layer keeps (largest-remainder rounding, exact total).
    """
    if (remove_total is None) == (fraction is None):
        raise ValueError("give exactly one of remove_total and fraction")
    if fraction is not None:
        return {p: k - int(round(fraction * k)) for p, k in kept.items()}
    total = sum(kept.values())
    if total == 0:
        return dict(kept)
    raw = {p: remove_total * k / total for p, k in kept.items()}
    rem = {p: int(np.floor(v)) for p, v in raw.items()}
    left = remove_total - sum(rem.values())
    # Largest remainders first; ties by leaf order (dict order) for determinism.
    order = sorted(kept, key=lambda p: -(raw[p] - rem[p]))
    for p in order[:left]:
        rem[p] += 1
    return {p: kept[p] - rem[p] for p in kept}


def prune(
    scores: PyTree,
    mask: PyTree,
    prunable: PyTree,
    *,
    amount: float | int,
    mode: AmountMode = "count",
    scope: Scope = "global",
) -> PyTree:
    """Remove the lowest-scoring *kept* prunable weights; return the new (single) mask.

    Args:
      scores: tree like params (higher = more important), e.g. :func:`magnitude_scores`.
      mask: current bool mask (single, not stacked). The result is a subset of it.
      prunable: tree of Python bools; non-prunable leaves are returned unchanged (all True).
      amount: a count of weights to remove (``mode="count"``; the paper removes 4,096 per round) or a
        fraction of the *remaining* prunable weights (``mode="fraction"``, open_lth).
      scope: ``"global"`` ranks all prunable weights together (default, the paper's reading);
        ``"layerwise"`` prunes each layer separately (fraction per layer, or the count split in
        proportion to each layer's kept weights).
    Host-level function (validates amounts with Python ints); see :func:`prune_to_counts` for the
    jit-able core.
    """
    masks_lib.validate(scores, mask)
    tree_lib.assert_same_structure(mask, prunable, "mask", "prunable")
    _check_scores_finite(scores, mask, prunable)
    kept_layers = {p: int(v) for p, v in masks_lib.kept_count_per_layer(mask, prunable).items()}
    kept = sum(kept_layers.values())
    if mode == "count":
        if int(amount) != amount or amount < 0:
            raise ValueError(f"prune count must be a non-negative integer, got {amount!r}")
        remove = int(amount)
        if remove > kept:
            raise ValueError(f"cannot prune {remove} weights: only {kept} prunable weights remain")
    elif mode == "fraction":
        if not 0.0 <= float(amount) <= 1.0:
            raise ValueError(f"prune fraction must be in [0, 1], got {amount!r}")
        remove = None
    else:
        raise ValueError(f"unknown prune mode {mode!r}; use 'count' or 'fraction'")

    if scope == "global":
        if remove is None:
            remove = int(round(float(amount) * kept))
        return prune_to_counts(scores, mask, prunable, kept - remove)
    if scope == "layerwise":
        keep = keep_counts_layerwise(kept_layers, remove_total=remove,
                                     fraction=float(amount) if remove is None else None)
        return prune_to_counts(scores, mask, prunable, keep)
    raise ValueError(f"unknown prune scope {scope!r}; use 'global' or 'layerwise'")


def prune_to_counts(scores: PyTree, mask: PyTree, prunable: PyTree, keep: int | dict[str, int]) -> PyTree:
    """Keep exactly ``keep`` prunable weights (global int) or ``keep[path]`` per layer (dict).

    Only kept weights are ranked; ``keep`` must not exceed what the mask keeps (checked when concrete).
    jit-compatible when ``prunable`` and the dict keys are static.
    """
    flat_s = tree_lib.flatten_with_paths(scores)
    flat_m = tree_lib.flatten_with_paths(mask)
    flat_p = [v for _, v in tree_lib.flatten_with_paths(prunable)]
    treedef = jax.tree.structure(mask)
    out = [m for _, m in flat_m]
    pr_idx = [i for i, v in enumerate(flat_p) if v]
    if isinstance(keep, dict):
        for i in pr_idx:
            path, m = flat_m[i]
            if path not in keep:
                raise ValueError(f"layer-wise keep counts miss prunable layer {path!r}")
            k = keep[path]
            _check_keep(k, m, path)
            s = flat_s[i][1].reshape(-1)
            out[i] = topk_mask(s, k, m.reshape(-1)).reshape(m.shape)
        return jax.tree.unflatten(treedef, out)
    s_cat = jnp.concatenate([flat_s[i][1].reshape(-1).astype(jnp.float32) for i in pr_idx])
    m_cat = jnp.concatenate([flat_m[i][1].reshape(-1) for i in pr_idx])
    _check_keep(keep, m_cat, "all prunable layers")
    new = topk_mask(s_cat, keep, m_cat)
    offset = 0
    for i in pr_idx:
        m = flat_m[i][1]
        n = int(np.prod(m.shape))
        out[i] = new[offset : offset + n].reshape(m.shape)
        offset += n
    return jax.tree.unflatten(treedef, out)


def _check_keep(keep, m, where: str) -> None:
    if isinstance(keep, jax.core.Tracer) or isinstance(m, jax.core.Tracer):
        return
    kept = int(jnp.sum(m))
    if int(keep) != keep or keep < 0:
        raise ValueError(f"keep count for {where} must be a non-negative integer, got {keep!r}")
    if keep > kept:
        raise ValueError(f"cannot keep {keep} weights in {where}: the mask keeps only {kept} (masks never regrow)")


# --------------------------------------------------------------------------- level plans
def kept_at_sparsity(total: int, sparsity: float) -> int:
    """Number of prunable weights kept at ``sparsity`` (``round(total * (1 - sparsity))``)."""
    if not 0.0 <= sparsity < 1.0:
        raise ValueError(f"sparsity must be in [0, 1), got {sparsity!r}")
    return int(round(total * (1.0 - sparsity)))


def level_plan(
    total: int,
    *,
    mode: AmountMode,
    amount: float | int,
    target_sparsity: float,
    milestones: tuple[float, ...] = (),
) -> list[int]:
    """Kept counts per IMP level: ``[total, ...]`` down to the target sparsity.

    Each round removes ``amount`` weights (count) or ``amount`` of the remaining ones (fraction). A
    round that would pass a milestone sparsity (e.g. the paper's 25/50/75% report points) or the target
    is clipped to land exactly on it, so one run yields exact tables at every milestone (rtl-paper §9.8:
    targets are not multiples of 4,096, the last round must be clipped).
    """
    if total < 1:
        raise ValueError(f"total prunable weights must be >= 1, got {total}")
    if not 0.0 <= target_sparsity < 1.0:
        raise ValueError(f"target_sparsity must be in [0, 1), got {target_sparsity!r}")
    for s in milestones:
        if not 0.0 < s <= target_sparsity:
            raise ValueError(f"milestone sparsity {s!r} must be in (0, target_sparsity={target_sparsity}]")
    if mode == "count":
        if int(amount) != amount or amount < 1:
            raise ValueError(f"prune count per round must be a positive integer, got {amount!r}")
    elif mode == "fraction":
        if not 0.0 < float(amount) < 1.0:
            raise ValueError(f"prune fraction per round must be in (0, 1), got {amount!r}")
    else:
        raise ValueError(f"unknown prune mode {mode!r}; use 'count' or 'fraction'")
    stops = sorted({kept_at_sparsity(total, s) for s in (*milestones, target_sparsity)}, reverse=True)
    plan = [total]
    for stop in stops:
        while plan[-1] > stop:
            cur = plan[-1]
            remove = int(amount) if mode == "count" else max(1, int(round(float(amount) * cur)))
            plan.append(max(stop, cur - remove))
    return plan
