import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rtl_jax import masks, pruning


def tree():
    return {
        "a": {"kernel": jnp.array([[0.5, -3.0, 1.0], [2.0, -0.1, 0.7]])},  # 6
        "b": {"kernel": jnp.array([0.2, -4.0, 0.9, 0.05]), "bias": jnp.array([9.0, 9.0])},  # 4 (+2 dense)
    }


def prunable(p):
    return masks.select_prunable(p, include=[r"kernel$"], verbose=False)


def kept_values(p, m):
    vals = [np.asarray(p[k]["kernel"])[np.asarray(m[k]["kernel"])] for k in ("a", "b")]
    return sorted(round(float(v), 4) for v in np.concatenate(vals))


def test_topk_exact_count_and_index_tiebreak():
    s = jnp.array([1.0, 3.0, 3.0, 2.0, 3.0])
    np.testing.assert_array_equal(pruning.topk_mask(s, 2), [False, True, True, False, False])
    np.testing.assert_array_equal(pruning.topk_mask(s, 0), [False] * 5)
    np.testing.assert_array_equal(pruning.topk_mask(s, 5), [True] * 5)
    # invalid entries are never kept while valid ones remain (no regrowth)
    valid = jnp.array([True, False, True, True, True])
    np.testing.assert_array_equal(pruning.topk_mask(s, 3, valid), [False, False, True, True, True])
    # all-equal scores: the first k by index
    np.testing.assert_array_equal(pruning.topk_mask(jnp.zeros(6), 4), [True] * 4 + [False] * 2)
    # jit with traced keep
    f = jax.jit(pruning.topk_mask)
    assert int(f(jnp.arange(100.0), 37).sum()) == 37


def test_global_count_exact():
    p = tree()
    pr = prunable(p)
    m = pruning.prune(pruning.magnitude_scores(p), masks.init_mask(p), pr, amount=4, mode="count")
    assert int(masks.kept_count(m, pr)) == 6
    assert kept_values(p, m) == sorted([-4.0, -3.0, 2.0, 1.0, 0.9, 0.7])
    assert bool(jnp.all(m["b"]["bias"]))  # dense leaves untouched
    # prune again: only kept weights ranked, result is a subset
    m2 = pruning.prune(pruning.magnitude_scores(p), m, pr, amount=3, mode="count")
    assert kept_values(p, m2) == sorted([-4.0, -3.0, 2.0])
    assert all(bool(jnp.all(~b | a)) for a, b in zip(jax.tree.leaves(m), jax.tree.leaves(m2)))


def test_global_fraction_of_remaining():
    p = tree()
    pr = prunable(p)
    m = pruning.prune(pruning.magnitude_scores(p), masks.init_mask(p), pr, amount=0.2, mode="fraction")
    assert int(masks.kept_count(m, pr)) == 8  # round(0.2 * 10) = 2 removed
    m = pruning.prune(pruning.magnitude_scores(p), m, pr, amount=0.5, mode="fraction")
    assert int(masks.kept_count(m, pr)) == 4  # half of the remaining 8


def test_layerwise_counts():
    p = tree()
    pr = prunable(p)
    sc = pruning.magnitude_scores(p)
    m = pruning.prune(sc, masks.init_mask(p), pr, amount=0.5, mode="fraction", scope="layerwise")
    per = {k: int(v) for k, v in masks.kept_count_per_layer(m, pr).items()}
    assert per == {"a/kernel": 3, "b/kernel": 2}
    # count split proportionally to kept weights: 5 of (6, 4) -> 3 and 2
    m = pruning.prune(sc, masks.init_mask(p), pr, amount=5, mode="count", scope="layerwise")
    per = {k: int(v) for k, v in masks.kept_count_per_layer(m, pr).items()}
    assert per == {"a/kernel": 3, "b/kernel": 2}
    assert pruning.keep_counts_layerwise({"x": 10, "y": 5}, remove_total=4) == {"x": 7, "y": 4}


