"""Truncated GhostNet (rtl-paper.md §7.1) and the shift-and-add depthwise conv.

One jitted init of the CIFAR-sized model is shared by all tests (module-scoped fixtures); counts and
shapes use ``jax.eval_shape`` so they compile nothing.
"""
from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rtl_jax import masks
from rtl_jax import tree as tree_lib
from rtl_jax.models import get_model
from rtl_jax.models.depthwise import DepthwiseConv, depthwise_conv, resolve_impl, same_pads
from rtl_jax.models.ghostnet import GhostBottleneck, conv_initializer, hard_sigmoid, make_divisible

ON_CPU = jax.default_backend() == "cpu"
AUTO = "shift" if ON_CPU else "lax"

#: rtl-paper.md §7.1: conv weights per layer group (hand-computed there; sum 125,832).
PAPER_COUNTS = {
    "stem_conv": 432,
    "block_1": 400,
    "block_2": 2_244,
    "block_3": 2_160,
    "block_4": 6_168,
    "block_5": 5_520,
    "block_6": 21_560,
    "block_7": 17_260,
    "block_8": 15_908,
    "block_9": 15_908,
    "expand_conv": 14_720,
    "head_conv": 23_552,
}


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def spec():
    return get_model("ghostnet_trunc", num_outputs=10, input_shape=(32, 32, 3))


@pytest.fixture(scope="module")
def shapes(spec):
    """Abstract variables (no compilation)."""
    return jax.eval_shape(spec.init, jax.random.key(0))


@pytest.fixture(scope="module")
def prunable(spec, shapes):
    return masks.select_prunable(shapes["params"], spec.prunable_include, spec.prunable_exclude, verbose=False)


@pytest.fixture(scope="module")
def variables(spec):
    """The one real init (jitted; ModelSpec.init's output-size assertion runs while tracing)."""
    return jax.jit(spec.init)(jax.random.key(0))


@pytest.fixture(scope="module")
def images():
    return jax.random.normal(jax.random.key(1), (4, 32, 32, 3), jnp.float32)


@pytest.fixture(scope="module")
def outputs(spec, variables, images):
    """impl -> (eval logits, train logits, batch_stats after one train-mode forward)."""
    out = {}
    for impl in ("shift", "lax"):
        module = spec.module.clone(depthwise_impl=impl)
        ev = jax.jit(lambda v, x, m=module: m.apply(v, x, train=False))(variables, images)
        tr, upd = jax.jit(lambda v, x, m=module: m.apply(v, x, train=True, mutable=["batch_stats"]))(variables, images)
        out[impl] = (ev, tr, upd["batch_stats"])
    return out


# --------------------------------------------------------------------------- prunable counts
def test_prunable_total_is_125832(prunable, shapes):
    assert masks.total_prunable(shapes["params"], prunable) == 125_832
    assert sum(PAPER_COUNTS.values()) == 125_832


def test_prunable_per_layer_group_matches_paper_table(prunable, shapes):
    sizes = {p: int(np.prod(s.shape)) for p, s in tree_lib.flatten_with_paths(shapes["params"])}
    chosen = [p for p, v in tree_lib.flatten_with_paths(prunable) if v]
    groups: dict[str, int] = {}
    for p in chosen:
        groups[p.split("/")[0]] = groups.get(p.split("/")[0], 0) + sizes[p]
    assert groups == PAPER_COUNTS
    assert shapes["params"]["stem_conv"]["kernel"].shape == (3, 3, 3, 16)
    assert sizes["stem_conv/kernel"] == 432
    # per-layer detail of a stride-2 SE block (block 4: 24 -> 72 -> 40, dw 5x5)
    block4 = {p: sizes[p] for p in chosen if p.startswith("block_4/")}
    assert block4 == {
        "block_4/ghost1/primary_conv/kernel": 24 * 36,
        "block_4/ghost1/cheap_conv/kernel": 9 * 36,
        "block_4/dw_conv/kernel": 25 * 72,
        "block_4/ghost2/primary_conv/kernel": 72 * 20,
        "block_4/ghost2/cheap_conv/kernel": 9 * 20,
        "block_4/shortcut_dw/kernel": 25 * 24,
        "block_4/shortcut_conv/kernel": 24 * 40,
    }


