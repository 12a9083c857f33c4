import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rtl_jax import masks, metrics, routing
from rtl_jax.models import get_model


def _setup(K=3):
    spec = get_model("lenet_300_100", num_outputs=4, input_shape=(6,), hidden=(8,))
    v = spec.init(jax.random.key(0))
    rng = np.random.default_rng(0)
    st = masks.stack([jax.tree.map(lambda p: jnp.asarray(rng.random(p.shape) < 0.6), v["params"]) for _ in range(K)])
    x = jnp.asarray(rng.normal(size=(11, 6)), jnp.float32)
    ids = np.array([0, 2, 1, 1, 0, 2, 2, 2, 0, 1, 0])
    apply_fn = jax.jit(lambda p, xx: spec.module.apply({"params": p}, xx))
    return v["params"], st, x, ids, apply_fn


@pytest.mark.parametrize("strategy", ["per_example", "all_tickets", "dispatch"])
def test_routed_strategies_agree_with_loop(strategy):
    params, st, x, ids, apply_fn = _setup()
    ref = routing.loop_reference(apply_fn, params, st, ids, x)
    out = routing.routed_apply(apply_fn, params, st, ids, x, strategy=strategy, bucket=4)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)
    # and routing matters: ticket 0 everywhere gives different outputs
    other = routing.routed_apply(apply_fn, params, st, np.zeros_like(ids), x, strategy=strategy)
    assert not np.allclose(other, ref)


def test_route_is_one_compilation_and_validates_ids():
    params, st, x, ids, _ = _setup()
    routing.gather_tickets._clear_cache()
    counted = chex.assert_max_traces(routing.gather_tickets.__wrapped__, n=1)
    g = jax.jit(counted)
    for pattern in ([0, 1, 2, 0], [2, 2, 2, 2], [1, 0, 0, 1]):
        out = g(st, jnp.asarray(pattern, jnp.int32))
        np.testing.assert_array_equal(out["Dense_0"]["kernel"][1], st["Dense_0"]["kernel"][pattern[1]])
    r = routing.route(st, [2, 0])
    np.testing.assert_array_equal(r["head"]["kernel"][0], st["head"]["kernel"][2])
    with pytest.raises(IndexError, match="out of range for 3 tickets"):
        routing.route(st, [0, 3])
    with pytest.raises(IndexError, match=r"\[-1\]"):
        routing.route(st, [-1, 0])
    with pytest.raises(TypeError, match="integers"):
        routing.route(st, np.array([0.0, 1.0]))
    with pytest.raises(IndexError):
        routing.routed_apply(lambda p, xx: xx, params, st, np.array([5] * 11), x)
    with pytest.raises(ValueError, match="unknown routing strategy"):
        routing.routed_apply(lambda p, xx: xx, params, st, ids, x, strategy="moe")
    with pytest.raises(TypeError, match="concrete"):
        jax.jit(lambda i: routing.route(st, i))(jnp.array([0]))


def test_context_routers():
    np.testing.assert_array_equal(routing.by_label([3, 1]), [3, 1])
    np.testing.assert_array_equal(routing.by_table([0, 2, 1], [5, 5, 7]), [5, 7, 5])
    with pytest.raises(IndexError):
        routing.by_table([3], [0, 1, 2])
    np.testing.assert_array_equal(routing.by_key({"region": np.array([1, 0])}, "region"), [1, 0])
    with pytest.raises(KeyError, match="environment"):
        routing.by_key({"region": np.array([1])}, "environment")
    np.testing.assert_array_equal(routing.argmax_over_tickets(np.array([[0.1, 2.0], [3.0, -1.0]])), [1, 0])


def test_nearest_centroid_router_separates_clusters():
    rng = np.random.default_rng(0)
    centers = np.array([[5.0, 0, 0], [0, 5.0, 0], [0, 0, 5.0]])
    a = rng.integers(0, 3, 300)
    x = centers[a] + rng.normal(size=(300, 3)) * 0.5
    r = routing.NearestCentroidRouter.fit(x, a, 3, dim=2)
    assert np.mean(r(x) == a) > 0.97


def test_one_vs_rest_metrics_reproduce_paper_arithmetic():
    """rtl-paper §9.1: a C-way classifier with top-1 a and errors spread evenly has BA = (a + 1-(1-a)/9)/2."""
    n_per, C = 1000, 10
    labels = np.repeat(np.arange(C), n_per)
    pred = labels.copy()
    correct = 480  # a = 0.48 per class
    for c in range(C):
        wrong = np.arange(c * n_per + correct, (c + 1) * n_per)
        others = [o for o in range(C) if o != c]
        pred[wrong] = np.resize(others, wrong.size)  # spread errors evenly over the 9 other classes
    m = metrics.macro(metrics.one_vs_rest_from_labels(pred, labels, C))
    assert m["recall"] == pytest.approx(0.48)
    assert m["precision"] == pytest.approx(0.48, abs=1e-3)
    assert m["ba"] == pytest.approx(0.711, abs=5e-4)
    assert metrics.top1(pred, labels) == pytest.approx(0.48)


def test_binary_metrics_literal():
    pred = np.array([1, 1, 0, 0, 1, 0], bool)
    tgt = np.array([1, 0, 0, 1, 1, 0], bool)
    m = metrics.binary_metrics(pred, tgt)
    assert m["recall"] == pytest.approx(2 / 3) and m["precision"] == pytest.approx(2 / 3)
    assert m["tnr"] == pytest.approx(2 / 3) and m["ba"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="positives and negatives"):
        metrics.binary_metrics(pred, np.zeros(6, bool))


def test_union_accounting():
    p = {"k": jnp.zeros((2, 4))}
    pr = {"k": True}
    st = {"k": jnp.array([[[1, 1, 0, 0], [0, 0, 0, 0]], [[0, 1, 1, 0], [0, 0, 0, 1]]], bool)}
    assert int(masks.kept_count(masks.union(st), pr)) == 4  # RTL #params
    assert int(masks.kept_count_per_ticket(st, pr).sum()) == 5  # multi-model #params
    del p
