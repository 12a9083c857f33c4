"""INR models: Fourier features, pixel grid, prunable counts, conditioned baseline and fair init."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rtl_jax import masks
from rtl_jax.models import get_model, inr


def _prunable_count(spec, params):
    pr = masks.select_prunable(params, spec.prunable_include, spec.prunable_exclude, verbose=False)
    return masks.total_prunable(params, pr), pr


# --------------------------------------------------------------------------- features
def test_fourier_features_values_at_known_coordinate():
    f = np.asarray(inr.fourier_features(jnp.array([0.5, -0.25])))
    assert f.shape == (34,)
    r = math.sqrt(0.5)
    # x = 0.5: angles pi/2, pi, 2pi, 4pi, ... ; y = -0.25: angles -pi/4, -pi/2, -pi, -2pi, ...
    expected = [0.5, -0.25]
    expected += [1, 0, 0, 0, 0, 0, 0, 0]  # sin x
    expected += [0, -1, 1, 1, 1, 1, 1, 1]  # cos x
    expected += [-r, -1, 0, 0, 0, 0, 0, 0]  # sin y
    expected += [r, 0, -1, 1, 1, 1, 1, 1]  # cos y
    np.testing.assert_allclose(f, expected, atol=2e-5)


def test_fourier_features_shapes_and_errors():
    assert inr.fourier_features(jnp.zeros((2, 3, 2))).shape == (2, 3, 34)
    assert inr.fourier_features(jnp.zeros((5, 2)), num_frequencies=2).shape == (5, 10)
    assert inr.num_fourier_features(8) == 34
    with pytest.raises(ValueError, match=r"\[\.\.\., 2\]"):
        inr.fourier_features(jnp.zeros((4, 3)))
    with pytest.raises(ValueError, match="num_frequencies"):
        inr.fourier_features(jnp.zeros((4, 2)), num_frequencies=-1)


def test_pixel_grid_row_major_x_then_y():
    g = np.asarray(inr.pixel_grid(2, 3))
    np.testing.assert_array_equal(g, [[-1, -1], [0, -1], [1, -1], [-1, 1], [0, 1], [1, 1]])
    with pytest.raises(ValueError, match="width"):
        inr.pixel_grid(2, 0)


# --------------------------------------------------------------------------- RTL MLP
def test_inr_mlp_prunable_count_and_shapes():
    spec = get_model("inr_mlp", num_outputs=3, input_shape=(34,))
    params = spec.init(jax.random.key(0))["params"]
    n, pr = _prunable_count(spec, params)
    assert n == 53_888 == 34 * 128 + 3 * 128 * 128 + 128 * 3
    assert jax.tree.map(jnp.shape, params)["Dense_0"]["kernel"] == (34, 128)
    assert jax.tree.map(jnp.shape, params)["Dense_4"]["kernel"] == (128, 3)
    assert [k for k in sorted(pr) if pr[k]["kernel"] and not pr[k]["bias"]] == [f"Dense_{i}" for i in range(5)]
    out = spec.module.apply({"params": params}, jnp.zeros((7, 34)))
    assert out.shape == (7, 3)


# --------------------------------------------------------------------------- conditioned baseline
def _cond(num_regions=4, **kw):
    return get_model("inr_mlp_conditioned", num_outputs=3, input_shape=(35,), num_regions=num_regions, **kw)


def test_conditioned_prunable_counts_exclude_embedding_rows_by_default():
    spec = _cond()
    params = spec.init(jax.random.key(0))["params"]
    assert params["Dense_0"]["embed_kernel"].shape == (16, 128)
    assert params["region_embedding"].shape == (4, 16)
    n, pr = _prunable_count(spec, params)
    assert n == 53_888
    assert pr["Dense_0"]["embed_kernel"] is False and pr["region_embedding"] is False
    spec2 = _cond(prune_embedding_input=True)
    n2, pr2 = _prunable_count(spec2, spec2.init(jax.random.key(0))["params"])
    assert n2 == 53_888 + 16 * 128 == 55_936
    assert pr2["Dense_0"]["embed_kernel"] is True and pr2["region_embedding"] is False


def test_conditioned_first_layer_is_one_50_wide_layer():
    """features @ K + emb @ E + b equals the concatenated [50 -> 128] layer; init scale is fan_in 50."""
    spec = _cond()
    params = spec.init(jax.random.key(1))["params"]
    feats = jax.random.uniform(jax.random.key(2), (5, 34), minval=-1, maxval=1)
    ids = np.array([0, 1, 2, 3, 1])
    x = inr.conditioned_inputs(feats, ids, 4)
    _, inter = spec.module.apply({"params": params}, x, capture_intermediates=True)
    h0 = inter["intermediates"]["Dense_0"]["__call__"][0]
    cat_in = jnp.concatenate([feats, params["region_embedding"][ids]], axis=-1)
    cat_k = jnp.concatenate([params["Dense_0"]["kernel"], params["Dense_0"]["embed_kernel"]], axis=0)
    np.testing.assert_allclose(h0, cat_in @ cat_k + params["Dense_0"]["bias"], rtol=1e-5, atol=1e-5)
    # LeCun normal: std sqrt(1/50) = 0.1414 (fan_in 34 would give 0.1715)
    all_rows = np.concatenate([np.ravel(params["Dense_0"]["kernel"]), np.ravel(params["Dense_0"]["embed_kernel"])])
    assert abs(all_rows.std() - math.sqrt(1 / 50)) < 0.01


def test_conditioned_region_changes_output_and_bad_ids():
    spec = _cond()
    params = spec.init(jax.random.key(0))["params"]
    feats = np.zeros((2, 34), np.float32)
    out = spec.module.apply({"params": params}, inr.conditioned_inputs(feats, np.array([0, 3]), 4))
    assert not np.allclose(out[0], out[1])
    # inside jit an out-of-range id cannot raise: it must be loud (NaN), never clamped
    bad = jnp.concatenate([jnp.zeros((2, 34)), jnp.array([[4.0], [-1.0]])], axis=-1)
    assert np.all(np.isnan(spec.module.apply({"params": params}, bad)))
    with pytest.raises(ValueError, match="region id 4 out of range"):
        inr.conditioned_inputs(feats, np.array([0, 4]), 4)
    with pytest.raises(ValueError, match="integers"):
        inr.conditioned_inputs(feats, np.array([0.0, 1.0]), 4)
    with pytest.raises(ValueError, match="num_regions"):
        get_model("inr_mlp_conditioned", num_outputs=3, input_shape=(35,), num_regions=0)


def test_rtl_init_from_conditioned_shares_weights():
    cspec = _cond()
    cparams = cspec.init(jax.random.key(3))["params"]
    rparams = inr.rtl_init_from_conditioned(cparams)
    rspec = get_model("inr_mlp", num_outputs=3, input_shape=(34,))
    own = rspec.init(jax.random.key(3))["params"]
    assert jax.tree.structure(rparams) == jax.tree.structure(own)
    for name in ("Dense_0", "Dense_1", "Dense_2", "Dense_3", "Dense_4"):
        for k in ("kernel", "bias"):
            np.testing.assert_array_equal(rparams[name][k], cparams[name][k])
    assert "embed_kernel" not in rparams["Dense_0"] and "region_embedding" not in rparams
    # The RTL model equals the baseline with its embedding-input weights deleted (zeroed).
    feats = jax.random.uniform(jax.random.key(4), (6, 34), minval=-1, maxval=1)
    zeroed = {**cparams, "Dense_0": {**cparams["Dense_0"], "embed_kernel": jnp.zeros((16, 128))}}
    x = inr.conditioned_inputs(feats, np.array([0, 1, 2, 3, 0, 1]), 4)
    np.testing.assert_allclose(
        rspec.module.apply({"params": rparams}, feats),
        cspec.module.apply({"params": zeroed}, x),
        rtol=1e-5,
        atol=1e-6,
    )
    with pytest.raises(ValueError, match="region_embedding"):
        inr.rtl_init_from_conditioned(own)
