"""Data subsets (the paper's d_1..d_K) and deterministic batch schedules over them (numpy only).

* A :class:`Partition` assigns every example one subset id in ``[0, K)``: by label (one subset per
  class), by a class -> subset table (semantic clusters), or by an explicit assignment.
* :func:`shuffled_batches` -- plain shuffled batches over all ``n`` examples (C-way baselines).
* :func:`balanced_one_vs_rest` -- the paper's binary ticket training (rtl-paper.md §5, App. A.2):
  every epoch, all positives of subset ``k`` and an equal number of negatives drawn without
  replacement from the other subsets (a fresh draw each epoch); every batch is half positives.
* :func:`cyclic_schedule` -- RTL Algorithm 2, steps 1-3: each subset's shuffled batches, the smaller
  subsets' batches repeated cyclically so that all subsets have ``M = max_k M_k`` batches.

Determinism: all randomness comes from ``np.random.default_rng`` seeded with a fixed-length key
``(stream, seed, epoch, k)``; the same arguments always give the same batches, which resumable training
relies on. Batches are equal-sized so jitted steps never recompile. ``drop_remainder=True`` (default)
drops the last incomplete batch; ``drop_remainder=False`` completes it with the first examples of the
same epoch's permutation (so every example is used at least once and a few twice).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

# Stream tags keep the random streams of different functions independent for equal (seed, epoch, k).
_STREAM_SHUFFLE = 1
_STREAM_BALANCED = 2
_STREAM_CYCLIC = 3


# --------------------------------------------------------------------------- partitions
@dataclass(frozen=True, eq=False)
class Partition:
    """Assignment of ``N`` examples to ``num_subsets`` disjoint subsets.

    Attributes:
      assignment: ``(N,)`` ``int32`` (read-only) subset id of each example, in ``[0, num_subsets)``.
      num_subsets: ``K``. Subsets may be empty (e.g. a class absent from a small test split); the batch
        functions raise when a subset they need is too small.
      names: one name per subset.
    """

    assignment: np.ndarray
    num_subsets: int
    names: tuple[str, ...]

    def __post_init__(self):
        a = np.asarray(self.assignment)
        if a.ndim != 1:
            raise ValueError(f"assignment must be 1-D, got shape {a.shape}")
        if a.size and not np.issubdtype(a.dtype, np.integer):
            raise ValueError(f"assignment must hold integer subset ids, got dtype {a.dtype}")
        k = int(self.num_subsets)
        if k < 1:
            raise ValueError(f"num_subsets must be >= 1, got {self.num_subsets}")
        if a.size and (a.min() < 0 or a.max() >= k):
            raise ValueError(f"assignment values must lie in [0, {k}), got [{a.min()}, {a.max()}]")
        a = np.array(a, dtype=np.int32)
        a.flags.writeable = False
        names = tuple(str(n) for n in self.names)
        if len(names) != k:
            raise ValueError(f"{len(names)} subset names given for num_subsets={k}: {names}")
        object.__setattr__(self, "assignment", a)
        object.__setattr__(self, "num_subsets", k)
        object.__setattr__(self, "names", names)

    def __len__(self) -> int:
        return int(self.assignment.shape[0])

    def _check_k(self, k: int) -> int:
        if not isinstance(k, int | np.integer) or isinstance(k, bool):
            raise ValueError(f"subset id must be an int, got {k!r}")
        if not 0 <= k < self.num_subsets:
            raise IndexError(f"subset id {k} out of range [0, {self.num_subsets})")
        return int(k)

    def indices(self, k: int) -> np.ndarray:
        """Sorted ``int64`` indices of the examples of subset ``k``; ``IndexError`` if ``k`` is out of range."""
        return np.flatnonzero(self.assignment == self._check_k(k))

    def sizes(self) -> np.ndarray:
        """``(K,)`` ``int64`` number of examples per subset."""
        return np.bincount(self.assignment, minlength=self.num_subsets).astype(np.int64)


def _names(names: Sequence[str] | None, k: int) -> tuple[str, ...]:
    return tuple(str(i) for i in range(k)) if names is None else tuple(names)


def _int_array(values, what: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{what} must be 1-D, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{what} must hold integers, got dtype {arr.dtype}")
    return arr.astype(np.int64)


def partition_by_label(labels, num_classes: int, names: Sequence[str] | None = None) -> Partition:
    """One subset per class: subset ``c`` holds the examples with label ``c`` (K = ``num_classes``).

    Raises ``ValueError`` when a label lies outside ``[0, num_classes)``.
    """
    labels = _int_array(labels, "labels")
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes}), got [{labels.min()}, {labels.max()}]")
    return Partition(labels, num_classes, _names(names, num_classes))


def partition_by_table(labels, table, names: Sequence[str] | None = None) -> Partition:
    """Subsets from a class -> subset table: example ``i`` goes to subset ``table[labels[i]]``.

    ``table`` is a sequence (``table[c]`` = subset of class ``c``) or a mapping whose keys are exactly
    ``0..C-1``. Every class must be covered (each label ``< C``), and the subset ids must be exactly
    ``0..K-1`` with each used by at least one class; otherwise ``ValueError`` names the problem.
    """
    if isinstance(table, Mapping):
        keys = sorted(int(c) for c in table)
        if keys != list(range(len(table))):
            missing = sorted(set(range(max(keys, default=-1) + 1)) - set(keys))
            raise ValueError(f"table keys must be the classes 0..{len(table) - 1}; missing classes {missing}")
        table = [table[c] for c in range(len(table))]
    table = _int_array(table, "table")
    if table.size == 0:
        raise ValueError("table is empty: it must give a subset id for every class")
    if table.min() < 0:
        raise ValueError(f"table has negative subset ids: classes {np.flatnonzero(table < 0).tolist()}")
    k = int(table.max()) + 1
    unused = sorted(set(range(k)) - set(table.tolist()))
    if unused:
        raise ValueError(f"subset ids must be 0..{k - 1} with each used by some class; unused ids {unused}")
    labels = _int_array(labels, "labels")
    if labels.size and labels.min() < 0:
        raise ValueError(f"labels must be non-negative, got min {labels.min()}")
    uncovered = sorted(set(np.unique(labels).tolist()) - set(range(len(table))))
    if uncovered:
        raise ValueError(f"table covers classes 0..{len(table) - 1} but labels contain classes {uncovered}")
    return Partition(table[labels], k, _names(names, k))


def partition_by_assignment(
    assignment, num_subsets: int | None = None, names: Sequence[str] | None = None
) -> Partition:
    """A partition from explicit subset ids (e.g. cluster ids); ``K`` defaults to ``max(assignment) + 1``.

    Raises ``ValueError`` for negative ids, ids ``>= num_subsets``, or an empty assignment without
    ``num_subsets``.
    """
    assignment = _int_array(assignment, "assignment")
    if num_subsets is None:
        if assignment.size == 0:
            raise ValueError("num_subsets is required for an empty assignment")
        num_subsets = int(assignment.max()) + 1
    if assignment.size and assignment.min() < 0:
        raise ValueError(f"assignment has negative subset ids (min {assignment.min()})")
    return Partition(assignment, num_subsets, _names(names, num_subsets))


# --------------------------------------------------------------------------- randomness
def _check_nonneg_int(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise ValueError(f"{what} must be a non-negative int, got {value!r}")
    return int(value)


def _rng(stream: int, seed: int, epoch: int, k: int = 0) -> np.random.Generator:
    """A generator keyed by the fixed-length tuple ``(stream, seed, epoch, k)``."""
    key = [stream, _check_nonneg_int(seed, "seed"), _check_nonneg_int(epoch, "epoch"), k]
    return np.random.default_rng(key)


def epoch_permutation(seed: int, epoch: int, n: int) -> np.ndarray:
    """A permutation of ``range(n)`` (``int64``), deterministic in ``(seed, epoch)``."""
    n = _check_nonneg_int(n, "n")
    return _rng(_STREAM_SHUFFLE, seed, epoch).permutation(n)


def _check_batch_size(batch_size) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    return int(batch_size)


def _to_batches(order: np.ndarray, batch_size: int, drop_remainder: bool) -> np.ndarray:
    """Cut ``order`` into ``(num_batches, batch_size)``; complete the last batch from the start if asked.

    ``len(order) >= batch_size`` is the caller's precondition.
    """
    n = len(order)
    if drop_remainder or n % batch_size == 0:
        num = n // batch_size
        return order[: num * batch_size].reshape(num, batch_size)
    fill = batch_size - n % batch_size
    return np.concatenate([order, order[:fill]]).reshape(-1, batch_size)


def shuffled_batches(n: int, batch_size: int, *, seed: int, epoch: int, drop_remainder: bool = True) -> np.ndarray:
    """``(num_batches, batch_size)`` ``int32`` example indices of one shuffled epoch over ``range(n)``.

    ``num_batches = n // batch_size`` (or the ceiling with ``drop_remainder=False``, the last batch
    completed by the epoch's first indices). Raises ``ValueError`` when ``n < batch_size``.
    """
    n = _check_nonneg_int(n, "n")
    batch_size = _check_batch_size(batch_size)
    if n < batch_size:
        raise ValueError(f"n={n} examples is fewer than one batch of batch_size={batch_size}")
    return _to_batches(epoch_permutation(seed, epoch, n), batch_size, drop_remainder).astype(np.int32)


def balanced_one_vs_rest(
    partition: Partition,
    k: int,
    *,
    batch_size: int,
    seed: int,
    epoch: int,
    drop_remainder: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Balanced binary batches for the ticket of subset ``k`` (positives) against all other subsets.

    Per epoch, the positives (subset ``k``) are shuffled and cut into half-batches of ``batch_size // 2``;
    as many negatives are drawn *without replacement* from the other subsets (a fresh draw each epoch),
    and each batch joins one positive and one negative half-batch in shuffled positions. So every batch
    is exactly half positives, and every positive appears exactly once per epoch when ``batch_size // 2``
    divides the subset size (otherwise the remainder is dropped, or with ``drop_remainder=False`` the
    last half-batch is completed with the epoch's first positives).

    Returns ``(idx, target)``: ``idx`` ``(num_batches, batch_size)`` ``int32`` example indices and
    ``target`` ``(num_batches, batch_size)`` ``float32`` (1 = subset ``k``, 0 = other).
    Deterministic in ``(seed, epoch, k)``. Raises ``ValueError`` for an odd ``batch_size``, a subset
    smaller than half a batch, or too few negatives; ``IndexError`` for ``k`` out of range.
    """
    k = partition._check_k(k)
    batch_size = _check_batch_size(batch_size)
    if batch_size % 2:
        raise ValueError(f"balanced batches need an even batch_size, got {batch_size}")
    half = batch_size // 2
    positives = partition.indices(k)
    negatives = np.flatnonzero(partition.assignment != k)
    if len(positives) < half:
        raise ValueError(
            f"subset {k} ({partition.names[k]!r}) has {len(positives)} examples, fewer than half a batch "
            f"(batch_size={batch_size})"
        )
    rng = _rng(_STREAM_BALANCED, seed, epoch, k)
    pos = _to_batches(rng.permutation(positives), half, drop_remainder)
    num_batches = pos.shape[0]
    if len(negatives) < num_batches * half:
        raise ValueError(
            f"subset {k} ({partition.names[k]!r}) needs {num_batches * half} negatives per epoch but the other "
            f"subsets hold only {len(negatives)}"
        )
    neg = rng.choice(negatives, size=num_batches * half, replace=False).reshape(num_batches, half)
    idx = np.concatenate([pos, neg], axis=1)
    target = np.concatenate([np.ones_like(pos, np.float32), np.zeros_like(neg, np.float32)], axis=1)
    order = rng.permuted(np.tile(np.arange(batch_size), (num_batches, 1)), axis=1)
    rows = np.arange(num_batches)[:, None]
    return idx[rows, order].astype(np.int32), target[rows, order]


