"""Routing: pick each input's ticket, and run the routed forward pass.

Routing is data: ``ticket_ids`` is an int array argument and routing a gather over the stacked masks'
ticket axis, so one compilation serves every routing pattern. JAX gathers clamp out-of-range indices
silently (and ``jnp.take`` on bool fills with True, i.e. a dense mask), so ids are validated on the
host before any gather.

Routers (``-> ticket ids``):
* context routing, the paper's: :func:`by_label`, :func:`by_table` (class → cluster), :func:`by_key`
  (a metadata array such as pixel region or acoustic environment);
* label-free routing, an extension: :func:`argmax_over_tickets` (each one-vs-rest ticket scores the
  input; the highest wins) and :class:`NearestCentroidRouter` on an embedding.

Routed forward strategies (:func:`routed_apply`), all equal to a plain loop over tickets:
``per_example`` (gather a mask per example), ``all_tickets`` (run every ticket, select), ``dispatch``
(bucket examples by ticket, run each bucket once).
"""
from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np

from rtl_jax import masks as masks_lib

PyTree = Any
Strategy = Literal["per_example", "all_tickets", "dispatch"]


# --------------------------------------------------------------------------- validation + gather
def validate_ticket_ids(ticket_ids, num_tickets: int) -> np.ndarray:
    """Host check of routing ids: integer dtype, 0 <= id < num_tickets. Returns them as int32 numpy."""
    if isinstance(ticket_ids, jax.core.Tracer):
        raise TypeError(
            "ticket ids must be concrete to be validated (JAX gathers clamp out-of-range ids silently); "
            "validate them outside jit with validate_ticket_ids, then call the jitted gather_tickets"
        )
    ids = np.asarray(ticket_ids)
    if ids.dtype.kind not in "iu":
        raise TypeError(f"ticket ids must be integers, got dtype {ids.dtype}")
    if ids.size:
        lo, hi = int(ids.min()), int(ids.max())
        if lo < 0 or hi >= num_tickets:
            bad = ids[(ids < 0) | (ids >= num_tickets)]
            raise IndexError(
                f"ticket ids out of range for {num_tickets} tickets (valid 0..{num_tickets - 1}): "
                f"found {sorted(set(bad.tolist()))[:10]}"
            )
    return ids.astype(np.int32)


@jax.jit
def gather_tickets(stacked: PyTree, ticket_ids: jax.Array) -> PyTree:
    """Unchecked jitted gather over the ticket axis: leaf ``[K, ...] -> [len(ids), ...]``."""
    return jax.tree.map(lambda m: jnp.take(m, ticket_ids, axis=0, mode="clip"), stacked)


def route(stacked: PyTree, ticket_ids) -> PyTree:
    """Each routed example's mask: ``[K, ...]`` leaves → ``[len(ids), ...]`` (ids validated first)."""
    ids = validate_ticket_ids(ticket_ids, masks_lib.num_tickets(stacked))
    return gather_tickets(stacked, jnp.asarray(ids))


# --------------------------------------------------------------------------- routers
def by_label(labels) -> np.ndarray:
    """Ticket = class label (CIFAR-10 class tickets)."""
    return np.asarray(labels, np.int32)


def by_table(labels, table) -> np.ndarray:
    """Ticket = ``table[label]`` (e.g. CIFAR-100 class → cluster). Unknown labels raise."""
    table = np.asarray(table, np.int32)
    labels = np.asarray(labels)
    if labels.size and (labels.min() < 0 or labels.max() >= table.shape[0]):
        raise IndexError(f"labels outside the routing table's {table.shape[0]} classes")
    return table[labels]


def by_key(metadata: dict[str, np.ndarray], key: str) -> np.ndarray:
    """Ticket = a metadata array (pixel region, acoustic environment, ...)."""
    if key not in metadata:
        raise KeyError(f"routing key {key!r} not in metadata; available: {sorted(metadata)}")
    return np.asarray(metadata[key], np.int32)


def argmax_over_tickets(scores: np.ndarray) -> np.ndarray:
    """Label-free routing from ``[N, K]`` one-vs-rest ticket scores: the most confident ticket."""
    scores = np.asarray(scores)
    if scores.ndim != 2:
        raise ValueError(f"scores must be [N, K], got shape {scores.shape}")
    return scores.argmax(-1).astype(np.int32)


