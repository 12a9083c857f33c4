"""Mask similarity between tickets: Jaccard (IoU) matrices, chance baselines, depth groups.

The paper's similarity score (rtl-paper §6, Eq. 8) is the Jaccard index between the sets of kept
prunable weights of two tickets, ``J(M_i, M_j) = |M_i ∩ M_j| / |M_i ∪ M_j|``, computed globally (all
prunable weights) and per layer; a ticket's score is its mean ``J`` to the *other* tickets.

Inputs are a **stacked** bool mask (leaf shape ``(K,) + param.shape``) and the ``prunable`` tree of
Python bools (:func:`rtl_jax.masks.select_prunable`); only prunable leaves count.

Exactness and limits
--------------------
* Everything derives from the per-leaf **intersection count matrix** ``C[i, j] = |M_i ∩ M_j|`` (its
  diagonal is each ticket's kept count), computed by one integer matmul per leaf:
  ``int8 (K, n) @ int8 (n, K)`` accumulated in ``int32`` (``preferred_element_type``). 0/1 products
  summed in integers are exact; the memory is one byte per weight per ticket and there is no K² Python
  loop (only a loop over leaves, unrolled once under ``jit``).
* ``int32`` is exact while a count stays below 2**31 (≈ 2.1 billion weights): per leaf, and for sums of
  leaves (global and group matrices). Sizes are static, so this is checked at trace time. Beyond it, the
  functions use ``int64`` when ``jax_enable_x64`` is on, and raise ``ValueError`` otherwise.
* Jaccard ratios are returned as floats (``float32``; ``float64`` under x64), computed from the exact
  integer counts, so their only error is one final rounding.
* ``J(∅, ∅) := 1``: two empty masks (e.g. a layer pruned away entirely by both tickets) are identical
  sets. The diagonal is therefore always exactly 1.

All array functions are pure and jit-compatible when ``prunable`` (and ``groups``) are closed over, e.g.
``jax.jit(lambda s: jaccard_matrix(s, prunable))``; they return ``jax.Array`` values.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from rtl_jax import tree as tree_lib

PyTree = Any

_INT32_MAX = 2**31 - 1
DEPTH_GROUP_NAMES: tuple[str, ...] = ("shallow", "middle", "deep")


# --------------------------------------------------------------------------- helpers
def _x64() -> bool:
    return bool(jax.config.jax_enable_x64)


def _count_dtype(max_count: int, what: str) -> jnp.dtype:
    """Integer dtype that holds counts up to ``max_count`` exactly (int32, or int64 under x64)."""
    if max_count <= _INT32_MAX:
        return jnp.int32
    if _x64():
        return jnp.int64
    raise ValueError(
        f"{what} has {max_count:,} weights per ticket, more than int32 counts hold exactly (2**31 - 1); "
        "enable 64-bit counts with jax.config.update('jax_enable_x64', True)"
    )


def _float_dtype() -> jnp.dtype:
    return jnp.float64 if _x64() else jnp.float32


def prunable_stacked_leaves(stacked: PyTree, prunable: PyTree) -> list[tuple[str, jax.Array]]:
    """``[(path, leaf)]`` of the prunable leaves of a stacked bool mask, validated.

    Raises ``ValueError`` naming the offending path when the trees differ, a prunable leaf is not
    ``bool`` or has no ticket axis, the ticket counts differ, or nothing is prunable.
    """
    tree_lib.assert_same_structure(prunable, stacked, "prunable", "stacked mask")
    out = []
    num = None
    for (path, m), (_, is_p) in zip(
        tree_lib.flatten_with_paths(stacked), tree_lib.flatten_with_paths(prunable), strict=True
    ):
        if not isinstance(is_p, bool):
            raise ValueError(f"prunable leaf {path!r} is {is_p!r}; expected a Python bool")
        if not is_p:
            continue
        if jnp.result_type(m) != jnp.bool_:
            raise ValueError(f"stacked mask leaf {path!r} has dtype {jnp.result_type(m)}, expected bool")
        if jnp.ndim(m) < 1:
            raise ValueError(f"stacked mask leaf {path!r} is a scalar; expected a leading ticket axis")
        k = int(jnp.shape(m)[0])
        if num is None:
            num = k
        elif k != num:
            raise ValueError(f"stacked mask leaf {path!r} has {k} tickets, other leaves have {num}")
        out.append((path, m))
    if not out:
        raise ValueError("no prunable leaf: the prunable tree selects nothing")
    if num == 0:
        raise ValueError("stacked mask has 0 tickets")
    return out


def _leaf_size(m: jax.Array) -> int:
    return int(np.prod(jnp.shape(m)[1:]))


# --------------------------------------------------------------------------- exact counts
def intersection_counts(stacked: PyTree, prunable: PyTree) -> dict[str, jax.Array]:
    """``{path: C}`` per prunable leaf, ``C[i, j] = |M_i ∩ M_j|`` (exact integers, ``[K, K]``).

    The diagonal ``C[i, i]`` is ticket i's kept count in that leaf. One int8 matmul with int32
    accumulation per leaf (int64 when the leaf exceeds 2**31 - 1 weights and x64 is on).
    """
    out = {}
    for path, m in prunable_stacked_leaves(stacked, prunable):
        n = _leaf_size(m)
        acc = _count_dtype(n, f"prunable leaf {path!r}")
        flat = m.reshape(m.shape[0], n).astype(jnp.int8)
        out[path] = jax.lax.dot_general(flat, flat, (((1,), (1,)), ((), ())), preferred_element_type=acc)
    return out


def leaf_sizes(stacked: PyTree, prunable: PyTree) -> dict[str, int]:
    """``{path: number of weights of one ticket}`` over prunable leaves (host ints)."""
    return {p: _leaf_size(m) for p, m in prunable_stacked_leaves(stacked, prunable)}


def _sum_counts(counts: Mapping[str, jax.Array], sizes: Mapping[str, int], paths: Sequence[str], what: str):
    total = sum(sizes[p] for p in paths)
    dt = _count_dtype(total, what)
    return sum(counts[p].astype(dt) for p in paths)


def jaccard_from_counts(inter: jax.Array) -> jax.Array:
    """Jaccard matrix from an intersection count matrix: ``C_ij / (C_ii + C_jj - C_ij)``, with 0/0 := 1."""
    inter = jnp.asarray(inter)
    kept = jnp.diagonal(inter)
    union = kept[:, None] + kept[None, :] - inter
    fd = _float_dtype()
    safe = jnp.where(union == 0, 1, union)
    return jnp.where(union == 0, jnp.ones((), fd), inter.astype(fd) / safe.astype(fd))


# --------------------------------------------------------------------------- Jaccard matrices
def jaccard_matrix(stacked: PyTree, prunable: PyTree) -> jax.Array:
    """Global ``[K, K]`` Jaccard matrix over all prunable weights (exact counts; see module doc)."""
    counts = intersection_counts(stacked, prunable)
    sizes = leaf_sizes(stacked, prunable)
    return jaccard_from_counts(_sum_counts(counts, sizes, list(counts), "the prunable network"))


def jaccard_per_layer(stacked: PyTree, prunable: PyTree) -> dict[str, jax.Array]:
    """``{path: [K, K]}`` Jaccard matrix of each prunable leaf."""
    return {p: jaccard_from_counts(c) for p, c in intersection_counts(stacked, prunable).items()}


def _check_groups(groups: Mapping[str, Sequence[str]], known: Sequence[str]) -> None:
    if not groups:
        raise ValueError("groups is empty; expected {group name: [prunable paths]}")
    known_set = set(known)
    for g, paths in groups.items():
        if isinstance(paths, str):
            raise ValueError(f"group {g!r} is the string {paths!r}; expected a list of paths")
        if len(paths) == 0:
            raise ValueError(f"group {g!r} has no paths")
        for p in paths:
            if p not in known_set:
                raise ValueError(f"group {g!r} names {p!r}, not a prunable path; prunable paths: {list(known)}")
        if len(set(paths)) != len(paths):
            raise ValueError(f"group {g!r} lists a path twice: {list(paths)}")


def jaccard_groups(stacked: PyTree, prunable: PyTree, groups: Mapping[str, Sequence[str]]) -> dict[str, jax.Array]:
    """``{group: [K, K]}`` Jaccard over the union of each group's layers (counts summed, then divided)."""
    counts = intersection_counts(stacked, prunable)
    sizes = leaf_sizes(stacked, prunable)
    _check_groups(groups, list(counts))
    return {g: jaccard_from_counts(_sum_counts(counts, sizes, list(ps), f"group {g!r}")) for g, ps in groups.items()}


