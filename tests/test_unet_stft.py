"""Speech U-Net: shapes through the stages, the prunable count, mask application and the decoder crop."""
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rtl_jax import masks
from rtl_jax.models import get_model
from rtl_jax.models import unet_stft as U

T = 8
# One jitted apply per bound (compiling the whole net is faster than op-by-op dispatch on 2 cores).
_STATIC = ("train", "mutable", "capture_intermediates")
APPLY = {b: jax.jit(U.UNetSTFT(mask_bound=b).apply, static_argnames=_STATIC) for b in U.MASK_BOUNDS}


@pytest.fixture(scope="module")
def spec_and_vars():
    spec = get_model("unet_stft", num_outputs=2, input_shape=(T, 513, 2))
    return spec, jax.jit(spec.init)(jax.random.key(0))


def test_prunable_count_is_37368(spec_and_vars):
    spec, variables = spec_and_vars
    assert spec.has_batch_stats and "batch_stats" in variables
    params = variables["params"]
    pr = masks.select_prunable(params, spec.prunable_include, spec.prunable_exclude, verbose=False)
    assert masks.total_prunable(params, pr) == 37_368
    sizes = {k: int(np.prod(v["kernel"].shape)) for k, v in params.items() if "kernel" in v}
    assert sizes == {
        "enc1_conv": 3 * 5 * 2 * 12, "enc2_conv": 3 * 3 * 12 * 12, "enc3_conv": 3 * 3 * 12 * 12,
        "enc4_conv": 3 * 3 * 12 * 24, "enc5_conv": 3 * 3 * 24 * 48,
        "dec1_convT": 3 * 3 * 48 * 24, "dec2_convT": 3 * 3 * 48 * 12, "dec3_convT": 3 * 3 * 24 * 12,
        "dec4_convT": 3 * 3 * 24 * 12, "dec5_convT": 3 * 5 * 24 * 2,
    }  # fmt: skip
    assert not any(pr[k]["bias"] for k in params if "bias" in params[k] and "kernel" in params[k])
    assert not any(v for k in params if k.endswith("_bn") for v in pr[k].values())


def test_frequency_halving_and_output_shape(spec_and_vars):
    _, variables = spec_and_vars
    x = jax.random.normal(jax.random.key(1), (2, T, 513, 2))
    y, inter = APPLY["tanh"](variables, x, train=False, capture_intermediates=True)
    assert y.shape == x.shape
    freqs = [inter["intermediates"][f"enc{i}_conv"]["__call__"][0].shape[1:] for i in range(1, 6)]
    assert freqs == [(T, 257, 12), (T, 129, 12), (T, 65, 12), (T, 33, 24), (T, 17, 48)]


def test_train_mode_updates_batch_stats_in_conv_elu_bn_order(spec_and_vars):
    _, variables = spec_and_vars
    x = jax.random.normal(jax.random.key(1), (2, T, 513, 2))
    y, upd = APPLY["tanh"](variables, x, train=True, mutable=("batch_stats", "intermediates"),
                           capture_intermediates=True)  # fmt: skip
    assert y.shape == x.shape
    assert set(upd["batch_stats"]) == {f"enc{i}_bn" for i in range(1, 6)} | {f"dec{i}_bn" for i in range(1, 5)}
    # BN sees ELU(conv(x)); PyTorch momentum 0.1: running mean = 0.9 * 0 + 0.1 * batch mean.
    conv1 = upd["intermediates"]["enc1_conv"]["__call__"][0]
    expected = 0.1 * jnp.mean(jax.nn.elu(conv1), axis=(0, 1, 2))
    np.testing.assert_allclose(upd["batch_stats"]["enc1_bn"]["mean"], expected, rtol=1e-4, atol=1e-6)


def test_output_matches_input_for_any_frequency_size(spec_and_vars):
    """Odd and even F (even F needs PyTorch's output_padding = 1), down to a single bin."""
    spec, variables = spec_and_vars
    assert spec.module == U.UNetSTFT(mask_bound="tanh")  # the module APPLY compiles
    for f in (1, 2, 100, 514):
        assert APPLY["tanh"](variables, jnp.ones((1, 2, f, 2)), train=False).shape == (1, 2, f, 2)


def _with_constant_mask(variables, raw_mask):
    """Zero the last kernel and set its bias, so the raw decoder output is ``raw_mask`` everywhere."""
    p = dict(variables["params"])
    p["dec5_convT"] = {"kernel": jnp.zeros_like(p["dec5_convT"]["kernel"]), "bias": jnp.asarray(raw_mask, jnp.float32)}
    return {**variables, "params": p}


def test_tanh_mask_is_applied_by_complex_multiplication(spec_and_vars):
    _, variables = spec_and_vars
    x = jax.random.normal(jax.random.key(2), (1, T, 513, 2))
    v = _with_constant_mask(variables, [math.atanh(0.5), math.atanh(-0.25)])  # M = 0.5 - 0.25i
    y = APPLY["tanh"](v, x, train=False)
    re, im = x[..., 0], x[..., 1]
    np.testing.assert_allclose(y[..., 0], 0.5 * re + 0.25 * im, atol=1e-5)
    np.testing.assert_allclose(y[..., 1], 0.5 * im - 0.25 * re, atol=1e-5)


def test_polar_tanh_mask_bound(spec_and_vars):
    _, variables = spec_and_vars  # the parameters do not depend on the bound
    v = _with_constant_mask(variables, [3.0, 4.0])  # |O| = 5 -> M = tanh(5)(0.6 + 0.8i)
    x = jnp.zeros((1, 2, 33, 2)).at[..., 0].set(1.0)  # X = 1
    y = APPLY["polar_tanh"](v, x, train=False)
    np.testing.assert_allclose(y[0, 0, 0], [0.6 * math.tanh(5), 0.8 * math.tanh(5)], atol=1e-6)
    np.testing.assert_allclose(U.bound_mask(jnp.zeros((2,)), "polar_tanh"), [0.0, 0.0])
    g = jax.grad(lambda r: jnp.sum(U.bound_mask(r, "polar_tanh")))(jnp.zeros((2,)))
    np.testing.assert_allclose(g, [1.0, 1.0])  # tanh(r)/r -> 1 at 0, finite gradient


def test_decoder_crop_centres_the_upsampled_grid():
    """A centre-tap kernel maps input bin i to output bin 2i and frame t to frame t (PyTorch padding k//2)."""
    for k in [(3, 3), (3, 5)]:
        conv = nn.ConvTranspose(1, k, strides=U.STRIDE, padding="VALID")
        kernel = jnp.zeros(k + (1, 1)).at[k[0] // 2, k[1] // 2, 0, 0].set(1.0)
        x = jnp.zeros((1, 4, 17, 1)).at[0, 1, 3, 0].set(1.0)
        y = U._crop(conv.apply({"params": {"kernel": kernel, "bias": jnp.zeros(1)}}, x), k, (4, 33))
        assert y.shape == (1, 4, 33, 1)
        assert np.argwhere(np.asarray(y[0, :, :, 0])).tolist() == [[1, 6]]


def test_registry_errors():
    with pytest.raises(ValueError, match="num_outputs must be 2"):
        get_model("unet_stft", num_outputs=3, input_shape=(T, 513, 2))
    with pytest.raises(ValueError, match=r"\(T, F, 2\)"):
        get_model("unet_stft", num_outputs=2, input_shape=(513, 2))
    with pytest.raises(ValueError, match="mask_bound"):
        get_model("unet_stft", num_outputs=2, input_shape=(T, 513, 2), mask_bound="sigmoid")
