"""Binary masks over parameter pytrees.

Conventions (used everywhere in rtl_jax):

* A **mask** is a pytree of ``bool`` arrays with exactly the params' tree structure and the params'
  leaf shapes (no ``None`` leaves). Leaves that are not prunable are all-True and stay all-True.
* A **stacked mask** carries a leading ticket axis: leaf shape ``(K,) + param.shape``.
* ``prunable`` is a pytree of Python ``bool`` with the params' structure (from :func:`select_prunable`);
  counts and densities are always over prunable leaves only (the paper's convention: BN, SE, biases and
  classifier heads are dense and not counted).
* ``density`` = fraction of prunable weights kept; ``sparsity`` = fraction removed.

All array functions are pure and jit-compatible unless they say they return host values.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from rtl_jax import tree as tree_lib

PyTree = Any
log = logging.getLogger(__name__)

#: Default prunable selection: conv and dense kernels (Flax Linen names them ``kernel``).
DEFAULT_INCLUDE: tuple[str, ...] = (r"(^|/)kernel$",)


# --------------------------------------------------------------------------- selection
def select_prunable(
    params: PyTree,
    include: Sequence[str] = DEFAULT_INCLUDE,
    exclude: Sequence[str] = (),
    *,
    verbose: bool = True,
) -> PyTree:
    """Choose prunable parameters by regular expressions over their "/"-joined paths.

    A leaf is prunable when some ``include`` pattern matches (``re.search``) and no ``exclude``
    pattern does. Returns a pytree of Python bools with the params' structure. The match is logged
    (``logging`` at INFO) so a run records exactly which tensors were pruned. Raises ``ValueError``
    when a pattern does not compile, when an ``exclude`` pattern matches nothing (a typo would
    otherwise silently prune a head that should stay dense), or when nothing is prunable.
    """
    try:
        inc = [re.compile(p) for p in include]
        exc = [re.compile(p) for p in exclude]
    except re.error as e:
        raise ValueError(f"invalid prunable-parameter regex: {e}") from e
    all_paths = tree_lib.paths(params)
    for pat in exc:
        if not any(pat.search(p) for p in all_paths):
            raise ValueError(
                f"exclude pattern {pat.pattern!r} matches no parameter path; paths are {all_paths}"
            )

    def choose(path: str, _leaf) -> bool:
        return any(p.search(path) for p in inc) and not any(p.search(path) for p in exc)

    prunable = tree_lib.map_with_path(choose, params)
    chosen = [p for p, v in tree_lib.flatten_with_paths(prunable) if v]
    if not chosen:
        raise ValueError(
            f"no parameter matched the prunable patterns include={list(include)} "
            f"exclude={list(exclude)}; paths are {all_paths}"
        )
    if verbose:
        for line in prunable_report(params, prunable):
            log.info(line)
    return prunable


def prunable_report(params: PyTree, prunable: PyTree) -> list[str]:
    """Human-readable lines: every parameter, its shape, size and whether it is prunable."""
    lines = []
    total = pruned = 0
    for (path, leaf), (_, is_p) in zip(
        tree_lib.flatten_with_paths(params), tree_lib.flatten_with_paths(prunable), strict=True
    ):
        n = int(np.prod(np.shape(leaf)))
        total += n
        pruned += n if is_p else 0
        lines.append(f"{'PRUNE' if is_p else 'dense'}  {path:<40} {str(tuple(np.shape(leaf))):<18} {n:>9,}")
    lines.append(f"prunable {pruned:,} of {total:,} parameters")
    return lines


# --------------------------------------------------------------------------- construction
def init_mask(params: PyTree) -> PyTree:
    """All-True mask with the params' structure and shapes."""
    return jax.tree.map(lambda p: jnp.ones(jnp.shape(p), dtype=bool), params)


def init_masks(params: PyTree, num_tickets: int) -> PyTree:
    """All-True stacked mask with ``num_tickets`` tickets on axis 0."""
    if int(num_tickets) < 1:
        raise ValueError(f"num_tickets must be >= 1, got {num_tickets}")
    return jax.tree.map(lambda p: jnp.ones((int(num_tickets),) + jnp.shape(p), dtype=bool), params)