def mean_similarity(jac: jax.Array) -> jax.Array:
    """Each ticket's mean Jaccard to the *other* tickets (the paper's per-ticket score), ``[K]``.

    Raises ``ValueError`` for a non-square matrix or K < 2 (no other ticket to compare with).
    """
    shape = jnp.shape(jac)
    if len(shape) != 2 or shape[0] != shape[1]:
        raise ValueError(f"expected a square [K, K] matrix, got shape {shape}")
    k = shape[0]
    if k < 2:
        raise ValueError(f"mean similarity needs at least 2 tickets, got K={k}")
    jac = jnp.asarray(jac)
    return (jnp.sum(jac, axis=1) - jnp.diagonal(jac)) / (k - 1)


def mean_offdiagonal(jac: jax.Array) -> jax.Array:
    """Mean of the off-diagonal entries of a ``[K, K]`` matrix (a single network-level score)."""
    return jnp.mean(mean_similarity(jac))


# --------------------------------------------------------------------------- chance baseline
def _is_concrete(x) -> bool:
    return not isinstance(x, jax.core.Tracer)


def _check_density(name: str, d) -> None:
    if _is_concrete(d):
        a = np.asarray(d, dtype=np.float64)
        bad = ~((a >= 0.0) & (a <= 1.0))
        if np.any(bad):
            raise ValueError(f"{name} must lie in [0, 1]; got {a[bad].ravel()[:5].tolist()}")


