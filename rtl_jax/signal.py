"""Signal functions for the INR and speech experiments: STFT/iSTFT, SI-SNR(i), wSDR and PSNR.

Every function is pure ``jax.numpy`` and can be jitted. Shape and option checks happen at trace time
and raise ``ValueError``, so they also fire under ``jit``. Time is always the **last** axis, and any
leading axes are batch axes.

STFT conventions (those of ``torch.stft`` with ``normalized=False, onesided=True``):

* a periodic Hann window (``0.5 − 0.5·cos(2πk/n_fft)``, as ``torch.hann_window`` and
  ``scipy.signal.get_window('hann')``);
* no normalisation, ``X[t, f] = Σ_k w[k]·x[t·hop + k]·e^{−2πi f k / n_fft}``;
* ``center=True`` pads ``n_fft // 2`` samples on each side (``pad_mode`` ``"reflect"`` as in torch, or
  ``"constant"`` zeros), which gives ``1 + n // hop`` frames. A 10 s signal at 16 kHz with
  ``n_fft=1024`` and ``hop=256`` gives 626 frames × 513 bins (rtl-paper §9.9).

:func:`istft` is weighted overlap-add divided by the summed squared window (the least-squares inverse,
as in ``torch.istft``). It inverts :func:`stft` exactly, up to float32 round-off, for any window and
hop whose squared-window envelope is nonzero over the output (NOLA). The envelope depends only on
static sizes, so it is checked on the host and a violation raises ``ValueError``.
"""
from __future__ import annotations

from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np

#: Default ``eps`` of the SI-SNR and wSDR formulas (see each function for where it enters).
EPS = 1e-8
#: Smallest squared-window envelope accepted by :func:`istft` (``torch.istft``'s NOLA threshold).
NOLA_THRESHOLD = 1e-11


# --------------------------------------------------------------------------- STFT
def _window(window: str | np.ndarray | jax.Array, n_fft: int) -> np.ndarray:
    """The analysis window as a host float64 ``[n_fft]`` array."""
    if isinstance(window, str):
        if window == "hann":
            return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n_fft) / n_fft)
        if window == "boxcar":
            return np.ones(n_fft)
        raise ValueError(f"unknown window {window!r}; known: 'hann', 'boxcar', or an array of length n_fft")
    w = np.asarray(window, dtype=np.float64)
    if w.shape != (n_fft,):
        raise ValueError(f"window array has shape {w.shape}, expected ({n_fft},)")
    return w


def _check_sizes(n_fft: int, hop: int) -> None:
    if int(n_fft) != n_fft or n_fft < 2:
        raise ValueError(f"n_fft must be an int >= 2, got {n_fft!r}")
    if int(hop) != hop or not 1 <= hop <= n_fft:
        raise ValueError(f"hop must be an int in 1..n_fft={n_fft}, got {hop!r}")


