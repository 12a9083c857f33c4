"""Depthwise 2-D convolution with two interchangeable implementations.

XLA:CPU runs grouped convolutions (``feature_group_count=C``) very slowly (platform-notes §5: a 3×3
depthwise conv at (320, 16, 16, 48) takes 88 ms forward with ``lax``, 2.8 ms as shifted multiply-adds).
This module therefore offers:

* ``"lax"``: ``lax.conv_general_dilated(..., feature_group_count=C)`` (what ``nn.Conv`` does);
* ``"shift"``: the sum of the k×k shifted, strided slices of the SAME-padded input, each multiplied by
  one kernel tap (k·k multiply-adds, no convolution primitive);
* ``"auto"``: ``"shift"`` when ``jax.default_backend()`` is ``"cpu"``, else ``"lax"``. It is resolved
  once, when a module is constructed (:func:`resolve_impl`), so the module records the concrete choice.

Both implementations use the same kernel layout as ``nn.Conv(features=C, feature_group_count=C)``,
``(kh, kw, 1, C)`` (HWIO with one input channel per group), and the same SAME padding (TF/Flax
convention: for even padding totals the extra pad goes after), so they share parameters and agree to
float32 rounding, forward and backward. Note that PyTorch GhostNet pads ``k // 2`` on both sides; for
stride 2 on even inputs this shifts the sampling grid by one pixel relative to SAME (same output size).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

#: Concrete implementations; ``"auto"`` resolves to one of them.
IMPLS: tuple[str, ...] = ("lax", "shift")


def resolve_impl(impl: str) -> str:
    """Return a concrete implementation name: ``"auto"`` → ``"shift"`` on CPU, ``"lax"`` on GPU/TPU.

    Raises ``ValueError`` for an unknown name.
    """
    if impl == "auto":
        return "shift" if jax.default_backend() == "cpu" else "lax"
    if impl not in IMPLS:
        raise ValueError(f"unknown depthwise impl {impl!r}; expected one of {IMPLS + ('auto',)}")
    return impl


def _pair(v: int | Sequence[int], what: str) -> tuple[int, int]:
    """Turn an int or a length-2 sequence of positive ints into a pair; raise ``ValueError`` otherwise."""
    pair = (v, v) if isinstance(v, int) else tuple(v)
    if len(pair) != 2 or not all(isinstance(p, int) and p >= 1 for p in pair):
        raise ValueError(f"{what} must be a positive int or a pair of positive ints, got {v!r}")
    return pair  # type: ignore[return-value]


def same_pads(spatial: tuple[int, int], kernel: tuple[int, int], strides: tuple[int, int]) -> list[tuple[int, int]]:
    """SAME padding ``[(lo, hi), (lo, hi)]`` for H and W: output size ``ceil(n / s)``, extra pad after."""
    pads = []
    for n, k, s in zip(spatial, kernel, strides, strict=True):
        out = -(-n // s)
        total = max((out - 1) * s + k - n, 0)
        pads.append((total // 2, total - total // 2))
    return pads


def _check(x: jax.Array, kernel: jax.Array) -> None:
    if x.ndim != 4:
        raise ValueError(f"depthwise_conv expects x of shape [B, H, W, C], got shape {x.shape}")
    if kernel.ndim != 4 or kernel.shape[2] != 1 or kernel.shape[3] != x.shape[3]:
        raise ValueError(
            f"depthwise kernel must have shape (kh, kw, 1, C) with C = {x.shape[3]} input channels, "
            f"got {kernel.shape}"
        )


def depthwise_conv_lax(x: jax.Array, kernel: jax.Array, strides: tuple[int, int]) -> jax.Array:
    """Depthwise conv as one grouped ``lax.conv_general_dilated`` (``feature_group_count=C``)."""
    pads = same_pads(x.shape[1:3], kernel.shape[:2], strides)
    return lax.conv_general_dilated(
        x,
        kernel,
        window_strides=strides,
        padding=pads,
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
        feature_group_count=x.shape[3],
    )


def depthwise_conv_shift(x: jax.Array, kernel: jax.Array, strides: tuple[int, int]) -> jax.Array:
    """Depthwise conv as ``kh·kw`` shifted multiply-adds over the SAME-padded input.

    Output pixel (i, j) sums ``xp[s_h·i + a, s_w·j + b] · kernel[a, b]`` over taps (a, b), where ``xp`` is
    the padded input; each tap is one strided slice of ``xp``, so stride costs nothing extra.
    """
    b, h, w, c = x.shape
    kh, kw = kernel.shape[:2]
    sh, sw = strides
    pads = same_pads((h, w), (kh, kw), strides)
    xp = jnp.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
    out_h, out_w = -(-h // sh), -(-w // sw)
    out = None
    for a in range(kh):
        for bb in range(kw):
            tap = lax.slice(
                xp,
                (0, a, bb, 0),
                (b, a + (out_h - 1) * sh + 1, bb + (out_w - 1) * sw + 1, c),
                (1, sh, sw, 1),
            )
            term = tap * kernel[a, bb, 0]
            out = term if out is None else out + term
    return out


def depthwise_conv(x: jax.Array, kernel: jax.Array, stride: int | Sequence[int], impl: str) -> jax.Array:
    """Depthwise 2-D conv with SAME padding.

    Args:
      x: ``[B, H, W, C]``.
      kernel: ``(kh, kw, 1, C)``, the layout of ``nn.Conv(C, feature_group_count=C)``.
      stride: int or ``(sh, sw)``.
      impl: ``"lax"``, ``"shift"`` or ``"auto"`` (see :func:`resolve_impl`).

    Returns:
      ``[B, ceil(H / sh), ceil(W / sw), C]``.
    """
    impl = resolve_impl(impl)
    strides = _pair(stride, "stride")
    _check(x, kernel)
    if impl == "lax":
        return depthwise_conv_lax(x, kernel, strides)
    return depthwise_conv_shift(x, kernel, strides)


class DepthwiseConv(nn.Module):
    """Linen depthwise conv (channel multiplier 1, SAME padding) with a selectable implementation.

    Its parameter ``kernel`` has shape ``(kh, kw, 1, features)`` exactly like
    ``nn.Conv(features, kernel_size, feature_group_count=features)``, so variables are interchangeable
    between implementations and with ``nn.Conv``. ``impl="auto"`` is resolved in ``__post_init__``: the
    constructed module's ``impl`` attribute is always ``"lax"`` or ``"shift"``.

    Attributes:
      features: number of channels; must equal the input's channel count.
      kernel_size: int or ``(kh, kw)``.
      strides: int or ``(sh, sw)``.
      impl: ``"lax"``, ``"shift"`` or ``"auto"``.
      use_bias: add a per-channel bias (param ``bias``, shape ``(features,)``).
      kernel_init / bias_init: initialisers (kernel default: PyTorch-style Kaiming normal, fan_out).
    """

    features: int
    kernel_size: int | Sequence[int]
    strides: int | Sequence[int] = 1
    impl: str = "auto"
    use_bias: bool = False
    kernel_init: Callable = nn.initializers.variance_scaling(2.0, "fan_out", "normal")
    bias_init: Callable = nn.initializers.zeros_init()

    def __post_init__(self):
        # Resolve "auto" once, at construction, so the module records the implementation it runs.
        object.__setattr__(self, "impl", resolve_impl(self.impl))
        super().__post_init__()

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        """Apply the depthwise conv to ``x`` of shape ``[B, H, W, features]``."""
        if x.ndim != 4 or x.shape[-1] != self.features:
            raise ValueError(
                f"DepthwiseConv {self.name!r} has features={self.features} but got input of shape {x.shape}"
            )
        kh, kw = _pair(self.kernel_size, "kernel_size")
        kernel = self.param("kernel", self.kernel_init, (kh, kw, 1, self.features), jnp.float32)
        y = depthwise_conv(x, kernel.astype(x.dtype), self.strides, self.impl)
        if self.use_bias:
            y = y + self.param("bias", self.bias_init, (self.features,), jnp.float32).astype(y.dtype)
        return y
