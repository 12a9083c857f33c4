"""The RTL paper's vision backbone: GhostNet-1.0 truncated after its first nine bottlenecks.

Configuration (rtl-paper.md §7.1, the inferred table that reproduces the paper's 125,832 prunable conv
weights; GhostNet: Han et al., CVPR 2020):

====== ==== ===== ===== ==== ====== ==== ================
block   in   mid   out   dw  stride  SE   conv weights
====== ==== ===== ===== ==== ====== ==== ================
stem     3    –     16    3    2     –        432
1       16   16     16    3    1     –        400
2       16   48     24    3    2     –      2,244
3       24   72     24    3    1     –      2,160
4       24   72     40    5    2    yes     6,168
5       40  120     40    5    1    yes     5,520
6       40  240     80    3    2     –     21,560
7       80  200     80    3    1     –     17,260
8       80  184     80    3    1     –     15,908
9       80  184     80    3    1     –     15,908
expand  80    –    184    1    1     –     14,720
head   184    –    128    1    1     –     23,552
====== ==== ===== ===== ==== ====== ==== ================

then global average pooling and a dense ``Linear 128 → C`` classifier.

Layers (as in the official PyTorch GhostNet):

* :class:`GhostModule` (ratio 2): 1×1 primary conv to ``ceil(out/2)`` channels + BN (+ ReLU), then a
  3×3 depthwise "cheap" conv + BN (+ ReLU) on those; the two are concatenated.
* :class:`GhostBottleneck`: ghost(in → mid, ReLU) → [depthwise k×k stride-s conv + BN, only when
  stride > 1] → [SE] → ghost(mid → out, no ReLU), plus a shortcut: identity when in == out and stride
  1, else depthwise k×k stride-s conv + BN + 1×1 conv + BN.
* :class:`SqueezeExcite`: global average pool → dense(mid → make_divisible(mid/4, 4)) → ReLU → dense
  (→ mid) → hard-sigmoid gate ``relu6(x + 3) / 6``. Dense layers on the pooled vector are exactly
  PyTorch's 1×1 convs with bias on a 1×1 map.
* Stem conv, the 1×1 expansion conv and the head conv are each followed by BN + ReLU (Table 4: "all
  convs followed by BN + ReLU unless noted"); the head conv comes *before* the pooling, as in Table 4
  (official GhostNet pools first and uses a biased conv without BN; that variant is not offered).

All convs have no bias and use SAME padding (PyTorch pads ``k // 2``; same output sizes). BatchNorm:
momentum 0.9 (PyTorch 0.1), epsilon 1e-5, ``use_running_average = not train``.

Initialisation: conv kernels use PyTorch's ``kaiming_normal_(mode="fan_out", nonlinearity="relu")``
(``variance_scaling(2, "fan_out", "normal")``, the torchvision convention for BN mobile nets) by default;
``conv_init="fan_in"`` gives ``variance_scaling(2, "fan_in", "normal")`` instead. Both shapes follow
PyTorch's fan computation, so a depthwise kernel ``(k, k, 1, C)`` has fan_in ``k²`` and fan_out ``k²C``.
This matters for *global* magnitude pruning: with fan_out, depthwise kernels start small and are pruned
first; with fan_in they start large and are pruned last. SE and classifier layers use Flax's Dense
defaults (they are dense and never pruned). BN: scale 1, bias 0.

Parameter names (the prunable regexes rely on them): ``stem_conv``, ``block_{1..9}/{ghost1,ghost2}/
{primary_conv,cheap_conv}``, ``block_i/dw_conv``, ``block_i/se/{reduce,expand}``,
``block_i/shortcut_dw``, ``block_i/shortcut_conv``, ``expand_conv``, ``head_conv``, ``classifier``;
every BN is ``*_bn``. Prunable: every conv ``kernel``; not SE (``(^|/)se/``), not the classifier
(``^classifier/``); BN has no ``kernel``.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from rtl_jax.models import ModelSpec, register_model
from rtl_jax.models.depthwise import DepthwiseConv, resolve_impl

#: (in, mid, out, dw kernel, stride, SE) of the nine Ghost bottlenecks (rtl-paper.md §7.1).
BLOCKS: tuple[tuple[int, int, int, int, int, bool], ...] = (
    (16, 16, 16, 3, 1, False),
    (16, 48, 24, 3, 2, False),
    (24, 72, 24, 3, 1, False),
    (24, 72, 40, 5, 2, True),
    (40, 120, 40, 5, 1, True),
    (40, 240, 80, 3, 2, False),
    (80, 200, 80, 3, 1, False),
    (80, 184, 80, 3, 1, False),
    (80, 184, 80, 3, 1, False),
)
STEM_CHANNELS = 16
EXPAND_CHANNELS = 184
HEAD_CHANNELS = 128
BN_MOMENTUM = 0.9
BN_EPSILON = 1e-5
CONV_INITS: tuple[str, ...] = ("fan_out", "fan_in")

#: Regexes selecting the prunable parameters (all conv kernels; SE and classifier stay dense).
PRUNABLE_INCLUDE: tuple[str, ...] = (r"(^|/)kernel$",)
PRUNABLE_EXCLUDE: tuple[str, ...] = (r"(^|/)se/", r"^classifier/")


def make_divisible(v: float, divisor: int, min_value: int | None = None) -> int:
    """GhostNet/MobileNet channel rounding: nearest multiple of ``divisor``, never below 90% of ``v``."""
    min_value = divisor if min_value is None else min_value
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def hard_sigmoid(x: jax.Array) -> jax.Array:
    """PyTorch GhostNet's gate: ``relu6(x + 3) / 6``."""
    return jax.nn.relu6(x + 3.0) / 6.0


