"""Classic lottery-ticket models: LeNet-300-100 and a small CNN."""
from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax.numpy as jnp

from rtl_jax.models import ModelSpec, register_model


class MLP(nn.Module):
    """Fully connected ReLU network (LeNet-300-100 with ``hidden=(300, 100)``)."""

    hidden: Sequence[int]
    num_outputs: int

    @nn.compact
    def __call__(self, x, train: bool = False):
        del train
        x = x.reshape((x.shape[0], -1)).astype(jnp.float32)
        for i, h in enumerate(self.hidden):
            x = nn.relu(nn.Dense(h, name=f"Dense_{i}")(x))
        return nn.Dense(self.num_outputs, name="head")(x)


class SmallCNN(nn.Module):
    """conv(c1)-pool-conv(c2)-pool-dense(hidden)-head, ReLU, no normalisation."""

    channels: Sequence[int] = (16, 32)
    hidden: int = 64
    num_outputs: int = 10

    @nn.compact
    def __call__(self, x, train: bool = False):
        del train
        x = x.astype(jnp.float32)
        for i, c in enumerate(self.channels):
            x = nn.relu(nn.Conv(c, (3, 3), padding="SAME", name=f"Conv_{i}")(x))
            x = nn.max_pool(x, (2, 2), strides=(2, 2))
        x = x.reshape((x.shape[0], -1))
        x = nn.relu(nn.Dense(self.hidden, name="Dense_0")(x))
        return nn.Dense(self.num_outputs, name="head")(x)


@register_model("lenet_300_100")
def lenet_300_100(*, num_outputs: int, input_shape, hidden=(300, 100), prune_head: bool = True) -> ModelSpec:
    """LeNet-300-100 (Frankle & Carbin). Open-LTH prunes every dense kernel, head included;
    ``prune_head=False`` keeps the classifier dense as the RTL paper does for vision."""
    return ModelSpec(
        name="lenet_300_100",
        module=MLP(hidden=tuple(hidden), num_outputs=num_outputs),
        num_outputs=num_outputs,
        input_shape=tuple(input_shape),
        prunable_exclude=() if prune_head else (r"^head/",),
    )


@register_model("small_cnn")
def small_cnn(*, num_outputs: int, input_shape, channels=(16, 32), hidden=64, prune_head: bool = False) -> ModelSpec:
    """Two 3×3 conv layers with max-pooling and one hidden dense layer; the head stays dense by default."""
    return ModelSpec(
        name="small_cnn",
        module=SmallCNN(channels=tuple(channels), hidden=int(hidden), num_outputs=num_outputs),
        num_outputs=num_outputs,
        input_shape=tuple(input_shape),
        prunable_exclude=() if prune_head else (r"^head/",),
    )
