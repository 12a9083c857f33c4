"""Joint retraining with BatchNorm: shared vs per-ticket running statistics."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rtl_jax import joint as joint_lib
from rtl_jax import masks
from rtl_jax.losses import one_vs_rest_bce
from rtl_jax.models import ModelSpec


class BNNet(nn.Module):
    @nn.compact
    def __call__(self, x, train: bool = False):
        x = nn.Dense(8, name="Dense_0")(x)
        x = nn.BatchNorm(use_running_average=not train, momentum=0.5, name="bn")(x)
        return nn.Dense(3, name="head")(nn.relu(x))


@pytest.fixture(scope="module")
def setup():
    spec = ModelSpec(name="bn_net", module=BNNet(), num_outputs=3, input_shape=(5,), has_batch_stats=True)
    v = spec.init(jax.random.key(0))
    st = masks.init_masks(v["params"], 2)
    rng = np.random.default_rng(0)
    x = [jnp.asarray(rng.normal(loc=3.0 * k, size=(6, 5)), jnp.float32) for k in range(2)]
    batch = [{"x": x[k], "y": jnp.ones(6), "logit_index": np.int32(k)} for k in range(2)]
    return spec, v, st, batch


@pytest.mark.parametrize("bn", ["shared", "per_ticket"])
def test_bn_statistics(setup, bn):
    spec, v, st, batch = setup
    cfg = joint_lib.JointConfig(bn_stats=bn, learning_rate=1e-3)
    tx = joint_lib.make_tx(cfg)
    js = joint_lib.init_joint_state(v, st, cfg, tx)
    step = joint_lib.make_sequential_step(spec, one_vs_rest_bce, tx, cfg)
    js, _ = step(js, np.int32(0), st, batch[0])  # only ticket 0 trains
    mean = np.asarray(js.batch_stats["bn"]["mean"])
    if bn == "shared":
        assert mean.shape == (8,) and not np.allclose(mean, 0.0)
    else:
        assert mean.shape == (2, 8)
        assert not np.allclose(mean[0], 0.0)
        np.testing.assert_array_equal(mean[1], 0.0)  # ticket 1's statistics untouched by ticket 0's step
        assert joint_lib.ticket_batch_stats(js.batch_stats, 1, cfg)["bn"]["mean"].shape == (8,)
    js, _ = step(js, np.int32(1), st, batch[1])
    mean2 = np.asarray(js.batch_stats["bn"]["mean"])
    if bn == "per_ticket":
        np.testing.assert_array_equal(mean2[0], mean[0])
        assert not np.allclose(mean2[1], 0.0)
