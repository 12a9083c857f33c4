"""The paper's small U-Net for speech enhancement on the complex STFT (rtl-paper §7.5, Table 7).

**Layout.** The input is ``[B, T, F, 2]``: time frames × frequency bins × (real, imaginary). All
strides are ``(1, 2)``, so they halve the **frequency** axis, 513 → 257 → 129 → 65 → 33 → 17
(rtl-paper §9.9); the time axis keeps its length.

**Encoder** (5 stages): ``Conv2D → ELU → BatchNorm``, in the paper's order, with channels
12, 12, 12, 24, 48. Kernels are 3×5 (time × freq) in the first stage and 3×3 after it, stride (1, 2),
with PyTorch-style symmetric zero padding ``(k_t // 2, k_f // 2)``. A stage maps ``F`` bins to
``ceil(F / 2)`` bins.

**Decoder** (5 stages): ``ConvTranspose`` with 48→24, 48→12, 24→12, 24→12 and 24→2 channels. Kernels
are 3×3 except the last (3×5), stride (1, 2). The input of stages 2–5 is the previous stage's output
concatenated with the matching encoder output (``[decoder, skip]`` on the channel axis), which doubles
the channels. Each transposed conv runs with ``VALID`` padding and is then cropped, on each axis, to
``[k // 2, k // 2 + target)``. Here ``target`` is the skip tensor's size, or the network input's size
for the last stage. This equals PyTorch ``ConvTranspose2d(padding=(k_t//2, k_f//2))`` plus
``output_padding = target − (2·F_in − 1)``, which is 0 for odd ``F`` such as 513 and 1 for even
``F``. The only other difference is that the kernel is flipped: Flax's ``transpose_kernel=False``
convention, which does not matter for a learned kernel. The output therefore matches the input
exactly for every ``T`` and ``F``. Decoder stages 1–4 are followed by ``ELU → BatchNorm``,
mirroring the encoder (the paper does not say). Stage 5 is followed only by the mask bound.

**Output.** A bounded complex ratio mask ``M``, applied to the noisy spectrogram by complex
multiplication (:func:`complex_mask_multiply`). The module returns the **enhanced** spectrogram
``[B, T, F, 2]``. The bound is chosen by ``mask_bound``:

* ``"tanh"`` (default): ``tanh`` on the real and imaginary channels separately, so ``|M_re|, |M_im| < 1``
  and ``|M| < √2``;
* ``"polar_tanh"``: the DCUNet bounded mask ``tanh(|O|)·O/|O|`` (Choi et al. 2019), so ``|M| < 1``.

**Pruning.** The prunable weights are the 10 conv and transposed-conv kernels, 37,368 weights: encoder
360 + 1,296 + 1,296 + 2,592 + 10,368 and decoder 10,368 + 5,184 + 2,592 + 2,592 + 720. Biases and
BatchNorm stay dense. BatchNorm follows PyTorch's defaults (momentum 0.1, so Flax ``momentum=0.9``, and
``eps = 1e-5``), and ``train=True`` needs ``mutable=["batch_stats"]``. Param names are
``enc{1..5}_conv``, ``enc{1..5}_bn``, ``dec{1..5}_convT`` and ``dec{1..4}_bn``, numbered as in
Table 7.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import flax.linen as nn
import jax
import jax.numpy as jnp

from rtl_jax.models import ModelSpec, register_model

#: Table 7 encoder channels and kernels (time × freq).
ENC_CHANNELS = (12, 12, 12, 24, 48)
ENC_KERNELS = ((3, 5), (3, 3), (3, 3), (3, 3), (3, 3))
#: Table 7 decoder output channels and kernels; decoder inputs follow from the skip concatenation.
DEC_CHANNELS = (24, 12, 12, 12, 2)
DEC_KERNELS = ((3, 3), (3, 3), (3, 3), (3, 3), (3, 5))
STRIDE = (1, 2)
MASK_BOUNDS = ("tanh", "polar_tanh")


def complex_mask_multiply(mask: jax.Array, spec: jax.Array) -> jax.Array:
    """Complex product of two ``[..., 2]`` (real, imag) arrays: ``(a + ib)(c + id)``."""
    if mask.shape[-1] != 2 or spec.shape[-1] != 2:
        raise ValueError(f"complex_mask_multiply needs a last axis of 2, got {mask.shape} and {spec.shape}")
    a, b = mask[..., 0], mask[..., 1]
    c, d = spec[..., 0], spec[..., 1]
    return jnp.stack([a * c - b * d, a * d + b * c], axis=-1)


def bound_mask(raw: jax.Array, mask_bound: str) -> jax.Array:
    """Bound the raw 2-channel decoder output to a complex ratio mask (see the module docstring)."""
    if mask_bound == "tanh":
        return jnp.tanh(raw)
    if mask_bound == "polar_tanh":
        sq = jnp.sum(raw**2, axis=-1, keepdims=True)
        # tanh(r)/r -> 1 as r -> 0; the double `where` keeps gradients finite at r = 0.
        small = sq < 1e-12
        mag = jnp.sqrt(jnp.where(small, 1.0, sq))
        return raw * jnp.where(small, 1.0, jnp.tanh(mag) / mag)
    raise ValueError(f"unknown mask_bound {mask_bound!r}; known: {MASK_BOUNDS}")


def _crop(y: jax.Array, kernel: tuple[int, int], target: tuple[int, int]) -> jax.Array:
    """Crop a VALID transposed-conv output ``[B, T', F', C]`` to ``target`` starting at ``k // 2``."""
    (kt, kf), (tt, tf) = kernel, target
    st, sf = kt // 2, kf // 2
    if y.shape[1] < st + tt or y.shape[2] < sf + tf:
        raise ValueError(f"transposed-conv output {y.shape[1:3]} too small to crop {target} at offset {(st, sf)}")
    return y[:, st : st + tt, sf : sf + tf, :]