def validate(params: PyTree, mask: PyTree, *, stacked: bool = False, name: str = "mask") -> int | None:
    """Check that ``mask`` is a (stacked) bool mask for ``params``; raise ``ValueError`` naming the path.

    Returns the number of tickets for stacked masks, else ``None``.
    """
    tree_lib.assert_same_structure(params, mask, "params", name)
    num = None
    for (path, p), (_, m) in zip(
        tree_lib.flatten_with_paths(params), tree_lib.flatten_with_paths(mask), strict=True
    ):
        if m is None:
            raise ValueError(f"{name} leaf {path!r} is None; masks have no None leaves")
        if jnp.result_type(m) != jnp.bool_:
            raise ValueError(f"{name} leaf {path!r} has dtype {jnp.result_type(m)}, expected bool")
        ps, ms = tuple(jnp.shape(p)), tuple(jnp.shape(m))
        if stacked:
            if len(ms) != len(ps) + 1 or ms[1:] != ps:
                raise ValueError(f"stacked {name} leaf {path!r} has shape {ms}, expected (K,)+{ps}")
            if num is None:
                num = ms[0]
            elif ms[0] != num:
                raise ValueError(f"stacked {name} leaf {path!r} has {ms[0]} tickets, other leaves {num}")
        elif ms != ps:
            raise ValueError(f"{name} leaf {path!r} has shape {ms}, params have {ps}")
    return num


# --------------------------------------------------------------------------- apply / stack
def apply(params: PyTree, mask: PyTree) -> PyTree:
    """``params ⊙ mask``: masked-out entries become exactly 0 (dtype preserved)."""
    return jax.tree.map(lambda p, m: jnp.where(m, p, jnp.zeros((), p.dtype)), params, mask)


def stack(masks: Sequence[PyTree]) -> PyTree:
    """Stack K single masks into one stacked mask (ticket axis 0)."""
    if len(masks) == 0:
        raise ValueError("stack() needs at least one mask")
    for i, m in enumerate(masks[1:], start=1):
        tree_lib.assert_same_structure(masks[0], m, "mask 0", f"mask {i}")
    return jax.tree.map(lambda *xs: jnp.stack(xs), *masks)


def num_tickets(stacked: PyTree) -> int:
    """Number of tickets K of a stacked mask (or any tree stacked on axis 0)."""
    leaves = jax.tree.leaves(stacked)
    if not leaves:
        raise ValueError("empty stacked mask")
    return int(jnp.shape(leaves[0])[0])


def check_ticket_id(stacked: PyTree, k: int) -> int:
    """Validate a host-side ticket index; JAX indexing would clamp silently."""
    n = num_tickets(stacked)
    k_int = int(k)
    if k_int != k or not 0 <= k_int < n:
        raise IndexError(f"ticket id {k!r} out of range for {n} tickets (valid: 0..{n - 1})")
    return k_int


def select(stacked: PyTree, k: int) -> PyTree:
    """Ticket ``k`` of a stacked mask (host-checked index)."""
    k = check_ticket_id(stacked, k)
    return jax.tree.map(lambda m: m[k], stacked)


def unstack(stacked: PyTree) -> list[PyTree]:
    """Inverse of :func:`stack`."""
    return [jax.tree.map(lambda m, k=k: m[k], stacked) for k in range(num_tickets(stacked))]


def union(stacked: PyTree) -> PyTree:
    """Weights kept by at least one ticket."""
    return jax.tree.map(lambda m: jnp.any(m, axis=0), stacked)


def intersection(stacked: PyTree) -> PyTree:
    """Weights kept by every ticket."""
    return jax.tree.map(lambda m: jnp.all(m, axis=0), stacked)


# --------------------------------------------------------------------------- counting
def _prunable_leaves(mask: PyTree, prunable: PyTree) -> list[tuple[str, jax.Array]]:
    tree_lib.assert_same_structure(prunable, mask, "prunable", "mask")
    return [
        (path, m)
        for (path, m), (_, is_p) in zip(
            tree_lib.flatten_with_paths(mask), tree_lib.flatten_with_paths(prunable), strict=True
        )
        if is_p
    ]