def conv_initializer(mode: str) -> Callable:
    """Kaiming normal for conv kernels, ``mode`` ``"fan_out"`` or ``"fan_in"`` (gain 2, untruncated)."""
    if mode not in CONV_INITS:
        raise ValueError(f"unknown conv_init {mode!r}; expected one of {CONV_INITS}")
    return nn.initializers.variance_scaling(2.0, mode, "normal")


def _bn(train: bool, name: str) -> nn.BatchNorm:
    return nn.BatchNorm(use_running_average=not train, momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=name)


def _conv1x1(features: int, init: Callable, name: str) -> nn.Conv:
    return nn.Conv(features, (1, 1), use_bias=False, kernel_init=init, name=name)


class GhostModule(nn.Module):
    """Ghost module, ratio 2: 1×1 primary conv to ``ceil(out/2)`` channels + 3×3 depthwise cheap conv."""

    out_channels: int
    relu: bool = True
    depthwise_impl: str = "auto"
    conv_init: str = "fan_out"

    def __post_init__(self):
        object.__setattr__(self, "depthwise_impl", resolve_impl(self.depthwise_impl))
        super().__post_init__()

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        init = conv_initializer(self.conv_init)
        act = nn.relu if self.relu else (lambda v: v)
        primary = math.ceil(self.out_channels / 2)
        x1 = act(_bn(train, "primary_bn")(_conv1x1(primary, init, "primary_conv")(x)))
        x2 = DepthwiseConv(primary, 3, 1, impl=self.depthwise_impl, kernel_init=init, name="cheap_conv")(x1)
        x2 = act(_bn(train, "cheap_bn")(x2))
        return jnp.concatenate([x1, x2], axis=-1)[..., : self.out_channels]


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation with a hard-sigmoid gate; reduces to ``make_divisible(C/4, 4)`` channels."""

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        channels = x.shape[-1]
        s = jnp.mean(x, axis=(1, 2))
        s = nn.relu(nn.Dense(make_divisible(channels * 0.25, 4), name="reduce")(s))
        s = nn.Dense(channels, name="expand")(s)
        return x * hard_sigmoid(s)[:, None, None, :]


class GhostBottleneck(nn.Module):
    """Ghost bottleneck ``in → mid → out`` (see the module docstring for the layout).

    ``residual=False`` drops the identity residual of a stride-1, in == out block (Table 4 says "no
    shortcut" for stage 1); it is an error for blocks that need a conv shortcut.
    """

    in_channels: int
    mid_channels: int
    out_channels: int
    dw_kernel: int = 3
    stride: int = 1
    se: bool = False
    residual: bool = True
    depthwise_impl: str = "auto"
    conv_init: str = "fan_out"

    def __post_init__(self):
        object.__setattr__(self, "depthwise_impl", resolve_impl(self.depthwise_impl))
        if not self.residual and self.has_conv_shortcut:
            raise ValueError(
                f"GhostBottleneck {self.in_channels}->{self.out_channels} stride {self.stride} needs a conv "
                "shortcut; residual=False is only allowed for identity-residual blocks"
            )
        super().__post_init__()

    @property
    def has_conv_shortcut(self) -> bool:
        """Whether the shortcut is a (depthwise + 1×1) conv rather than the identity."""
        return self.in_channels != self.out_channels or self.stride != 1

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        if x.shape[-1] != self.in_channels:
            raise ValueError(f"GhostBottleneck {self.name!r} expects {self.in_channels} channels, got {x.shape}")
        impl, init = self.depthwise_impl, conv_initializer(self.conv_init)
        k = self.dw_kernel
        y = GhostModule(self.mid_channels, True, impl, self.conv_init, name="ghost1")(x, train)
        if self.stride > 1:
            y = DepthwiseConv(self.mid_channels, k, self.stride, impl=impl, kernel_init=init, name="dw_conv")(y)
            y = _bn(train, "dw_bn")(y)
        if self.se:
            y = SqueezeExcite(name="se")(y)
        y = GhostModule(self.out_channels, False, impl, self.conv_init, name="ghost2")(y, train)
        if self.has_conv_shortcut:
            s = DepthwiseConv(self.in_channels, k, self.stride, impl=impl, kernel_init=init, name="shortcut_dw")(x)
            s = _bn(train, "shortcut_dw_bn")(s)
            s = _bn(train, "shortcut_bn")(_conv1x1(self.out_channels, init, "shortcut_conv")(s))
            return y + s
        return y + x if self.residual else y


class GhostNetTrunc(nn.Module):
    """Stem + the first nine GhostNet bottlenecks + 1×1 80→184 + head 184→128 + GAP + Linear 128→C.

    Attributes:
      num_outputs: classifier outputs C.
      depthwise_impl: ``"auto"`` (resolved at construction: shift on CPU, lax on GPU/TPU), ``"lax"`` or
        ``"shift"``; variables are identical for all choices.
      first_block_residual: keep block 1's identity residual (standard GhostNet; default). ``False``
        reads Table 4's "no shortcut" for stage 1 literally. Both give 125,832 prunable weights.
      conv_init: ``"fan_out"`` (default) or ``"fan_in"`` Kaiming normal for conv kernels.
    """

    num_outputs: int
    depthwise_impl: str = "auto"
    first_block_residual: bool = True
    conv_init: str = "fan_out"

    def __post_init__(self):
        object.__setattr__(self, "depthwise_impl", resolve_impl(self.depthwise_impl))
        conv_initializer(self.conv_init)  # validate now, not at the first call
        super().__post_init__()

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        if x.ndim != 4:
            raise ValueError(f"GhostNetTrunc expects images [B, H, W, C], got shape {x.shape}")
        init = conv_initializer(self.conv_init)
        x = x.astype(jnp.float32)
        x = nn.Conv(STEM_CHANNELS, (3, 3), strides=(2, 2), use_bias=False, kernel_init=init, name="stem_conv")(x)
        x = nn.relu(_bn(train, "stem_bn")(x))
        for i, (cin, mid, cout, k, stride, se) in enumerate(BLOCKS, start=1):
            x = GhostBottleneck(
                cin,
                mid,
                cout,
                dw_kernel=k,
                stride=stride,
                se=se,
                residual=self.first_block_residual or i != 1,
                depthwise_impl=self.depthwise_impl,
                conv_init=self.conv_init,
                name=f"block_{i}",
            )(x, train)
        x = nn.relu(_bn(train, "expand_bn")(_conv1x1(EXPAND_CHANNELS, init, "expand_conv")(x)))
        x = nn.relu(_bn(train, "head_bn")(_conv1x1(HEAD_CHANNELS, init, "head_conv")(x)))
        x = jnp.mean(x, axis=(1, 2))
        return nn.Dense(self.num_outputs, name="classifier")(x)


@register_model("ghostnet_trunc")
def ghostnet_trunc(
    *,
    num_outputs: int,
    input_shape,
    depthwise_impl: str = "auto",
    first_block_residual: bool = True,
    conv_init: str = "fan_out",
) -> ModelSpec:
    """The paper's truncated GhostNet (125,832 prunable conv weights); BN, SE and classifier stay dense.

    ``input_shape`` is one image ``(H, W, C)`` (e.g. ``(32, 32, 3)`` for CIFAR, ``(28, 28, 1)`` for
    Fashion-MNIST). ``depthwise_impl="auto"`` is resolved here; ``spec.module.depthwise_impl`` records it.
    """
    input_shape = tuple(input_shape)
    if len(input_shape) != 3:
        raise ValueError(f"ghostnet_trunc input_shape must be (H, W, C), got {input_shape}")
    module = GhostNetTrunc(
        num_outputs=num_outputs,
        depthwise_impl=resolve_impl(depthwise_impl),
        first_block_residual=bool(first_block_residual),
        conv_init=conv_init,
    )
    return ModelSpec(
        name="ghostnet_trunc",
        module=module,
        num_outputs=num_outputs,
        input_shape=input_shape,
        prunable_include=PRUNABLE_INCLUDE,
        prunable_exclude=PRUNABLE_EXCLUDE,
        has_batch_stats=True,
    )