def expected_random_jaccard(d_i, d_j) -> jax.Array:
    """E[J] for two independent uniformly random masks of densities ``d_i`` and ``d_j`` (large n).

    ``|∩| ≈ n d_i d_j`` and ``|∪| ≈ n (d_i + d_j - d_i d_j)``, so ``E[J] ≈ d_i d_j / (d_i + d_j - d_i d_j)``,
    which is ``d / (2 - d)`` for equal densities. Both densities 0 gives 1 (two empty masks, J(∅,∅) = 1).
    Broadcasts; densities outside [0, 1] raise ``ValueError`` (checked when the inputs are concrete).
    """
    _check_density("d_i", d_i)
    _check_density("d_j", d_j)
    fd = _float_dtype()
    d_i = jnp.asarray(d_i, fd)
    d_j = jnp.asarray(d_j, fd)
    inter = d_i * d_j
    union = d_i + d_j - inter
    return jnp.where(union == 0, jnp.ones((), fd), inter / jnp.where(union == 0, 1, union))


def chance_from_counts(counts: Mapping[str, jax.Array], sizes: Mapping[str, int], paths: Sequence[str]) -> jax.Array:
    """Chance Jaccard ``[K, K]`` over ``paths`` from per-leaf kept counts (the count diagonals).

    For random masks that keep exactly ``c_il`` of the ``n_l`` weights of layer l (uniformly, independently
    per ticket), ``E|M_i ∩ M_j|`` in layer l is exactly ``c_il c_jl / n_l`` (hypergeometric mean). We return
    the **ratio of expectations** ``Σ_l E|∩| / Σ_l E|∪|`` with ``E|∪| = c_il + c_jl - E|∩|``; it is the
    large-n limit of ``E[J]`` (the expectation of the ratio differs by O(1/n)). 0/0 := 1.
    """
    fd = _float_dtype()
    e_inter = 0.0
    e_union = 0.0
    for p in paths:
        kept = jnp.diagonal(counts[p]).astype(fd)
        ei = kept[:, None] * kept[None, :] / sizes[p]
        e_inter = e_inter + ei
        e_union = e_union + kept[:, None] + kept[None, :] - ei
    ratio = jnp.where(e_union == 0, jnp.ones((), fd), e_inter / jnp.where(e_union == 0, 1, e_union))
    # Two fully dense masks have chance level exactly 1 (float rounding could give 1 + 1e-7 otherwise).
    dense = sum((jnp.diagonal(counts[p]) == sizes[p]).astype(jnp.int32) for p in paths) == len(paths)
    return jnp.where(dense[:, None] & dense[None, :], jnp.ones((), fd), ratio)