def test_prunable_excludes_bn_se_and_classifier(prunable, shapes):
    flags = dict(tree_lib.flatten_with_paths(prunable))
    chosen = [p for p, v in flags.items() if v]
    dense = [p for p, v in flags.items() if not v]
    # 1 stem + 4 per stride-1 block (x6) + 7 per stride-2 block (x3) + expand + head
    assert len(chosen) == 1 + 4 * 6 + 7 * 3 + 2 == 48
    assert all(p.endswith("/kernel") and ("_conv/" in p or "_dw/" in p) for p in chosen)
    assert not any("_bn/" in p or "/se/" in p or p.startswith("classifier/") for p in chosen)
    assert {p for p in dense if p.endswith("/kernel")} == {
        "block_4/se/reduce/kernel",
        "block_4/se/expand/kernel",
        "block_5/se/reduce/kernel",
        "block_5/se/expand/kernel",
        "classifier/kernel",
    }
    sizes = {p: int(np.prod(s.shape)) for p, s in tree_lib.flatten_with_paths(shapes["params"])}
    se4 = sum(v for p, v in sizes.items() if p.startswith("block_4/se/"))
    se5 = sum(v for p, v in sizes.items() if p.startswith("block_5/se/"))
    assert (se4, se5) == (72 * 20 + 20 + 20 * 72 + 72, 120 * 32 + 32 + 32 * 120 + 120) == (2_972, 7_832)
    assert sizes["classifier/kernel"] + sizes["classifier/bias"] == 128 * 10 + 10


def test_se_reduction_widths(shapes):
    p = shapes["params"]
    assert p["block_4"]["se"]["reduce"]["kernel"].shape == (72, 20)
    assert p["block_5"]["se"]["reduce"]["kernel"].shape == (120, 32)
    assert [make_divisible(v, 4) for v in (18, 30, 3)] == [20, 32, 4]
    assert make_divisible(10, 8) == 16  # 8 would be < 90% of 10


def test_hard_sigmoid_values():
    np.testing.assert_allclose(hard_sigmoid(jnp.array([-4.0, -3.0, 0.0, 1.5, 3.0, 5.0])), [0, 0, 0.5, 0.75, 1, 1])


# --------------------------------------------------------------------------- shapes / spec
def test_output_shapes_and_spec(spec, outputs):
    assert spec.has_batch_stats and spec.input_shape == (32, 32, 3) and spec.module.depthwise_impl == AUTO
    assert outputs["shift"][0].shape == (4, 10) and outputs["shift"][1].shape == (4, 10)
    spec100 = get_model("ghostnet_trunc", num_outputs=100, input_shape=(32, 32, 3))
    v100 = jax.eval_shape(spec100.init, jax.random.key(0))
    out = jax.eval_shape(lambda v: spec100.module.apply(v, jnp.zeros((2, 32, 32, 3)), train=False), v100)
    assert out.shape == (2, 100)
    assert v100["params"]["classifier"]["kernel"].shape == (128, 100)


def test_spec_init_asserts_output_size(spec):
    wrong = dataclasses.replace(spec, num_outputs=11)
    with pytest.raises(AssertionError, match="produced 10 outputs, expected 11"):
        jax.eval_shape(wrong.init, jax.random.key(0))


def test_fashion_mnist_input_both_impls(variables):
    spec28 = get_model("ghostnet_trunc", num_outputs=10, input_shape=(28, 28, 1))
    shapes28 = jax.eval_shape(spec28.init, jax.random.key(0))
    # same variables as the CIFAR model except the stem's input channels
    v28 = jax.tree.map(lambda a: a, variables)
    v28["params"] = dict(v28["params"], stem_conv={"kernel": variables["params"]["stem_conv"]["kernel"][:, :, :1]})
    assert jax.tree.map(jnp.shape, v28) == jax.tree.map(lambda s: s.shape, shapes28)
    x = jax.random.normal(jax.random.key(2), (3, 28, 28, 1))
    logits = {
        impl: jax.jit(lambda v, x, m=spec28.module.clone(depthwise_impl=impl): m.apply(v, x, train=False))(v28, x)
        for impl in ("shift", "lax")
    }
    assert logits["shift"].shape == (3, 10)
    np.testing.assert_allclose(logits["shift"], logits["lax"], rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------------- whole net: shift == lax
def test_whole_net_shift_equals_lax(outputs):
    (ev_s, tr_s, bs_s), (ev_l, tr_l, bs_l) = outputs["shift"], outputs["lax"]
    assert np.all(np.isfinite(ev_s)) and float(jnp.abs(ev_s).max()) > 0
    np.testing.assert_allclose(ev_s, ev_l, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(tr_s, tr_l, rtol=1e-5, atol=1e-5)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5), bs_s, bs_l)
    # train mode normalises with batch statistics, eval with the (initial) running ones
    assert float(jnp.abs(ev_s - tr_s).max()) > 1e-3


