import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from rtl_jax import losses, masks, optim, pruning
from rtl_jax import train as train_lib
from rtl_jax.models import get_model


def test_zero_outside_mask_literal():
    tx = optim.zero_outside_mask()
    u, _ = tx.update({"w": jnp.array([1.0, 2.0, 3.0])}, tx.init(None), mask={"w": jnp.array([True, False, True])})
    np.testing.assert_array_equal(u["w"], [1.0, 0.0, 3.0])
    with pytest.raises(ValueError, match="needs the mask"):
        tx.update({"w": jnp.ones(3)}, tx.init(None))


@pytest.mark.parametrize("name,wd", [("sgd", 0.0), ("momentum", 1e-2), ("adam", 1e-2), ("adamw", 0.1)])
def test_pruned_weights_never_move(name, wd):
    """Even when the raw params are NOT zero at pruned entries (worst case), no optimiser moves them."""
    key = jax.random.key(0)
    p = {"w": jax.random.normal(key, (16, 8)), "b": jnp.ones((8,))}
    m = {"w": jax.random.uniform(jax.random.key(1), (16, 8)) < 0.5, "b": jnp.ones((8,), bool)}
    tx = optim.make_optimizer(name, 0.1, weight_decay=wd)
    s = tx.init(p)
    cur = p
    for i in range(5):
        g = jax.tree.map(lambda x, i=i: jnp.full_like(x, 1.0 + i), cur)  # dense gradients everywhere
        u, s = tx.update(g, s, cur, mask=m)
        cur = optax.apply_updates(cur, u)
    np.testing.assert_array_equal(np.asarray(cur["w"])[~np.asarray(m["w"])], np.asarray(p["w"])[~np.asarray(m["w"])])
    assert not np.allclose(np.asarray(cur["w"])[np.asarray(m["w"])], np.asarray(p["w"])[np.asarray(m["w"])])


def test_unknown_optimizer_and_bad_lr():
    with pytest.raises(ValueError, match="unknown optimizer"):
        optim.make_optimizer("lamb", 0.1)
    with pytest.raises(ValueError, match="learning_rate"):
        optim.make_optimizer("adam", 0.0)


def _setup():
    spec = get_model("lenet_300_100", num_outputs=3, input_shape=(4, 4, 1), hidden=(8, 6))
    v = spec.init(jax.random.key(0))
    pr = masks.select_prunable(v["params"], spec.prunable_include, spec.prunable_exclude, verbose=False)
    m = pruning.prune(pruning.magnitude_scores(v["params"]), masks.init_mask(v["params"]), pr, amount=0.5,
                      mode="fraction")
    x = jax.random.normal(jax.random.key(1), (10, 4, 4, 1))
    y = jnp.arange(10) % 3
    return spec, v, pr, m, {"x": x, "y": y}


def test_masked_train_step_adamw_keeps_zeros_and_jit_equals_nojit():
    spec, v, pr, m, batch = _setup()
    tx = optim.make_optimizer("adamw", 1e-2, weight_decay=0.5)
    step_j = train_lib.make_train_step(spec, losses.softmax_xent, tx)
    step_n = train_lib.make_train_step(spec, losses.softmax_xent, tx, jit=False)
    s0 = train_lib.init_state(masks.apply(v["params"], m), {}, tx)
    sj, sn = s0, s0
    for _ in range(4):
        sj, aux = step_j(sj, m, batch)
        sn, _ = step_n(sn, m, batch)
    assert int(sj.step) == 4 and np.isfinite(float(aux["loss"]))
    for a, b in zip(jax.tree.leaves(sj.params), jax.tree.leaves(sn.params)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    for pth, mm in zip(jax.tree.leaves(sj.params), jax.tree.leaves(m)):
        assert np.all(np.asarray(pth)[~np.asarray(mm)] == 0.0)  # exactly zero
    # kept weights did train
    changed = np.asarray(sj.params["Dense_0"]["kernel"] != s0.params["Dense_0"]["kernel"])
    assert changed[np.asarray(m["Dense_0"]["kernel"])].mean() > 0.9


def test_one_compilation_serves_every_mask():
    spec, v, pr, m, batch = _setup()
    tx = optim.make_optimizer("adam", 1e-2)
    traces = []
    step = train_lib.make_train_step(spec, losses.softmax_xent, tx, jit=False)

    def counted(*a):
        traces.append(1)
        return step(*a)

    f = jax.jit(counted)
    s = train_lib.init_state(v["params"], {}, tx)
    m2 = pruning.prune(pruning.magnitude_scores(v["params"]), m, pr, amount=0.5, mode="fraction")
    for mask in (m, m2, masks.init_mask(v["params"])):
        s, _ = f(s, mask, batch)
    assert len(traces) == 1


def test_predict_in_batches_and_nan_check():
    spec, v, pr, m, batch = _setup()
    predict = train_lib.make_predict(spec)
    x = np.asarray(jax.random.normal(jax.random.key(2), (25, 4, 4, 1)))
    full = np.asarray(predict(v["params"], {}, m, x))
    np.testing.assert_allclose(train_lib.predict_in_batches(predict, v["params"], {}, m, x, batch_size=10), full,
                               rtol=1e-5, atol=1e-6)
    with pytest.raises(FloatingPointError, match="epoch 3"):
        train_lib.check_finite([0.1, float("nan")], "epoch 3")


def test_model_registry_errors():
    with pytest.raises(ValueError, match="unknown model"):
        get_model("resnet9000", num_outputs=10, input_shape=(28, 28, 1))
    with pytest.raises(ValueError, match="num_outputs"):
        get_model("lenet_300_100", num_outputs=None, input_shape=(28, 28, 1))
    spec = get_model("small_cnn", num_outputs=7, input_shape=(28, 28, 1))
    out = spec.module.apply(spec.init(jax.random.key(0)), jnp.zeros((2, 28, 28, 1)))
    assert out.shape == (2, 7)