def cyclic_schedule(
    partition: Partition, batch_size: int, *, seed: int, epoch: int, drop_remainder: bool = True
) -> np.ndarray:
    """RTL Algorithm 2, steps 1-3: an ``(M, K, batch_size)`` ``int32`` array of example indices.

    ``schedule[b, k]`` is batch ``b`` of subset ``k`` (examples of subset ``k`` only). Each subset is
    shuffled (deterministic in ``(seed, epoch, k)``) and cut into ``M_k`` batches; ``M = max_k M_k`` and
    subset ``k``'s batches repeat cyclically: ``schedule[b, k] == schedule[b % M_k, k]``. Raises
    ``ValueError`` when a subset is smaller than ``batch_size``.
    """
    batch_size = _check_batch_size(batch_size)
    sizes = partition.sizes()
    small = {partition.names[k]: int(s) for k, s in enumerate(sizes) if s < batch_size}
    if small:
        raise ValueError(f"subsets smaller than batch_size={batch_size} (name: size): {small}")
    per_subset = [
        _to_batches(_rng(_STREAM_CYCLIC, seed, epoch, k).permutation(partition.indices(k)), batch_size, drop_remainder)
        for k in range(partition.num_subsets)
    ]
    m = max(b.shape[0] for b in per_subset)
    columns = [b[np.arange(m) % b.shape[0]] for b in per_subset]
    return np.stack(columns, axis=1).astype(np.int32)