def test_prune_errors():
    p = tree()
    pr = prunable(p)
    sc = pruning.magnitude_scores(p)
    m = masks.init_mask(p)
    with pytest.raises(ValueError, match="only 10 prunable weights remain"):
        pruning.prune(sc, m, pr, amount=11, mode="count")
    with pytest.raises(ValueError, match="fraction must be in"):
        pruning.prune(sc, m, pr, amount=1.5, mode="fraction")
    with pytest.raises(ValueError, match="unknown prune scope"):
        pruning.prune(sc, m, pr, amount=1, scope="local")
    with pytest.raises(ValueError, match="never regrow"):
        pruning.prune_to_counts(sc, pruning.prune(sc, m, pr, amount=5), pr, 7)
    bad = jax.tree.map(lambda x: x.at[0].set(jnp.nan) if x.ndim == 1 else x, sc)
    with pytest.raises(FloatingPointError, match="b/kernel"):
        pruning.prune(bad, m, pr, amount=1)
    with pytest.raises(ValueError, match="unknown pruning score"):
        pruning.get_score_fn("saliency2")


def test_random_scores_control_is_deterministic_and_exact():
    p = tree()
    pr = prunable(p)
    sc = pruning.random_scores(p, key=jax.random.key(3))
    m1 = pruning.prune(sc, masks.init_mask(p), pr, amount=6)
    m2 = pruning.prune(pruning.random_scores(p, key=jax.random.key(3)), masks.init_mask(p), pr, amount=6)
    assert int(masks.kept_count(m1, pr)) == 4
    assert jax.tree.all(jax.tree.map(lambda a, b: bool(jnp.array_equal(a, b)), m1, m2))


def test_jit_equals_nojit():
    p = tree()
    pr = prunable(p)
    sc = pruning.magnitude_scores(p)
    m = masks.init_mask(p)
    eager = pruning.prune_to_counts(sc, m, pr, 5)
    jitted = jax.jit(lambda s, mm: pruning.prune_to_counts(s, mm, pr, 5))(sc, m)
    assert jax.tree.all(jax.tree.map(lambda a, b: bool(jnp.array_equal(a, b)), eager, jitted))


def test_level_plan_count_with_milestones_matches_paper_arithmetic():
    total = 125_832  # truncated GhostNet prunable weights (rtl-paper §7.1)
    plan = pruning.level_plan(total, mode="count", amount=4096, target_sparsity=0.75, milestones=(0.25, 0.5, 0.75))
    assert plan[0] == total
    for s, kept in [(0.25, 94_374), (0.5, 62_916), (0.75, 31_458)]:
        assert kept in plan, s
    steps = np.diff(plan)
    assert np.all(steps < 0) and np.all(-steps <= 4096)
    # 25%: 31,458 to remove = 7 full rounds + 1 clipped (rtl-paper §9.8: 7.7 rounds)
    assert plan.index(94_374) == 8
    assert plan[-1] == 31_458


def test_level_plan_fraction_and_errors():
    plan = pruning.level_plan(1000, mode="fraction", amount=0.2, target_sparsity=0.5)
    assert plan == [1000, 800, 640, 512, 500]
    with pytest.raises(ValueError):
        pruning.level_plan(1000, mode="fraction", amount=1.2, target_sparsity=0.5)
    with pytest.raises(ValueError, match="sparsity must be in"):
        pruning.level_plan(1000, mode="count", amount=10, target_sparsity=1.0)
    with pytest.raises(ValueError, match="milestone"):
        pruning.level_plan(1000, mode="count", amount=10, target_sparsity=0.5, milestones=(0.75,))
    with pytest.raises(ValueError, match="positive integer"):
        pruning.level_plan(1000, mode="count", amount=0, target_sparsity=0.5)
    assert pruning.kept_at_sparsity(100, 0.25) == 75