class UNetSTFT(nn.Module):
    """Complex-ratio-mask U-Net; ``__call__(x [B, T, F, 2], train) -> enhanced [B, T, F, 2]``."""

    enc_channels: Sequence[int] = ENC_CHANNELS
    enc_kernels: Sequence[tuple[int, int]] = ENC_KERNELS
    dec_channels: Sequence[int] = DEC_CHANNELS
    dec_kernels: Sequence[tuple[int, int]] = DEC_KERNELS
    mask_bound: Literal["tanh", "polar_tanh"] = "tanh"

    @nn.compact
    def __call__(self, x, train: bool = False):
        x = jnp.asarray(x, jnp.float32)
        if x.ndim != 4 or x.shape[-1] != 2:
            raise ValueError(f"UNetSTFT expects [B, T, F, 2] (real, imag), got shape {x.shape}")
        n = len(self.enc_channels)
        if not (len(self.enc_kernels) == len(self.dec_channels) == len(self.dec_kernels) == n):
            raise ValueError("enc_channels, enc_kernels, dec_channels and dec_kernels must have the same length")
        if self.dec_channels[-1] != 2:
            raise ValueError(f"the last decoder stage must output 2 channels (the mask), got {self.dec_channels[-1]}")

        def bn(name):
            return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5, name=name)

        skips = []
        h = x
        for i, (c, k) in enumerate(zip(self.enc_channels, self.enc_kernels, strict=True), start=1):
            skips.append(h)
            pad = ((k[0] // 2, k[0] // 2), (k[1] // 2, k[1] // 2))
            h = nn.Conv(c, tuple(k), strides=STRIDE, padding=pad, name=f"enc{i}_conv")(h)
            h = bn(f"enc{i}_bn")(nn.elu(h))
        # skips[j] is the input of encoder stage j+1; decoder stage i restores the size of skips[n - i].
        for i, (c, k) in enumerate(zip(self.dec_channels, self.dec_kernels, strict=True), start=1):
            target = skips[n - i]
            h = nn.ConvTranspose(c, tuple(k), strides=STRIDE, padding="VALID", name=f"dec{i}_convT")(h)
            h = _crop(h, tuple(k), target.shape[1:3])
            if i < n:
                h = bn(f"dec{i}_bn")(nn.elu(h))
                h = jnp.concatenate([h, skips[n - i]], axis=-1)
        mask = bound_mask(h, self.mask_bound)
        return complex_mask_multiply(mask, x)


@register_model("unet_stft")
def unet_stft(
    *, num_outputs: int, input_shape, mask_bound: Literal["tanh", "polar_tanh"] = "tanh"
) -> ModelSpec:
    """The paper's speech U-Net. ``input_shape = (T, F, 2)``, e.g. ``(626, 513, 2)`` for 10 s at 16 kHz;
    ``num_outputs = 2`` (the enhanced real and imaginary parts). Prunable: the conv and transposed-conv
    kernels (37,368 weights). BatchNorm and biases stay dense."""
    input_shape = tuple(input_shape)
    if num_outputs != 2:
        raise ValueError(
            f"unet_stft outputs a complex spectrogram (2 channels); num_outputs must be 2, got {num_outputs}"
        )
    if len(input_shape) != 3 or input_shape[-1] != 2:
        raise ValueError(f"unet_stft input_shape must be (T, F, 2), got {input_shape}")
    if mask_bound not in MASK_BOUNDS:
        raise ValueError(f"unknown mask_bound {mask_bound!r}; known: {MASK_BOUNDS}")
    return ModelSpec(
        name="unet_stft",
        module=UNetSTFT(mask_bound=mask_bound),
        num_outputs=2,
        input_shape=input_shape,
        has_batch_stats=True,
    )


__all__ = ["UNetSTFT", "bound_mask", "complex_mask_multiply"]
