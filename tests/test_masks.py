import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rtl_jax import masks


def params():
    return {
        "Dense_0": {"kernel": jnp.arange(6.0).reshape(2, 3), "bias": jnp.zeros(3)},
        "head": {"kernel": jnp.ones((3, 2)), "bias": jnp.zeros(2)},
    }


def test_select_prunable_regex_and_errors():
    p = params()
    pr = masks.select_prunable(p)
    assert pr == {"Dense_0": {"kernel": True, "bias": False}, "head": {"kernel": True, "bias": False}}
    pr = masks.select_prunable(p, exclude=[r"^head/"])
    assert pr["head"]["kernel"] is False and pr["Dense_0"]["kernel"] is True
    with pytest.raises(ValueError, match="matches no parameter"):
        masks.select_prunable(p, exclude=[r"^classifier/"])
    with pytest.raises(ValueError, match="no parameter matched"):
        masks.select_prunable(p, include=[r"nothing"])
    with pytest.raises(ValueError, match="invalid prunable-parameter regex"):
        masks.select_prunable(p, include=["("])
    report = masks.prunable_report(p, masks.select_prunable(p))
    assert report[-1] == "prunable 12 of 17 parameters"


def test_counts_density_union_intersection():
    p = params()
    pr = masks.select_prunable(p)
    m1 = masks.init_mask(p)
    m1["Dense_0"]["kernel"] = jnp.array([[True, False, True], [False, False, True]])
    m2 = masks.init_mask(p)
    m2["Dense_0"]["kernel"] = jnp.array([[False, False, True], [True, False, True]])
    m2["head"]["kernel"] = jnp.array([[True, False], [False, False], [True, True]])
    st = masks.stack([m1, m2])
    assert masks.num_tickets(st) == 2
    assert int(masks.kept_count(m1, pr)) == 3 + 6
    np.testing.assert_array_equal(masks.kept_count_per_ticket(st, pr), [9, 6])
    assert masks.total_prunable(p, pr) == 12
    assert float(masks.density(m1, pr)) == pytest.approx(9 / 12)
    assert float(masks.sparsity(m1, pr)) == pytest.approx(3 / 12)
    np.testing.assert_allclose(masks.density_per_ticket(st, pr), [9 / 12, 6 / 12])
    per_layer = masks.kept_count_per_layer(st, pr, stacked=True)
    np.testing.assert_array_equal(per_layer["Dense_0/kernel"], [3, 3])
    np.testing.assert_array_equal(per_layer["head/kernel"], [6, 3])
    u, i = masks.union(st), masks.intersection(st)
    np.testing.assert_array_equal(u["Dense_0"]["kernel"], [[True, False, True], [True, False, True]])
    np.testing.assert_array_equal(i["Dense_0"]["kernel"], [[False, False, True], [False, False, True]])
    assert int(masks.kept_count(u, pr)) == 4 + 6 and int(masks.kept_count(i, pr)) == 2 + 3
    # non-prunable leaves stay all True
    assert bool(jnp.all(u["Dense_0"]["bias"]))
    back = masks.unstack(st)
    assert jax.tree.all(jax.tree.map(lambda a, b: bool(jnp.array_equal(a, b)), back[1], m2))
    assert jax.tree.all(jax.tree.map(lambda a, b: bool(jnp.array_equal(a, b)), masks.select(st, 0), m1))


def test_apply_zeroes_exactly_and_preserves_dtype():
    p = params()
    m = masks.init_mask(p)
    m["Dense_0"]["kernel"] = jnp.array([[True, False, True], [False, True, False]])
    out = masks.apply(p, m)
    np.testing.assert_array_equal(out["Dense_0"]["kernel"], [[0.0, 0.0, 2.0], [0.0, 4.0, 0.0]])
    assert out["Dense_0"]["kernel"].dtype == p["Dense_0"]["kernel"].dtype
    inf = {"a": jnp.array([jnp.inf, jnp.nan])}
    np.testing.assert_array_equal(masks.apply(inf, {"a": jnp.array([False, False])})["a"], [0.0, 0.0])


def test_validate_errors():
    p = params()
    m = masks.init_mask(p)
    masks.validate(p, m)
    bad = jax.tree.map(lambda x: x.astype(jnp.float32), m)
    with pytest.raises(ValueError, match="dtype"):
        masks.validate(p, bad)
    wrong = dict(m)
    wrong["head"] = {"kernel": jnp.ones((2, 2), bool), "bias": m["head"]["bias"]}
    with pytest.raises(ValueError, match="head/kernel"):
        masks.validate(p, wrong)
    with pytest.raises(ValueError, match="different tree structures"):
        masks.validate(p, {"Dense_0": m["Dense_0"]})
    st = masks.init_masks(p, 3)
    assert masks.validate(p, st, stacked=True) == 3
    with pytest.raises(ValueError, match="expected \\(K,\\)"):
        masks.validate(p, m, stacked=True)
    with pytest.raises(IndexError, match="out of range"):
        masks.select(st, 3)
    with pytest.raises(IndexError, match="out of range"):
        masks.select(st, -1)
    with pytest.raises(ValueError):
        masks.init_masks(p, 0)


@pytest.mark.parametrize("stacked", [False, True])
def test_pack_unpack_roundtrip_one_bit_per_weight(stacked):
    rng = np.random.default_rng(0)
    p = {"a": jnp.zeros((7, 5)), "b": {"c": jnp.zeros((3,))}}
    shape = (4,) if stacked else ()
    m = jax.tree.map(lambda x: jnp.asarray(rng.random(shape + x.shape) < 0.5), p)
    packed = masks.pack(m, stacked=stacked)
    assert packed["a"].dtype == np.uint8
    assert packed["a"].shape == (shape + (5,))  # ceil(35 / 8) = 5 bytes per ticket
    back = masks.unpack(packed, p, stacked=stacked)
    assert jax.tree.all(jax.tree.map(lambda x, y: bool(jnp.array_equal(x, y)) and y.dtype == bool, m, back))
    with pytest.raises(ValueError, match="packed mask leaf 'a'"):
        masks.unpack({"a": packed["a"][..., :3], "b": packed["b"]}, p, stacked=stacked)


def test_jit_compatible_counts():
    p = params()
    pr = masks.select_prunable(p)
    st = masks.init_masks(p, 2)
    f = jax.jit(lambda s: (masks.kept_count_per_ticket(s, pr), masks.union(s)))
    counts, _ = f(st)
    np.testing.assert_array_equal(counts, [12, 12])
