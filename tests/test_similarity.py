"""Jaccard matrices, chance baselines and depth groups against hand-computed values."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rtl_jax import similarity as S

# Three tickets over two prunable leaves (6 + 4 weights) and one dense, non-prunable bias.
#   conv/kernel  t0: 1 1 1 0 0 0   t1: 1 1 0 1 0 0   t2: (empty)
#   dense/kernel t0: 1 0 1 0       t1: 1 0 1 0       t2: 0 1 1 1
# conv:  |t0|=3 |t1|=3 |t2|=0, ∩01=2 ∩02=0 ∩12=0
# dense: |t0|=2 |t1|=2 |t2|=3, ∩01=2 ∩02=1 ∩12=1
# global: |t0|=5 |t1|=5 |t2|=3, ∩01=4 ∩02=1 ∩12=1 -> J01 = 4/6, J02 = J12 = 1/(5+3-1) = 1/7
CONV = [[1, 1, 1, 0, 0, 0], [1, 1, 0, 1, 0, 0], [0, 0, 0, 0, 0, 0]]
DENSE = [[1, 0, 1, 0], [1, 0, 1, 0], [0, 1, 1, 1]]
PRUNABLE = {"conv": {"kernel": True, "bias": False}, "dense": {"kernel": True}}


def literal_masks():
    return {
        "conv": {
            "kernel": jnp.asarray(np.array(CONV, bool).reshape(3, 2, 3)),
            "bias": jnp.ones((3, 3), bool),  # dense, must not count (it would change every value below)
        },
        "dense": {"kernel": jnp.asarray(np.array(DENSE, bool).reshape(3, 2, 2))},
    }


J_GLOBAL = np.array([[1, 4 / 6, 1 / 7], [4 / 6, 1, 1 / 7], [1 / 7, 1 / 7, 1]])
J_CONV = np.array([[1, 2 / 4, 0], [2 / 4, 1, 0], [0, 0, 1]])  # t2 empty: J(∅, ∅) := 1 on its diagonal
J_DENSE = np.array([[1, 2 / 2, 1 / 4], [1, 1, 1 / 4], [1 / 4, 1 / 4, 1]])
# Chance, ratio of expectations: E∩ = Σ c_i c_j / n over layers (n = 6, 4), E∪ = c_i + c_j - E∩.
#   01: E∩ = 3·3/6 + 2·2/4 = 2.5, E∪ = 10 - 2.5 -> 1/3;  02, 12: E∩ = 0 + 2·3/4 = 1.5, E∪ = 8 - 1.5 -> 3/13
#   00, 11: 1/3;  22: E∩ = 3·3/4 = 2.25, E∪ = 6 - 2.25 -> 0.6
J_CHANCE = np.array([[1 / 3, 1 / 3, 3 / 13], [1 / 3, 1 / 3, 3 / 13], [3 / 13, 3 / 13, 0.6]])


def test_intersection_counts_exact_on_literal_masks():
    counts = S.intersection_counts(literal_masks(), PRUNABLE)
    assert list(counts) == ["conv/kernel", "dense/kernel"]
    assert counts["conv/kernel"].dtype == jnp.int32
    np.testing.assert_array_equal(counts["conv/kernel"], [[3, 2, 0], [2, 3, 0], [0, 0, 0]])
    np.testing.assert_array_equal(counts["dense/kernel"], [[2, 2, 1], [2, 2, 1], [1, 1, 3]])
    assert S.leaf_sizes(literal_masks(), PRUNABLE) == {"conv/kernel": 6, "dense/kernel": 4}


def test_jaccard_global_per_layer_and_groups():
    st = literal_masks()
    np.testing.assert_allclose(S.jaccard_matrix(st, PRUNABLE), J_GLOBAL, rtol=1e-7)
    per = S.jaccard_per_layer(st, PRUNABLE)
    np.testing.assert_allclose(per["conv/kernel"], J_CONV, rtol=1e-7)
    np.testing.assert_allclose(per["dense/kernel"], J_DENSE, rtol=1e-7)
    groups = S.jaccard_groups(st, PRUNABLE, {"all": ["conv/kernel", "dense/kernel"], "deep": ["dense/kernel"]})
    np.testing.assert_allclose(groups["all"], J_GLOBAL, rtol=1e-7)
    np.testing.assert_allclose(groups["deep"], J_DENSE, rtol=1e-7)


def test_jaccard_is_jittable_and_matches_eager():
    st = literal_masks()
    jitted = jax.jit(lambda s: S.jaccard_matrix(s, PRUNABLE))
    np.testing.assert_array_equal(jitted(st), S.jaccard_matrix(st, PRUNABLE))
    assert hasattr(jitted, "lower")
    chance = jax.jit(lambda s: S.chance_jaccard_matrix(s, PRUNABLE))(st)
    np.testing.assert_allclose(chance, J_CHANCE, rtol=1e-6)


def test_empty_masks_and_zero_over_zero():
    st = {"w": jnp.zeros((2, 5), bool)}
    np.testing.assert_array_equal(S.jaccard_matrix(st, {"w": True}), np.ones((2, 2)))
    st = {"w": jnp.array([[0, 0, 0], [1, 0, 0]], bool)}
    np.testing.assert_array_equal(S.jaccard_matrix(st, {"w": True}), [[1, 0], [0, 1]])


def test_counts_match_numpy_on_random_masks():
    rng = np.random.default_rng(0)
    shapes = {"a": (3, 3, 4, 8), "b": (50, 7), "c": (33,)}
    st = {k: jnp.asarray(rng.random((5,) + s) < p) for (k, s), p in zip(shapes.items(), (0.3, 0.6, 0.1), strict=True)}
    pr = {k: True for k in shapes}
    counts = S.intersection_counts(st, pr)
    total = np.zeros((5, 5), np.int64)
    for k in shapes:
        flat = np.asarray(st[k]).reshape(5, -1).astype(np.int64)
        np.testing.assert_array_equal(counts[k], flat @ flat.T)
        total += flat @ flat.T
    kept = np.diag(total)
    np.testing.assert_allclose(S.jaccard_matrix(st, pr), total / (kept[:, None] + kept[None, :] - total), rtol=1e-6)


def test_count_limits_are_checked_without_allocating():
    too_big = {"w": jax.ShapeDtypeStruct((2, 2**31), jnp.bool_)}
    with pytest.raises(ValueError, match="more than int32 counts hold exactly"):
        jax.eval_shape(lambda s: S.intersection_counts(s, {"w": True}), too_big)
    # each leaf fits, the global sum does not
    halves = {"a": jax.ShapeDtypeStruct((2, 2**30), jnp.bool_), "b": jax.ShapeDtypeStruct((2, 2**30), jnp.bool_)}
    pr = {"a": True, "b": True}
    jax.eval_shape(lambda s: S.jaccard_per_layer(s, pr), halves)
    with pytest.raises(ValueError, match="the prunable network has 2,147,483,648 weights"):
        jax.eval_shape(lambda s: S.jaccard_matrix(s, pr), halves)


def test_mean_similarity_is_mean_over_other_tickets():
    # t0: (4/6 + 1/7) / 2 = 17/42; t2: (1/7 + 1/7) / 2 = 1/7
    ms = S.mean_similarity(S.jaccard_matrix(literal_masks(), PRUNABLE))
    np.testing.assert_allclose(ms, [17 / 42, 17 / 42, 1 / 7], rtol=1e-6)
    np.testing.assert_allclose(S.mean_offdiagonal(jnp.asarray(J_GLOBAL)), (17 / 42 * 2 + 1 / 7) / 3, rtol=1e-6)
    with pytest.raises(ValueError, match="at least 2 tickets"):
        S.mean_similarity(jnp.ones((1, 1)))
    with pytest.raises(ValueError, match="square"):
        S.mean_similarity(jnp.ones((2, 3)))


def test_expected_random_jaccard_hand_values():
    # d/(2-d): 0.5 -> 1/3, 0.25 -> 1/7, 0.75 -> 0.6; unequal: 0.5·0.25 / (0.5 + 0.25 - 0.125) = 0.2
    np.testing.assert_allclose(S.expected_random_jaccard(jnp.array([0.5, 0.25, 0.75]), jnp.array([0.5, 0.25, 0.75])),
                               [1 / 3, 1 / 7, 0.6], rtol=1e-6)
    np.testing.assert_allclose(S.expected_random_jaccard(0.5, 0.25), 0.2, rtol=1e-6)
    assert float(S.expected_random_jaccard(0.0, 0.0)) == 1.0
    assert float(S.expected_random_jaccard(1.0, 1.0)) == 1.0
    assert float(S.expected_random_jaccard(0.0, 0.4)) == 0.0
    with pytest.raises(ValueError, match=r"d_j must lie in \[0, 1\]"):
        S.expected_random_jaccard(0.5, 1.5)
    # traced inputs skip the host check and still compute
    np.testing.assert_allclose(jax.jit(S.expected_random_jaccard)(0.5, 0.5), 1 / 3, rtol=1e-6)


def test_chance_matrix_hand_values_and_uniform_density():
    np.testing.assert_allclose(S.chance_jaccard_matrix(literal_masks(), PRUNABLE), J_CHANCE, rtol=1e-6)
    groups = S.chance_jaccard_groups(literal_masks(), PRUNABLE, {"conv": ["conv/kernel"]})
    # conv only: c = 3, 3, 0 of n = 6: 01 -> 1.5 / 4.5 = 1/3, 02 -> 0 / 3 = 0, 22 -> 0/0 := 1
    np.testing.assert_allclose(groups["conv"], [[1 / 3, 1 / 3, 0], [1 / 3, 1 / 3, 0], [0, 0, 1]], rtol=1e-6)
    # every ticket keeps half of every layer -> d/(2-d) = 1/3 everywhere
    st = {"a": jnp.array([[1, 1, 0, 0], [0, 1, 1, 0]], bool), "b": jnp.array([[1, 0], [1, 0]], bool)}
    np.testing.assert_allclose(S.chance_jaccard_matrix(st, {"a": True, "b": True}), np.full((2, 2), 1 / 3), rtol=1e-6)


def test_chance_matches_random_masks_statistically():
    rng = np.random.default_rng(1)
    st = {"w": jnp.asarray(rng.random((3, 100_000)) < 0.3)}
    jac = np.asarray(S.jaccard_matrix(st, {"w": True}))
    chance = np.asarray(S.chance_jaccard_matrix(st, {"w": True}))
    off = ~np.eye(3, dtype=bool)
    np.testing.assert_allclose(jac[off], 0.3 / 1.7, atol=0.005)
    np.testing.assert_allclose(chance[off], jac[off], atol=0.005)
    assert np.all(np.abs(np.asarray(S.chance_corrected(jac, chance))[off]) < 0.01)


def test_chance_corrected():
    out = S.chance_corrected(jnp.array([0.5, 1 / 3, 1.0, 0.0, 1.0]), jnp.array([1 / 3, 1 / 3, 0.2, 0.2, 1.0]))
    # (0.5 - 1/3) / (2/3) = 0.25; chance -> 0; identical -> 1; disjoint -> -0.2/0.8 = -0.25; Jc = 1 -> NaN
    np.testing.assert_allclose(out[:4], [0.25, 0.0, 1.0, -0.25], atol=1e-7)
    assert np.isnan(out[4])
    st = literal_masks()
    cor = S.chance_corrected(S.jaccard_matrix(st, PRUNABLE), S.chance_jaccard_matrix(st, PRUNABLE))
    # 01: (2/3 - 1/3) / (2/3) = 1/2;  02: (1/7 - 3/13) / (10/13) = -4/35
    np.testing.assert_allclose([cor[0, 1], cor[0, 2]], [0.5, -4 / 35], rtol=1e-6)
    with pytest.raises(ValueError, match="shape"):
        S.chance_corrected(jnp.ones((2, 2)), jnp.ones((3, 3)))


def test_similarity_report_is_host_json_ready():
    rep = S.similarity_report(literal_masks(), PRUNABLE, {"deep": ["dense/kernel"]})
    np.testing.assert_allclose(rep["jaccard"], J_GLOBAL, rtol=1e-6)
    np.testing.assert_allclose(rep["chance"], J_CHANCE, rtol=1e-6)
    np.testing.assert_allclose(rep["density"], [5 / 10, 5 / 10, 3 / 10])
    np.testing.assert_allclose(rep["mean_similarity"], [17 / 42, 17 / 42, 1 / 7], rtol=1e-6)
    np.testing.assert_allclose(rep["groups"]["deep"]["jaccard"], J_DENSE, rtol=1e-6)
    assert isinstance(rep["jaccard"][0][1], float)


def test_input_validation_names_the_problem():
    st = literal_masks()
    bad = dict(st, dense={"kernel": st["dense"]["kernel"].astype(jnp.int32)})
    with pytest.raises(ValueError, match="'dense/kernel' has dtype int32"):
        S.jaccard_matrix(bad, PRUNABLE)
    bad = dict(st, dense={"kernel": jnp.ones((2, 2, 2), bool)})
    with pytest.raises(ValueError, match="'dense/kernel' has 2 tickets, other leaves have 3"):
        S.jaccard_matrix(bad, PRUNABLE)
    with pytest.raises(ValueError, match="different tree structures"):
        S.jaccard_matrix({"conv": st["conv"]}, PRUNABLE)
    with pytest.raises(ValueError, match="no prunable leaf"):
        S.jaccard_matrix(st, {"conv": {"kernel": False, "bias": False}, "dense": {"kernel": False}})
    with pytest.raises(ValueError, match="'dense/bias', not a prunable path"):
        S.jaccard_groups(st, PRUNABLE, {"x": ["dense/bias"]})
    with pytest.raises(ValueError, match="lists a path twice"):
        S.jaccard_groups(st, PRUNABLE, {"x": ["conv/kernel", "conv/kernel"]})
    with pytest.raises(ValueError, match="expected a list of paths"):
        S.jaccard_groups(st, PRUNABLE, {"x": "conv/kernel"})


def test_depth_groups_split_and_names():
    paths = [f"L{i}/kernel" for i in range(7)]
    g = S.depth_groups(paths)
    assert g == {"shallow": paths[0:3], "middle": paths[3:5], "deep": paths[5:7]}
    assert S.depth_groups(paths[:4], 2, names=("low", "high")) == {"low": paths[:2], "high": paths[2:4]}
    with pytest.raises(ValueError, match="cannot split 2 layers into 3 groups"):
        S.depth_groups(paths[:2])
    with pytest.raises(ValueError, match="names are required"):
        S.depth_groups(paths, 2)
    with pytest.raises(ValueError, match="duplicates"):
        S.depth_groups(["a", "a", "b"])


def test_ordered_prunable_paths_follow_insertion_not_sorted_order():
    params = {"Conv_2": {"kernel": 1, "bias": 0}, "Conv_10": {"kernel": 1}, "Dense_0": {"kernel": 1}}
    prunable = {"Conv_2": {"kernel": True, "bias": False}, "Conv_10": {"kernel": True}, "Dense_0": {"kernel": True}}
    assert S.ordered_prunable_paths(params, prunable) == ["Conv_2/kernel", "Conv_10/kernel", "Dense_0/kernel"]
    assert [p for p in jax.tree_util.tree_flatten_with_path(prunable)[0]][0][0][0].key == "Conv_10"  # jax sorts
    assert S.natural_sort_paths(["Conv_10/kernel", "Conv_2/kernel", "Conv_1/kernel"]) == [
        "Conv_1/kernel", "Conv_2/kernel", "Conv_10/kernel"]


def test_depth_groups_on_linen_params_follow_forward_order():
    import flax.linen as nn

    class Deep(nn.Module):
        @nn.compact
        def __call__(self, x):
            for _ in range(12):
                x = nn.Dense(2)(x)
            return x

    params = Deep().init(jax.random.key(0), jnp.ones((1, 2)))["params"]
    prunable = jax.tree_util.tree_map_with_path(lambda kp, _: kp[-1].key == "kernel", params)
    paths = S.ordered_prunable_paths(params, prunable)
    assert paths == [f"Dense_{i}/kernel" for i in range(12)]
    groups = S.depth_groups(paths)
    assert groups["shallow"][-1] == "Dense_3/kernel" and groups["deep"] == [f"Dense_{i}/kernel" for i in range(8, 12)]
    # the groups plug straight into jaccard_groups on a stacked mask of these params
    stacked = jax.tree.map(lambda p: jnp.ones((2,) + p.shape, bool), params)
    out = S.jaccard_groups(stacked, prunable, groups)
    np.testing.assert_array_equal(out["middle"], np.ones((2, 2)))


def test_chance_level_of_dense_masks_is_exactly_one():
    import jax.numpy as jnp

    from rtl_jax import similarity

    st = {"w": jnp.ones((2, 1000), bool), "v": jnp.ones((2, 7, 3), bool)}
    pr = {"w": True, "v": True}
    jc = similarity.chance_jaccard_matrix(st, pr)
    assert float(jc[0, 1]) == 1.0
    assert bool(jnp.isnan(similarity.chance_corrected(similarity.jaccard_matrix(st, pr), jc)[0, 1]))