def total_prunable(params_or_mask: PyTree, prunable: PyTree, *, stacked: bool = False) -> int:
    """Number of prunable weights of one network (per ticket for stacked trees)."""
    skip = 1 if stacked else 0
    return int(sum(int(np.prod(jnp.shape(m)[skip:])) for _, m in _prunable_leaves(params_or_mask, prunable)))


def kept_count(mask: PyTree, prunable: PyTree) -> jax.Array:
    """Number of kept prunable weights of a single mask (int32 scalar, jit-compatible)."""
    return sum(jnp.sum(m, dtype=jnp.int32) for _, m in _prunable_leaves(mask, prunable))


def kept_count_per_ticket(stacked: PyTree, prunable: PyTree) -> jax.Array:
    """Kept prunable weights of each ticket: int32 ``[K]``."""
    return sum(
        jnp.sum(m.reshape(m.shape[0], -1), axis=1, dtype=jnp.int32)
        for _, m in _prunable_leaves(stacked, prunable)
    )


def kept_count_per_layer(mask: PyTree, prunable: PyTree, *, stacked: bool = False) -> dict[str, jax.Array]:
    """``{path: kept}`` over prunable leaves (``[K]`` arrays for stacked masks)."""
    out = {}
    for path, m in _prunable_leaves(mask, prunable):
        out[path] = (
            jnp.sum(m.reshape(m.shape[0], -1), axis=1, dtype=jnp.int32) if stacked else jnp.sum(m, dtype=jnp.int32)
        )
    return out


def density(mask: PyTree, prunable: PyTree) -> jax.Array:
    """Fraction of prunable weights kept by a single mask."""
    return kept_count(mask, prunable) / total_prunable(mask, prunable)


def density_per_ticket(stacked: PyTree, prunable: PyTree) -> jax.Array:
    """Density of each ticket, ``[K]``."""
    return kept_count_per_ticket(stacked, prunable) / total_prunable(stacked, prunable, stacked=True)


def density_per_layer(mask: PyTree, prunable: PyTree, *, stacked: bool = False) -> dict[str, jax.Array]:
    """``{path: density}`` over prunable leaves (``[K]`` arrays for stacked masks)."""
    kept = kept_count_per_layer(mask, prunable, stacked=stacked)
    sizes = {p: int(np.prod(jnp.shape(m)[1 if stacked else 0 :])) for p, m in _prunable_leaves(mask, prunable)}
    return {p: kept[p] / sizes[p] for p in kept}


def sparsity(mask: PyTree, prunable: PyTree) -> jax.Array:
    """Fraction of prunable weights removed by a single mask (``1 - density``)."""
    return 1.0 - density(mask, prunable)


# --------------------------------------------------------------------------- bit packing
def pack(mask: PyTree, *, stacked: bool = False) -> PyTree:
    """Bit-pack a mask for storage: 1 bit per weight (per ticket). Host numpy ``uint8`` leaves.

    Single masks give leaves of shape ``(ceil(n/8),)``; stacked masks ``(K, ceil(n/8))``.
    """

    def pk(m):
        m = np.asarray(m, dtype=bool)
        flat = m.reshape(m.shape[0], -1) if stacked else m.reshape(-1)
        return np.packbits(flat, axis=-1)

    return jax.tree.map(pk, mask)


def unpack(packed: PyTree, like: PyTree, *, stacked: bool = False) -> PyTree:
    """Inverse of :func:`pack`; ``like`` gives the param shapes (params or ShapeDtypeStructs)."""
    tree_lib.assert_same_structure(like, packed, "like", "packed mask")

    def up(path, p, b):
        shape = tuple(jnp.shape(p))
        n = int(np.prod(shape))
        b = np.asarray(b, dtype=np.uint8)
        expected = (n + 7) // 8
        if b.shape[-1] != expected or (stacked and b.ndim != 2) or (not stacked and b.ndim != 1):
            want = f"(K, {expected})" if stacked else f"({expected},)"
            raise ValueError(f"packed mask leaf {path!r} has shape {b.shape}; expected {want}")
        bits = np.unpackbits(b, axis=-1, count=n).astype(bool)
        return jnp.asarray(bits.reshape((b.shape[0],) + shape if stacked else shape))

    return tree_lib.map_with_path(up, like, packed)
