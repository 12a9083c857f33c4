"""Tests of rtl_jax.data.subsets: partitions, shuffled / balanced one-vs-rest batches, Alg. 2 schedule."""
import numpy as np
import pytest

from rtl_jax.data import subsets


# --------------------------------------------------------------------------- partitions
def test_partition_by_label_counts_and_indices():
    p = subsets.partition_by_label([2, 0, 1, 2, 2, 0], num_classes=4)
    assert p.num_subsets == 4
    assert p.names == ("0", "1", "2", "3")
    assert p.assignment.dtype == np.int32
    np.testing.assert_array_equal(p.sizes(), [2, 1, 3, 0])
    np.testing.assert_array_equal(p.indices(2), [0, 3, 4])
    np.testing.assert_array_equal(p.indices(0), [1, 5])
    assert p.indices(3).size == 0
    assert len(p) == 6
    with pytest.raises(ValueError, match="read-only"):
        p.assignment[0] = 1


def test_partition_by_label_errors():
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        subsets.partition_by_label([0, 3], num_classes=3)
    with pytest.raises(ValueError, match="integer"):
        subsets.partition_by_label([0.0, 1.0], num_classes=3)
    with pytest.raises(ValueError, match="2 subset names"):
        subsets.partition_by_label([0, 1], num_classes=3, names=("a", "b"))
    p = subsets.partition_by_label([0, 1], num_classes=2)
    with pytest.raises(IndexError, match="subset id 2 out of range"):
        p.indices(2)
    with pytest.raises(IndexError, match="subset id -1 out of range"):
        p.indices(-1)


def test_partition_by_table_sequence_and_mapping():
    labels = [0, 1, 2, 3, 4, 5, 5]
    table = [1, 0, 1, 2, 2, 0]
    p = subsets.partition_by_table(labels, table, names=("bottoms", "tops", "shoes"))
    np.testing.assert_array_equal(p.assignment, [1, 0, 1, 2, 2, 0, 0])
    np.testing.assert_array_equal(p.sizes(), [3, 2, 2])
    assert p.names == ("bottoms", "tops", "shoes")
    q = subsets.partition_by_table(labels, dict(enumerate(table)))
    np.testing.assert_array_equal(q.assignment, p.assignment)


def test_partition_by_table_coverage_errors():
    with pytest.raises(ValueError, match=r"unused ids \[1\]"):
        subsets.partition_by_table([0, 1], [0, 2])
    with pytest.raises(ValueError, match=r"labels contain classes \[2, 6\]"):
        subsets.partition_by_table([0, 1, 2, 6], [0, 1])
    with pytest.raises(ValueError, match="negative subset ids"):
        subsets.partition_by_table([0, 1], [0, -1])
    with pytest.raises(ValueError, match=r"missing classes \[1\]"):
        subsets.partition_by_table([0], {0: 0, 2: 1})
    with pytest.raises(ValueError, match="empty"):
        subsets.partition_by_table([0], [])


def test_partition_by_assignment():
    p = subsets.partition_by_assignment([0, 2, 2])
    assert p.num_subsets == 3
    np.testing.assert_array_equal(p.sizes(), [1, 0, 2])
    assert subsets.partition_by_assignment([0, 0], num_subsets=4).num_subsets == 4
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        subsets.partition_by_assignment([0, 2], num_subsets=2)
    with pytest.raises(ValueError, match="negative"):
        subsets.partition_by_assignment([0, -1])
    with pytest.raises(ValueError, match="num_subsets is required"):
        subsets.partition_by_assignment([])


# --------------------------------------------------------------------------- shuffled batches
def test_epoch_permutation_deterministic_and_epoch_dependent():
    a = subsets.epoch_permutation(seed=3, epoch=0, n=50)
    np.testing.assert_array_equal(np.sort(a), np.arange(50))
    np.testing.assert_array_equal(a, subsets.epoch_permutation(seed=3, epoch=0, n=50))
    assert not np.array_equal(a, subsets.epoch_permutation(seed=3, epoch=1, n=50))
    assert not np.array_equal(a, subsets.epoch_permutation(seed=4, epoch=0, n=50))
    with pytest.raises(ValueError, match="seed must be a non-negative int"):
        subsets.epoch_permutation(seed=-1, epoch=0, n=5)


def test_shuffled_batches_shapes_and_remainder():
    perm = subsets.epoch_permutation(seed=7, epoch=2, n=10)
    b = subsets.shuffled_batches(10, 3, seed=7, epoch=2)
    assert b.shape == (3, 3) and b.dtype == np.int32
    np.testing.assert_array_equal(b.ravel(), perm[:9])
    full = subsets.shuffled_batches(10, 3, seed=7, epoch=2, drop_remainder=False)
    assert full.shape == (4, 3)
    np.testing.assert_array_equal(full[3], [perm[9], perm[0], perm[1]])
    np.testing.assert_array_equal(np.unique(full), np.arange(10))
    with pytest.raises(ValueError, match="fewer than one batch"):
        subsets.shuffled_batches(2, 3, seed=0, epoch=0)
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        subsets.shuffled_batches(10, 0, seed=0, epoch=0)


# --------------------------------------------------------------------------- balanced one-vs-rest
def _three_subsets() -> subsets.Partition:
    # subset 0: 8 examples, subset 1: 6, subset 2: 10 (N = 24), interleaved
    assignment = np.array([0, 1, 2] * 6 + [0, 0, 2, 2, 2, 2])
    return subsets.partition_by_assignment(assignment)