def chance_jaccard_matrix(stacked: PyTree, prunable: PyTree) -> jax.Array:
    """``[K, K]`` Jaccard expected for random masks with each ticket's *per-layer* densities.

    Ratio of expectations summed over layers (see :func:`chance_from_counts`). With one density d
    everywhere this is ``d / (2 - d)`` off the diagonal. The diagonal is the chance level of two
    independent masks of ticket i's densities (not 1).
    """
    counts = intersection_counts(stacked, prunable)
    return chance_from_counts(counts, leaf_sizes(stacked, prunable), list(counts))


def chance_jaccard_groups(
    stacked: PyTree, prunable: PyTree, groups: Mapping[str, Sequence[str]]
) -> dict[str, jax.Array]:
    """``{group: [K, K]}`` chance Jaccard over each group's layers (as :func:`chance_jaccard_matrix`)."""
    counts = intersection_counts(stacked, prunable)
    _check_groups(groups, list(counts))
    sizes = leaf_sizes(stacked, prunable)
    return {g: chance_from_counts(counts, sizes, list(ps)) for g, ps in groups.items()}


def chance_corrected(jac: jax.Array, jac_chance: jax.Array) -> jax.Array:
    """``(J - Jc) / (1 - Jc)``: 0 = what random masks of the same densities give, 1 = identical masks.

    Negative values mean less overlap than chance. Undefined (NaN) where ``Jc == 1`` (both masks forced:
    fully dense, e.g. IMP level 0, or both empty); callers should skip such levels.
    """
    if jnp.shape(jac) != jnp.shape(jac_chance):
        raise ValueError(f"J has shape {jnp.shape(jac)} but the chance matrix has shape {jnp.shape(jac_chance)}")
    fd = _float_dtype()
    jac = jnp.asarray(jac, fd)
    jc = jnp.asarray(jac_chance, fd)
    denom = 1.0 - jc
    return jnp.where(denom == 0, jnp.asarray(jnp.nan, fd), (jac - jc) / jnp.where(denom == 0, 1, denom))


# --------------------------------------------------------------------------- depth groups
def ordered_prunable_paths(params: PyTree, prunable: PyTree) -> list[str]:
    """Prunable paths in the params dicts' **insertion order** (Flax Linen: parameter creation order).

    ``jax.tree`` flattening sorts dict keys ("Conv_10" before "Conv_2"), which is not depth order. Linen
    creates parameters in call order, so for feed-forward models insertion order is input-to-output order.
    Params that went through a sorting round trip (some checkpoint restores) lose it; use
    :func:`natural_sort_paths` or pass an explicit order then.
    """
    tree_lib.assert_same_structure(params, prunable, "params", "prunable")
    is_prunable = dict(tree_lib.flatten_with_paths(prunable))
    order: list[str] = []

    def walk(node, prefix: str) -> None:
        if isinstance(node, Mapping):
            for k, v in node.items():
                walk(v, f"{prefix}/{k}" if prefix else str(k))
        elif isinstance(node, list | tuple):
            for i, v in enumerate(node):
                walk(v, f"{prefix}/{i}" if prefix else str(i))
        else:
            order.append(prefix)

    walk(params, "")
    return [p for p in order if is_prunable.get(p) is True]