def num_frames(n: int, n_fft: int = 1024, hop: int = 256, center: bool = True) -> int:
    """Frames :func:`stft` gives for ``n`` samples: ``1 + n // hop`` centred, else ``1 + (n − n_fft) // hop``."""
    _check_sizes(n_fft, hop)
    padded = n + 2 * (n_fft // 2) if center else n
    if padded < n_fft:
        raise ValueError(f"signal of {n} samples is shorter than n_fft={n_fft} (center={center})")
    return 1 + (padded - n_fft) // hop


def stft(
    x: jax.Array,
    n_fft: int = 1024,
    hop: int = 256,
    window: str | np.ndarray | jax.Array = "hann",
    center: bool = True,
    pad_mode: Literal["reflect", "constant"] = "reflect",
) -> jax.Array:
    """Short-time Fourier transform of real signals ``[..., n]`` → complex64 ``[..., frames, n_fft//2 + 1]``."""
    _check_sizes(n_fft, hop)
    x = jnp.asarray(x, jnp.float32)
    if x.ndim < 1:
        raise ValueError(f"stft needs a signal with a time axis, got shape {x.shape}")
    n = x.shape[-1]
    if center:
        pad = n_fft // 2
        if pad_mode == "reflect":
            if n <= pad:
                raise ValueError(
                    f"reflect padding needs more than n_fft//2={pad} samples, got {n}; use pad_mode='constant'"
                )
        elif pad_mode != "constant":
            raise ValueError(f"unknown pad_mode {pad_mode!r}; known: 'reflect', 'constant'")
        x = jnp.pad(x, [(0, 0)] * (x.ndim - 1) + [(pad, pad)], mode=pad_mode)
    frames = num_frames(n, n_fft, hop, center)
    idx = hop * np.arange(frames)[:, None] + np.arange(n_fft)[None, :]  # [frames, n_fft], static
    w = jnp.asarray(_window(window, n_fft), jnp.float32)
    return jnp.fft.rfft(x[..., idx] * w, n=n_fft, axis=-1)


def istft(
    spec: jax.Array,
    n_fft: int = 1024,
    hop: int = 256,
    window: str | np.ndarray | jax.Array = "hann",
    center: bool = True,
    length: int | None = None,
) -> jax.Array:
    """Inverse of :func:`stft`: complex ``[..., frames, n_fft//2 + 1]`` → float32 ``[..., length]``.

    ``length=None`` returns ``hop·(frames − 1)`` samples when centred (``n_fft + hop·(frames − 1)``
    otherwise), as ``torch.istft`` does. Pass the original length to recover a signal exactly.
    """
    _check_sizes(n_fft, hop)
    spec = jnp.asarray(spec)
    if spec.ndim < 2 or spec.shape[-1] != n_fft // 2 + 1:
        raise ValueError(f"istft expects [..., frames, {n_fft // 2 + 1}] for n_fft={n_fft}, got shape {spec.shape}")
    frames = spec.shape[-2]
    total = n_fft + hop * (frames - 1)
    start = n_fft // 2 if center else 0
    if length is None:
        length = total - 2 * start
    if int(length) != length or length < 1 or start + length > total:
        raise ValueError(
            f"istft length {length!r} not in 1..{total - start} for {frames} frames (n_fft={n_fft}, hop={hop})"
        )
    w = _window(window, n_fft)
    idx = hop * np.arange(frames)[:, None] + np.arange(n_fft)[None, :]
    envelope = np.zeros(total)
    np.add.at(envelope, idx.reshape(-1), np.tile(w**2, frames))
    envelope = envelope[start : start + length]
    if envelope.min() < NOLA_THRESHOLD:
        raise ValueError(
            f"window/hop violate NOLA: squared-window envelope {envelope.min():.3g} at output sample "
            f"{int(envelope.argmin())} (n_fft={n_fft}, hop={hop}); the signal is not recoverable"
        )
    seg = jnp.fft.irfft(spec, n=n_fft, axis=-1) * jnp.asarray(w, jnp.float32)  # [..., frames, n_fft]
    lead = seg.shape[:-2]
    y = jnp.zeros(lead + (total,), jnp.float32).at[..., idx.reshape(-1)].add(seg.reshape(lead + (-1,)))
    return y[..., start : start + length] / jnp.asarray(envelope, jnp.float32)


def complex_to_channels(spec: jax.Array) -> jax.Array:
    """Complex ``[...]`` → float32 ``[..., 2]`` (real, imaginary): the U-Net's input layout."""
    spec = jnp.asarray(spec)
    return jnp.stack([jnp.real(spec), jnp.imag(spec)], axis=-1).astype(jnp.float32)


def channels_to_complex(x: jax.Array) -> jax.Array:
    """Float ``[..., 2]`` (real, imaginary) → complex64 ``[...]``."""
    x = jnp.asarray(x, jnp.float32)
    if x.ndim < 1 or x.shape[-1] != 2:
        raise ValueError(f"expected a last axis of 2 (real, imag), got shape {x.shape}")
    return jax.lax.complex(x[..., 0], x[..., 1])


# --------------------------------------------------------------------------- speech metrics / losses
def _same_shape(what: str, **arrays) -> None:
    shapes = {k: tuple(jnp.shape(v)) for k, v in arrays.items()}
    if len(set(shapes.values())) != 1:
        raise ValueError(f"{what}: arguments must have the same shape, got {shapes}")
    if len(next(iter(shapes.values()))) < 1:
        raise ValueError(f"{what}: signals need a time axis, got shapes {shapes}")


def si_snr(est: jax.Array, ref: jax.Array, eps: float = EPS) -> jax.Array:
    """Scale-invariant SNR in dB over the last axis (rtl-paper §7.6), one value per signal ``[...]``.

    Both signals are made zero-mean, then ``α = ⟨ŝ, s⟩ / (‖s‖² + eps)``, ``t = α·s``, ``e = ŝ − t`` and
    ``SI-SNR = 10·log10(‖t‖² / (‖e‖² + eps) + eps)``. This is asteroid's ``PairwiseNegSDR("sisdr")``
    with its ``EPS = 1e-8``. ``eps`` keeps a perfect estimate finite (about ``10·log10(‖s‖²/eps)``)
    and a zero reference from dividing by zero. Invariant to rescaling ``est`` by any nonzero factor
    (up to ``eps``).
    """
    _same_shape("si_snr", est=est, ref=ref)
    est = jnp.asarray(est, jnp.float32)
    ref = jnp.asarray(ref, jnp.float32)
    est = est - jnp.mean(est, axis=-1, keepdims=True)
    ref = ref - jnp.mean(ref, axis=-1, keepdims=True)
    alpha = jnp.sum(est * ref, axis=-1, keepdims=True) / (jnp.sum(ref**2, axis=-1, keepdims=True) + eps)
    target = alpha * ref
    noise = est - target
    return 10.0 * jnp.log10(jnp.sum(target**2, axis=-1) / (jnp.sum(noise**2, axis=-1) + eps) + eps)


def si_snr_improvement(est: jax.Array, noisy: jax.Array, ref: jax.Array, eps: float = EPS) -> jax.Array:
    """SI-SNRi in dB: ``si_snr(est, ref) − si_snr(noisy, ref)``, one value per signal."""
    _same_shape("si_snr_improvement", est=est, noisy=noisy, ref=ref)
    return si_snr(est, ref, eps) - si_snr(noisy, ref, eps)


def wsdr_loss(
    noisy: jax.Array,
    est: jax.Array,
    clean: jax.Array,
    *,
    eps: float = EPS,
    reduction: Literal["mean", "none"] = "mean",
) -> jax.Array:
    """Weighted SDR loss of Choi et al. (ICLR 2019), over the last axis; values lie in ``[−1, 1]``.

    With mixture ``x``, clean ``y``, estimate ``ŷ``, true noise ``z = x − y`` and estimated noise
    ``ẑ = x − ŷ``::

        sdr(a, b) = −⟨a, b⟩ / (‖a‖·‖b‖ + eps)
        α         = ‖y‖² / (‖y‖² + ‖z‖² + eps)
        wSDR      = α·sdr(y, ŷ) + (1 − α)·sdr(z, ẑ)

    ``eps`` only guards divisions by zero. A silent signal contributes 0 to its cosine term, and a
    perfect estimate gives ``−1`` up to ``eps / ‖y‖²``. ``reduction="mean"`` averages over every
    leading axis to a scalar; ``"none"`` returns ``[...]``.
    """
    _same_shape("wsdr_loss", noisy=noisy, est=est, clean=clean)
    if reduction not in ("mean", "none"):
        raise ValueError(f"unknown reduction {reduction!r}; known: 'mean', 'none'")
    x = jnp.asarray(noisy, jnp.float32)
    y = jnp.asarray(clean, jnp.float32)
    y_hat = jnp.asarray(est, jnp.float32)
    z = x - y
    z_hat = x - y_hat

    def neg_cos(a, b):
        norm = jnp.sqrt(jnp.sum(a**2, axis=-1)) * jnp.sqrt(jnp.sum(b**2, axis=-1))
        return -jnp.sum(a * b, axis=-1) / (norm + eps)

    ey = jnp.sum(y**2, axis=-1)
    ez = jnp.sum(z**2, axis=-1)
    alpha = ey / (ey + ez + eps)
    loss = alpha * neg_cos(y, y_hat) + (1.0 - alpha) * neg_cos(z, z_hat)
    return jnp.mean(loss) if reduction == "mean" else loss


# --------------------------------------------------------------------------- PSNR
def _check_max_value(max_value) -> None:
    if isinstance(max_value, int | float) and not max_value > 0:
        raise ValueError(f"max_value must be > 0, got {max_value!r}")


def psnr(pred: jax.Array, target: jax.Array, max_value: float = 1.0) -> jax.Array:
    """PSNR in dB of **one** image of any shape (``[H, W, C]`` or ``[pixels, C]``).

    ``10·log10(max_value² / MSE)`` with the MSE over all pixels and channels. Identical images give
    ``+inf``. Nothing is clipped; clip ``pred`` first if the model output is unbounded.
    """
    _same_shape("psnr", pred=pred, target=target)
    _check_max_value(max_value)
    mse = jnp.mean((jnp.asarray(pred, jnp.float32) - jnp.asarray(target, jnp.float32)) ** 2)
    return 10.0 * jnp.log10(jnp.asarray(max_value, jnp.float32) ** 2 / mse)


def psnr_per_image(pred: jax.Array, target: jax.Array, max_value: float = 1.0) -> jax.Array:
    """PSNR of each image of a batch ``[N, ...]`` → ``[N]``."""
    _same_shape("psnr_per_image", pred=pred, target=target)
    _check_max_value(max_value)
    pred = jnp.asarray(pred, jnp.float32)
    target = jnp.asarray(target, jnp.float32)
    if pred.ndim < 2:
        raise ValueError(f"psnr_per_image expects [N, ...] images, got shape {pred.shape}")
    mse = jnp.mean((pred - target).reshape(pred.shape[0], -1) ** 2, axis=-1)
    return 10.0 * jnp.log10(jnp.asarray(max_value, jnp.float32) ** 2 / mse)


def psnr_batch(pred: jax.Array, target: jax.Array, max_value: float = 1.0) -> jax.Array:
    """Mean over images of the per-image PSNR (rtl-paper §9.7: the paper's "averaged over all pixels and
    images" equals the mean of per-image PSNR)."""
    return jnp.mean(psnr_per_image(pred, target, max_value))


__all__ = [
    "EPS",
    "channels_to_complex",
    "complex_to_channels",
    "istft",
    "num_frames",
    "psnr",
    "psnr_batch",
    "psnr_per_image",
    "si_snr",
    "si_snr_improvement",
    "stft",
    "wsdr_loss",
]