@dataclasses.dataclass(frozen=True)
class NearestCentroidRouter:
    """Label-free router: an embedding (PCA of the training inputs by default) and one centroid per subset.

    ``fit`` needs the *training* subset assignment (what the tickets were built on) but no test labels.
    """

    mean: np.ndarray
    components: np.ndarray  # [D, dim]
    centroids: np.ndarray  # [K, dim]

    @staticmethod
    def fit(x_train: np.ndarray, assignment: np.ndarray, num_subsets: int, *, dim: int = 32,
            max_fit: int = 20000, seed: int = 0) -> NearestCentroidRouter:
        x = np.asarray(x_train, np.float32).reshape(len(x_train), -1)
        assignment = np.asarray(assignment)
        if len(assignment) != len(x):
            raise ValueError("assignment length differs from x_train")
        rng = np.random.default_rng(seed)
        sub = rng.choice(len(x), size=min(max_fit, len(x)), replace=False)
        mean = x[sub].mean(0)
        _, _, vt = np.linalg.svd(x[sub] - mean, full_matrices=False)
        comps = vt[: min(dim, vt.shape[0])].T
        z = (x - mean) @ comps
        cents = []
        for k in range(num_subsets):
            sel = assignment == k
            if not sel.any():
                raise ValueError(f"subset {k} has no training examples")
            cents.append(z[sel].mean(0))
        return NearestCentroidRouter(mean=mean, components=comps, centroids=np.stack(cents))

    def embed(self, x: np.ndarray) -> np.ndarray:
        return (np.asarray(x, np.float32).reshape(len(x), -1) - self.mean) @ self.components

    def __call__(self, x: np.ndarray) -> np.ndarray:
        z = self.embed(x)
        d = ((z[:, None, :] - self.centroids[None]) ** 2).sum(-1)
        return d.argmin(-1).astype(np.int32)


# --------------------------------------------------------------------------- routed forward
def routed_apply(
    apply_fn: Callable[[PyTree, jax.Array], jax.Array],
    params: PyTree,
    stacked: PyTree,
    ticket_ids,
    x,
    *,
    strategy: Strategy = "dispatch",
    bucket: int = 64,
) -> jax.Array:
    """Outputs of ``apply_fn(params ⊙ mask_{id_i}, x_i)`` for every example ``i``.

    ``apply_fn(params, x)`` is the dense model on a batch (masking is done here).
    * ``per_example``: one vmapped forward with a gathered mask per example (memory ∝ B × params).
    * ``all_tickets``: every ticket on the whole batch, then select (compute ∝ K).
    * ``dispatch``: examples bucketed by ticket, each bucket once (host loop; bucket sizes padded to a
      multiple of ``bucket`` so compilations are reused). The default: compute ∝ B, memory ∝ params.
    """
    k = masks_lib.num_tickets(stacked)
    ids = validate_ticket_ids(ticket_ids, k)
    x = jnp.asarray(x)
    if ids.shape[0] != x.shape[0]:
        raise ValueError(f"{ids.shape[0]} ticket ids for {x.shape[0]} examples")
    if strategy == "per_example":
        return _per_example(apply_fn, params, stacked, jnp.asarray(ids), x)
    if strategy == "all_tickets":
        return _all_tickets(apply_fn, params, stacked, jnp.asarray(ids), x)
    if strategy == "dispatch":
        return _dispatch(apply_fn, params, stacked, ids, x, bucket)
    raise ValueError(f"unknown routing strategy {strategy!r}; use per_example, all_tickets or dispatch")


@functools.lru_cache(maxsize=64)
def _compiled(apply_fn, strategy: str):
    """Jitted routed forwards, cached per (apply_fn, strategy) so repeated calls never retrace."""
    if strategy == "per_example":

        def f(params, stacked, ids, x):
            per = jax.tree.map(lambda m: jnp.take(m, ids, axis=0, mode="clip"), stacked)
            return jax.vmap(lambda m, xi: apply_fn(masks_lib.apply(params, m), xi[None])[0])(per, x)

    elif strategy == "all_tickets":

        def f(params, stacked, ids, x):
            outs = jax.vmap(lambda m: apply_fn(masks_lib.apply(params, m), x))(stacked)  # [K, B, ...]
            return jnp.take_along_axis(outs, ids.reshape((1, -1) + (1,) * (outs.ndim - 2)), axis=0)[0]

    else:  # one ticket on one bucket; the ticket index is traced so every ticket shares the compilation

        def f(params, stacked, k, x):
            m = jax.tree.map(lambda t: jax.lax.dynamic_index_in_dim(t, k, axis=0, keepdims=False), stacked)
            return apply_fn(masks_lib.apply(params, m), x)

    return jax.jit(f)


def _per_example(apply_fn, params, stacked, ids, x):
    return _compiled(apply_fn, "per_example")(params, stacked, ids, x)


def _all_tickets(apply_fn, params, stacked, ids, x):
    return _compiled(apply_fn, "all_tickets")(params, stacked, ids, x)


def _dispatch(apply_fn, params, stacked, ids: np.ndarray, x, bucket: int):
    fwd = _compiled(apply_fn, "dispatch")
    pieces, positions = [], []
    for t in np.unique(ids):
        sel = np.flatnonzero(ids == t)
        n = sel.size
        padded = -(-n // bucket) * bucket
        idx = np.concatenate([sel, np.full(padded - n, sel[0])])
        pieces.append(fwd(params, stacked, np.int32(t), x[idx])[:n])
        positions.append(sel)
    out = jnp.concatenate(pieces)
    inverse = np.empty(len(ids), np.int64)
    inverse[np.concatenate(positions)] = np.arange(len(ids))
    return out[inverse]


def loop_reference(apply_fn, params, stacked, ticket_ids, x) -> jax.Array:
    """The plain loop every strategy must equal: one example at a time."""
    ids = validate_ticket_ids(ticket_ids, masks_lib.num_tickets(stacked))
    rows = [apply_fn(masks_lib.apply(params, masks_lib.select(stacked, int(t))), x[i : i + 1])[0]
            for i, t in enumerate(ids)]
    return jnp.stack(rows)