def natural_sort_paths(paths: Sequence[str]) -> list[str]:
    """Sort paths with embedded integers compared numerically ("Conv_2" < "Conv_10")."""

    def key(p: str):
        return [(0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", p)]

    return sorted(paths, key=key)


def depth_groups(
    paths_in_order: Sequence[str], n_groups: int = 3, names: Sequence[str] | None = None
) -> dict[str, list[str]]:
    """Split depth-ordered layer paths into ``n_groups`` contiguous groups of (nearly) equal layer counts.

    Earlier groups get the extra layer when the count does not divide (``numpy.array_split``). Names default
    to ``("shallow", "middle", "deep")`` for 3 groups; other counts need explicit ``names``. The paper does
    not define its split (rtl-paper §6); equal layer counts is our choice.
    """
    paths_in_order = list(paths_in_order)
    if n_groups < 1:
        raise ValueError(f"n_groups must be >= 1, got {n_groups}")
    if names is None:
        if n_groups != 3:
            raise ValueError(f"names are required for n_groups={n_groups} (defaults exist only for 3 groups)")
        names = DEPTH_GROUP_NAMES
    if len(names) != n_groups or len(set(names)) != n_groups:
        raise ValueError(f"need {n_groups} distinct group names, got {list(names)}")
    if len(paths_in_order) < n_groups:
        raise ValueError(f"cannot split {len(paths_in_order)} layers into {n_groups} groups: {paths_in_order}")
    if len(set(paths_in_order)) != len(paths_in_order):
        raise ValueError(f"paths_in_order has duplicates: {paths_in_order}")
    bounds = np.cumsum([0] + [len(c) for c in np.array_split(np.arange(len(paths_in_order)), n_groups)])
    return {name: paths_in_order[bounds[i] : bounds[i + 1]] for i, name in enumerate(names)}


# --------------------------------------------------------------------------- report
def similarity_report(
    stacked: PyTree, prunable: PyTree, groups: Mapping[str, Sequence[str]] | None = None
) -> dict[str, Any]:
    """Host-side (JSON-ready) summary of one stacked mask: global and per-group J, chance and corrected.

    Keys: ``jaccard``, ``chance``, ``corrected`` (``[K][K]`` lists), ``mean_similarity`` (``[K]``),
    ``mean_corrected`` (``[K]``, mean corrected J to the other tickets), ``density`` (``[K]``), and when
    ``groups`` is given ``groups: {name: {jaccard, chance, corrected, mean_similarity}}``.
    Corrected values are NaN where undefined (dense masks); JSON writers must allow NaN or replace it.
    """
    counts = intersection_counts(stacked, prunable)
    sizes = leaf_sizes(stacked, prunable)
    k = next(iter(counts.values())).shape[0]

    def block(paths: Sequence[str], what: str) -> dict[str, Any]:
        jac = jaccard_from_counts(_sum_counts(counts, sizes, paths, what))
        jc = chance_from_counts(counts, sizes, paths)
        cor = chance_corrected(jac, jc)
        out = {
            "jaccard": np.asarray(jac).tolist(),
            "chance": np.asarray(jc).tolist(),
            "corrected": np.asarray(cor).tolist(),
        }
        if k >= 2:
            out["mean_similarity"] = np.asarray(mean_similarity(jac)).tolist()
            off = ~np.eye(k, dtype=bool)
            out["mean_corrected"] = (np.asarray(cor)[off].reshape(k, k - 1).mean(axis=1)).tolist()
        return out

    paths = list(counts)
    rep = block(paths, "the prunable network")
    total = sum(sizes.values())
    kept = np.sum([np.diagonal(np.asarray(counts[p])).astype(np.int64) for p in paths], axis=0)
    rep["density"] = (kept / total).tolist()
    if groups is not None:
        _check_groups(groups, paths)
        rep["groups"] = {g: block(list(ps), f"group {g!r}") for g, ps in groups.items()}
    return rep