def test_balanced_one_vs_rest_epoch_content():
    p = _three_subsets()
    np.testing.assert_array_equal(p.sizes(), [8, 6, 10])
    idx, target = subsets.balanced_one_vs_rest(p, 0, batch_size=4, seed=1, epoch=0)
    assert idx.shape == (4, 4) and idx.dtype == np.int32
    assert target.shape == (4, 4) and target.dtype == np.float32
    # every batch is exactly half positives, and the targets say who is positive
    np.testing.assert_array_equal(target.sum(1), [2, 2, 2, 2])
    np.testing.assert_array_equal(target, (p.assignment[idx] == 0).astype(np.float32))
    # positives: all of subset 0 exactly once
    np.testing.assert_array_equal(np.sort(idx[target == 1]), p.indices(0))
    # negatives: 8 distinct examples (without replacement), none from subset 0
    neg = idx[target == 0]
    assert len(np.unique(neg)) == 8
    assert not np.isin(neg, p.indices(0)).any()


def test_balanced_one_vs_rest_determinism_and_fresh_draws():
    p = _three_subsets()
    a = subsets.balanced_one_vs_rest(p, 1, batch_size=4, seed=5, epoch=3)
    b = subsets.balanced_one_vs_rest(p, 1, batch_size=4, seed=5, epoch=3)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert a[0].shape == (3, 4)  # 6 positives / half-batch 2
    negatives_seen = set()
    for epoch in range(6):
        idx, target = subsets.balanced_one_vs_rest(p, 1, batch_size=4, seed=5, epoch=epoch)
        if epoch != 3:
            assert not np.array_equal(idx, a[0])
        negatives_seen |= set(idx[target == 0].tolist())
    # 6 negatives per epoch from 18 candidates: fresh draws reach more than one epoch's worth
    assert len(negatives_seen) > 6


def test_balanced_one_vs_rest_remainder():
    p = _three_subsets()
    idx, target = subsets.balanced_one_vs_rest(p, 1, batch_size=8, seed=0, epoch=0)
    assert idx.shape == (1, 8)  # 6 positives, half-batch 4: 2 positives dropped
    assert target.sum() == 4
    idx, target = subsets.balanced_one_vs_rest(p, 1, batch_size=8, seed=0, epoch=0, drop_remainder=False)
    assert idx.shape == (2, 8)
    pos = idx[target == 1]
    np.testing.assert_array_equal(np.unique(pos), p.indices(1))  # every positive at least once
    assert len(pos) == 8  # 6 + 2 repeated to complete the last half-batch
    assert len(np.unique(idx[target == 0])) == 8


def test_balanced_one_vs_rest_errors():
    p = _three_subsets()
    with pytest.raises(ValueError, match="even batch_size"):
        subsets.balanced_one_vs_rest(p, 0, batch_size=5, seed=0, epoch=0)
    with pytest.raises(ValueError, match="fewer than half a batch"):
        subsets.balanced_one_vs_rest(p, 1, batch_size=14, seed=0, epoch=0)
    with pytest.raises(IndexError, match="subset id 3 out of range"):
        subsets.balanced_one_vs_rest(p, 3, batch_size=4, seed=0, epoch=0)
    lopsided = subsets.partition_by_assignment([0] * 10 + [1] * 3)
    with pytest.raises(ValueError, match="needs 10 negatives per epoch but the other subsets hold only 3"):
        subsets.balanced_one_vs_rest(lopsided, 0, batch_size=4, seed=0, epoch=0)


# --------------------------------------------------------------------------- cyclic schedule (Alg. 2)
def _sizes_7_3_5() -> subsets.Partition:
    return subsets.partition_by_assignment([0] * 7 + [1] * 3 + [2] * 5)


def test_cyclic_schedule_equal_batches_and_cyclic_repeat():
    p = _sizes_7_3_5()
    s = subsets.cyclic_schedule(p, 2, seed=11, epoch=0)
    assert s.shape == (3, 3, 2) and s.dtype == np.int32  # M_k = 3, 1, 2 -> M = 3
    for k in range(3):
        assert set(p.assignment[s[:, k]].ravel().tolist()) == {k}  # subset k's data only
    # subset 0: 3 distinct batches, 6 distinct examples
    assert len(np.unique(s[:, 0])) == 6
    # subset 1 has one batch, repeated; subset 2 has two, repeated cyclically
    np.testing.assert_array_equal(s[1, 1], s[0, 1])
    np.testing.assert_array_equal(s[2, 1], s[0, 1])
    np.testing.assert_array_equal(s[2, 2], s[0, 2])
    assert not np.array_equal(s[1, 2], s[0, 2])
    assert len(np.unique(s[:2, 2])) == 4
    np.testing.assert_array_equal(s, subsets.cyclic_schedule(p, 2, seed=11, epoch=0))
    assert not np.array_equal(s, subsets.cyclic_schedule(p, 2, seed=11, epoch=1))


def test_cyclic_schedule_without_dropping():
    p = _sizes_7_3_5()
    s = subsets.cyclic_schedule(p, 2, seed=0, epoch=0, drop_remainder=False)
    assert s.shape == (4, 3, 2)  # M_k = 4, 2, 3
    np.testing.assert_array_equal(np.unique(s[:, 0]), p.indices(0))
    np.testing.assert_array_equal(s[2:, 1], s[:2, 1])
    np.testing.assert_array_equal(s[3, 2], s[0, 2])
    np.testing.assert_array_equal(np.unique(s[:3, 2]), p.indices(2))


def test_cyclic_schedule_errors():
    p = _sizes_7_3_5()
    with pytest.raises(ValueError, match=r"smaller than batch_size=4 \(name: size\): \{'1': 3\}"):
        subsets.cyclic_schedule(p, 4, seed=0, epoch=0)
    with pytest.raises(ValueError, match="epoch must be a non-negative int"):
        subsets.cyclic_schedule(p, 2, seed=0, epoch=-2)
