"""Path utilities over parameter pytrees.

A parameter's *path* is the "/"-joined sequence of its dict keys (or sequence indices), e.g.
``"Conv_0/kernel"`` for Flax Linen params ``{"Conv_0": {"kernel": ...}}``. Paths are the names used
for prunable-parameter selection, per-layer statistics and log messages everywhere in rtl_jax.
"""
from __future__ import annotations

from typing import Any

import jax

PyTree = Any


def _key_str(k) -> str:
    if isinstance(k, jax.tree_util.DictKey):
        return str(k.key)
    if isinstance(k, jax.tree_util.SequenceKey):
        return str(k.idx)
    if isinstance(k, jax.tree_util.GetAttrKey):
        return str(k.name)
    if isinstance(k, jax.tree_util.FlattenedIndexKey):
        return str(k.key)
    return str(k)


def path_str(keypath) -> str:
    """Turn a JAX key path into a "/"-joined string."""
    return "/".join(_key_str(k) for k in keypath)


def flatten_with_paths(tree: PyTree) -> list[tuple[str, Any]]:
    """``[(path, leaf), ...]`` in the canonical leaf order of ``jax.tree.leaves``."""
    leaves, _ = jax.tree_util.tree_flatten_with_path(tree)
    return [(path_str(kp), leaf) for kp, leaf in leaves]


def paths(tree: PyTree) -> list[str]:
    """The paths of all leaves, in leaf order."""
    return [p for p, _ in flatten_with_paths(tree)]


def map_with_path(fn, tree: PyTree, *rest: PyTree) -> PyTree:
    """``jax.tree.map`` whose function also receives the leaf's path string first."""
    return jax.tree_util.tree_map_with_path(lambda kp, *xs: fn(path_str(kp), *xs), tree, *rest)


def assert_same_structure(a: PyTree, b: PyTree, what_a: str = "tree a", what_b: str = "tree b") -> None:
    """Raise ``ValueError`` naming the first differing path when two trees differ in structure."""
    ta = jax.tree.structure(a)
    tb = jax.tree.structure(b)
    if ta == tb:
        return
    pa = set(paths(a))
    pb = set(paths(b))
    only_a = sorted(pa - pb)
    only_b = sorted(pb - pa)
    raise ValueError(
        f"{what_a} and {what_b} have different tree structures: "
        f"only in {what_a}: {only_a[:5]}{'...' if len(only_a) > 5 else ''}; "
        f"only in {what_b}: {only_b[:5]}{'...' if len(only_b) > 5 else ''}"
        + ("" if only_a or only_b else f"; structures: {ta} vs {tb}")
    )