# --------------------------------------------------------------------------- batch norm
def test_batchnorm_updates_in_train_only(spec, variables, images, outputs):
    new_stats = outputs["shift"][2]
    params = variables["params"]
    stem = nn.Conv(16, (3, 3), strides=(2, 2), use_bias=False).apply({"params": params["stem_conv"]}, images)
    mean = jnp.mean(stem, axis=(0, 1, 2))
    var = jnp.var(stem, axis=(0, 1, 2))
    # momentum 0.9 from (mean 0, var 1): new = 0.9 * old + 0.1 * batch
    np.testing.assert_allclose(new_stats["stem_bn"]["mean"], 0.1 * mean, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(new_stats["stem_bn"]["var"], 0.9 + 0.1 * var, rtol=1e-4, atol=1e-6)
    changed = jax.tree.map(lambda a, b: bool(jnp.any(a != b)), variables["batch_stats"], new_stats)
    assert all(jax.tree.leaves(changed))
    _, same = jax.jit(lambda v, x: spec.module.apply(v, x, train=False, mutable=["batch_stats"]))(variables, images)
    jax.tree.map(np.testing.assert_array_equal, same["batch_stats"], variables["batch_stats"])


# --------------------------------------------------------------------------- options
def test_first_block_residual_option(spec, variables, images, outputs):
    spec_nr = get_model("ghostnet_trunc", num_outputs=10, input_shape=(32, 32, 3), first_block_residual=False)
    shapes_nr = jax.eval_shape(spec_nr.init, jax.random.key(0))
    pr = masks.select_prunable(shapes_nr["params"], spec_nr.prunable_include, spec_nr.prunable_exclude, verbose=False)
    assert masks.total_prunable(shapes_nr["params"], pr) == 125_832
    ev = jax.jit(lambda v, x: spec_nr.module.apply(v, x, train=False))(variables, images)
    assert float(jnp.abs(ev - outputs["shift"][0]).max()) > 1e-4
    with pytest.raises(ValueError, match="needs a conv shortcut"):
        GhostBottleneck(16, 48, 24, stride=2, residual=False)


def test_conv_init_scales(variables):
    p = variables["params"]
    # Kaiming normal, fan_out: std = sqrt(2 / (k*k*out)); PyTorch fan of a depthwise kernel is k*k*C.
    np.testing.assert_allclose(np.std(p["head_conv"]["kernel"]), np.sqrt(2 / 128), rtol=0.03)
    np.testing.assert_allclose(np.std(p["block_6"]["dw_conv"]["kernel"]), np.sqrt(2 / (9 * 240)), rtol=0.08)
    k = conv_initializer("fan_in")(jax.random.key(3), (3, 3, 1, 240))
    np.testing.assert_allclose(np.std(k), np.sqrt(2 / 9), rtol=0.08)
    with pytest.raises(ValueError, match="'xavier'"):
        conv_initializer("xavier")
    with pytest.raises(ValueError, match="'xavier'"):
        get_model("ghostnet_trunc", num_outputs=10, input_shape=(32, 32, 3), conv_init="xavier")


def test_bad_options_raise():
    with pytest.raises(ValueError, match="'fft'"):
        get_model("ghostnet_trunc", num_outputs=10, input_shape=(32, 32, 3), depthwise_impl="fft")
    with pytest.raises(ValueError, match=r"\(32, 32\)"):
        get_model("ghostnet_trunc", num_outputs=10, input_shape=(32, 32))


# --------------------------------------------------------------------------- depthwise conv
def test_resolve_impl():
    assert resolve_impl("auto") == AUTO
    assert resolve_impl("lax") == "lax" and resolve_impl("shift") == "shift"
    assert DepthwiseConv(4, 3, impl="auto").impl == AUTO
    with pytest.raises(ValueError, match="'fft'"):
        resolve_impl("fft")
    with pytest.raises(ValueError, match="'fft'"):
        DepthwiseConv(4, 3, impl="fft")


def test_same_pads_convention():
    assert same_pads((4, 3), (3, 3), (2, 2)) == [(0, 1), (1, 1)]
    assert same_pads((8, 7), (5, 5), (1, 2)) == [(2, 2), (2, 2)]


@pytest.mark.parametrize("impl", ["shift", "lax"])
def test_depthwise_hand_computed(impl):
    conv = jax.jit(depthwise_conv, static_argnums=(2, 3))
    x = jnp.arange(1.0, 10.0).reshape(1, 3, 3, 1).repeat(2, axis=3)
    kernel = jnp.zeros((3, 3, 1, 2)).at[:, :, 0, 0].set(1.0).at[0, 0, 0, 1].set(1.0)
    y = conv(x, kernel, 1, impl)
    # channel 0: 3x3 box sums with zero padding; channel 1: top-left tap -> shift down-right
    np.testing.assert_array_equal(y[0, :, :, 0], [[12, 21, 16], [27, 45, 33], [24, 39, 28]])
    np.testing.assert_array_equal(y[0, :, :, 1], [[0, 0, 0], [0, 1, 2], [0, 4, 5]])
    np.testing.assert_array_equal(conv(x, kernel, 2, impl)[0, :, :, 0], [[12, 16], [24, 28]])
    # even input, stride 2: SAME pads (0, 1), so the top-left tap samples x[2i, 2j]
    x4 = jnp.arange(16.0).reshape(1, 4, 4, 1).repeat(2, axis=3)
    np.testing.assert_array_equal(conv(x4, kernel, 2, impl)[0, :, :, 1], [[0, 2], [8, 10]])


@pytest.mark.parametrize("hw", [(7, 9), (8, 8)])
@pytest.mark.parametrize("k", [3, 5])
@pytest.mark.parametrize("stride", [1, 2])
def test_depthwise_shift_equals_lax(hw, k, stride):
    rng = np.random.default_rng(k * 10 + stride)
    x = rng.standard_normal((2,) + hw + (6,), np.float32)
    kernel = rng.standard_normal((k, k, 1, 6), np.float32)
    out_shape = (2, -(-hw[0] // stride), -(-hw[1] // stride), 6)
    cot = rng.standard_normal(out_shape, np.float32)

    @jax.jit
    def forward_and_grads(x, w, cot):
        res = {}
        for impl in ("shift", "lax"):
            y, vjp = jax.vjp(lambda x, w, impl=impl: depthwise_conv(x, w, stride, impl), x, w)
            res[impl] = (y, *vjp(cot))
        return res

    res = forward_and_grads(x, kernel, cot)
    (ys, gxs, gks), (yl, gxl, gkl) = res["shift"], res["lax"]
    assert ys.shape == yl.shape == out_shape
    assert gxs.shape == x.shape and gks.shape == kernel.shape
    np.testing.assert_allclose(ys, yl, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(gxs, gxl, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(gks, gkl, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("impl", ["shift", "lax"])
def test_depthwise_module_shares_params_with_nn_conv(impl):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 8, 7, 5), np.float32)
    conv = nn.Conv(5, (3, 3), strides=(2, 2), feature_group_count=5, use_bias=False, padding="SAME")
    shapes = jax.eval_shape(conv.init, jax.random.key(6), x)
    v = {"params": {"kernel": rng.standard_normal((3, 3, 1, 5), np.float32)}}
    assert jax.tree.map(jnp.shape, v) == jax.tree.map(lambda s: s.shape, shapes)
    dw = DepthwiseConv(5, 3, 2, impl=impl)
    assert jax.eval_shape(dw.init, jax.random.key(6), x) == shapes
    np.testing.assert_allclose(jax.jit(dw.apply)(v, x), jax.jit(conv.apply)(v, x), rtol=1e-5, atol=1e-5)
    vb = jax.eval_shape(DepthwiseConv(5, 3, impl=impl, use_bias=True).init, jax.random.key(6), x)
    assert vb["params"]["bias"].shape == (5,)


def test_depthwise_bad_input_raises():
    x = jnp.zeros((1, 5, 5, 4))
    with pytest.raises(ValueError, match=r"\(3, 3, 1, 3\)"):
        depthwise_conv(x, jnp.zeros((3, 3, 1, 3)), 1, "shift")
    with pytest.raises(ValueError, match=r"\(5, 5, 4\)"):
        depthwise_conv(x[0], jnp.zeros((3, 3, 1, 4)), 1, "lax")
    with pytest.raises(ValueError, match="stride"):
        depthwise_conv(x, jnp.zeros((3, 3, 1, 4)), 0, "shift")
    with pytest.raises(ValueError, match="features=3"):
        DepthwiseConv(3, 3, impl="shift").init(jax.random.key(0), x)
