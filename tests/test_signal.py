"""STFT/iSTFT, SI-SNR(i), wSDR and PSNR against hand-computed values."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rtl_jax import signal


# --------------------------------------------------------------------------- STFT
def test_stft_hand_values():
    # boxcar, n_fft=8: a cosine at bin 2 gives N/2 = 4 there and 0 elsewhere in every frame.
    x = np.cos(2 * np.pi * 2 * np.arange(16) / 8)
    s = np.asarray(signal.stft(x, n_fft=8, hop=4, window="boxcar", center=False))
    assert s.shape == (3, 5)
    np.testing.assert_allclose(s, np.tile([0, 0, 4, 0, 0], (3, 1)), atol=1e-5)
    # periodic Hann on a constant: DFT of the window = [N/2, -N/4, 0, 0, 0] = [4, -2, 0, 0, 0].
    s = np.asarray(signal.stft(np.ones(16), n_fft=8, hop=4, window="hann", center=False))
    np.testing.assert_allclose(s, np.tile([4, -2, 0, 0, 0], (3, 1)), atol=1e-5)


def test_stft_paper_shape_and_exact_round_trip_10s():
    n = 10 * 16_000
    assert signal.num_frames(n) == 626
    x = jax.random.uniform(jax.random.key(0), (2, n), minval=-1, maxval=1)
    spec = jax.jit(signal.stft)(x)
    assert spec.shape == (2, 626, 513) and spec.dtype == jnp.complex64
    y = jax.jit(signal.istft, static_argnames="length")(spec, length=n)
    assert y.shape == (2, n)
    assert float(jnp.max(jnp.abs(y - x))) < 1e-5


@pytest.mark.parametrize(
    ("n", "n_fft", "hop", "window", "center", "pad_mode"),
    [
        (1001, 256, 64, "hann", True, "reflect"),
        (100, 256, 64, "hann", True, "constant"),
        (1000, 256, 128, "boxcar", False, "reflect"),  # Hann is 0 at sample 0: not NOLA uncentred
        (77, 16, 5, "boxcar", True, "reflect"),
    ],
)
def test_short_round_trips(n, n_fft, hop, window, center, pad_mode):
    x = jax.random.normal(jax.random.key(n), (n,))
    spec = signal.stft(x, n_fft, hop, window, center, pad_mode)
    assert spec.shape == (signal.num_frames(n, n_fft, hop, center), n_fft // 2 + 1)
    length = n if center else signal.num_frames(n, n_fft, hop, False) * hop + n_fft - hop
    y = signal.istft(spec, n_fft, hop, window, center, length=length)
    assert float(jnp.max(jnp.abs(y - x[:length]))) < 1e-5


def test_istft_default_length_and_errors():
    spec = signal.stft(jnp.zeros(1024), n_fft=64, hop=16)
    assert signal.istft(spec, n_fft=64, hop=16).shape == (1024,)  # hop * (frames - 1)
    with pytest.raises(ValueError, match="NOLA"):  # periodic Hann is 0 at every frame boundary when hop = n_fft
        signal.istft(signal.stft(jnp.ones(256), n_fft=64, hop=64), n_fft=64, hop=64, length=256)
    with pytest.raises(ValueError, match="reflect padding"):
        signal.stft(jnp.ones(100), n_fft=256, hop=64)
    with pytest.raises(ValueError, match="unknown window 'hamming'"):
        signal.stft(jnp.ones(300), n_fft=256, hop=64, window="hamming")
    with pytest.raises(ValueError, match="istft expects"):
        signal.istft(jnp.zeros((10, 100), jnp.complex64), n_fft=256, hop=64)
    with pytest.raises(ValueError, match="hop"):
        signal.stft(jnp.ones(300), n_fft=256, hop=0)


def test_complex_channels_round_trip():
    z = jnp.array([[1 + 2j, -3 - 0.5j]], jnp.complex64)
    c = signal.complex_to_channels(z)
    np.testing.assert_array_equal(c, [[[1, 2], [-3, -0.5]]])
    np.testing.assert_array_equal(signal.channels_to_complex(c), z)


# --------------------------------------------------------------------------- SI-SNR
def _np_si_snr(est, ref):
    est = est - est.mean()
    ref = ref - ref.mean()
    t = (est @ ref) / (ref @ ref) * ref
    return 10 * np.log10((t @ t) / ((est - t) @ (est - t)))


def test_si_snr_hand_values():
    ref = np.array([1.0, -1.0, 1.0, -1.0])
    est = 2 * ref + np.array([1.0, 1.0, -1.0, -1.0])  # orthogonal zero-mean noise: 16 / 4
    assert float(signal.si_snr(est, ref)) == pytest.approx(10 * math.log10(4), abs=1e-5)
    # ref [1,2,3,4], est [2,1,4,3]: alpha = 3/5, |t|^2 = 1.8, |e|^2 = 3.2 -> 10 log10(0.5625)
    ref, est = np.array([1.0, 2.0, 3.0, 4.0]), np.array([2.0, 1.0, 4.0, 3.0])
    assert _np_si_snr(est, ref) == pytest.approx(10 * math.log10(1.8 / 3.2))
    assert float(signal.si_snr(est, ref)) == pytest.approx(-2.498775, abs=1e-4)


def test_si_snr_invariances_and_batch():
    ref = jax.random.normal(jax.random.key(0), (3, 200))
    est = ref + 0.3 * jax.random.normal(jax.random.key(1), (3, 200))
    base = signal.si_snr(est, ref)
    assert base.shape == (3,)
    np.testing.assert_allclose(signal.si_snr(-4.0 * est, ref), base, atol=1e-3)  # any nonzero scale, sign included
    np.testing.assert_allclose(signal.si_snr(0.01 * est + 2.0, 7.0 * ref), base, atol=1e-3)
    expected = [_np_si_snr(np.asarray(e), np.asarray(r)) for e, r in zip(est, ref, strict=True)]
    np.testing.assert_allclose(base, expected, atol=1e-3)


def test_si_snr_improvement_hand_value():
    ref = np.array([1.0, -1.0, 1.0, -1.0])
    noise = np.array([1.0, 1.0, -1.0, -1.0])
    # noisy: 4/4 -> 0 dB; est = ref + noise/2: 4/1 -> 6.0206 dB
    imp = signal.si_snr_improvement(ref + 0.5 * noise, ref + noise, ref)
    assert float(imp) == pytest.approx(10 * math.log10(4), abs=1e-5)
    with pytest.raises(ValueError, match="same shape"):
        signal.si_snr_improvement(ref, ref[:3], ref)


# --------------------------------------------------------------------------- wSDR
def test_wsdr_hand_values():
    clean = np.array([1.0, 0.0])
    # noise [0, 1]: alpha = 1/2; est = noisy -> speech term -1/sqrt2, noise estimate 0 -> 0
    assert float(signal.wsdr_loss(np.array([1.0, 1.0]), np.array([1.0, 1.0]), clean)) == pytest.approx(
        -0.5 / math.sqrt(2), abs=1e-6
    )
    # noise [0, 2]: alpha = 1/5; est [1, 1] -> speech -1/sqrt2, noise est [0, 1] -> -1
    val = signal.wsdr_loss(np.array([1.0, 2.0]), np.array([1.0, 1.0]), clean)
    assert float(val) == pytest.approx(0.2 * (-1 / math.sqrt(2)) + 0.8 * (-1), abs=1e-6)


def test_wsdr_perfect_bounds_and_reduction():
    clean = jax.random.normal(jax.random.key(0), (4, 300))
    noisy = clean + jax.random.normal(jax.random.key(1), (4, 300))
    per = signal.wsdr_loss(noisy, clean, clean, reduction="none")
    assert per.shape == (4,)
    np.testing.assert_allclose(per, -1.0, atol=1e-6)
    assert float(signal.wsdr_loss(noisy, clean, clean)) == pytest.approx(-1.0, abs=1e-6)
    # worst case: no noise and the estimate is the negated speech -> +1
    c = np.array([1.0, 2.0, 3.0])
    assert float(signal.wsdr_loss(c, -c, c)) == pytest.approx(1.0, abs=1e-6)
    rnd = signal.wsdr_loss(noisy, jax.random.normal(jax.random.key(2), (4, 300)), clean, reduction="none")
    assert np.all((np.asarray(rnd) >= -1) & (np.asarray(rnd) <= 1))
    with pytest.raises(ValueError, match="reduction"):
        signal.wsdr_loss(noisy, clean, clean, reduction="sum")


# --------------------------------------------------------------------------- PSNR
def test_psnr_known_mse():
    target = jnp.full((4, 5, 3), 0.5)
    assert float(signal.psnr(target + 0.1, target)) == pytest.approx(20.0, abs=1e-4)  # MSE 0.01
    assert float(signal.psnr(target * 255 + 1, target * 255, max_value=255.0)) == pytest.approx(
        20 * math.log10(255), abs=1e-4
    )
    assert float(signal.psnr(target, target)) == math.inf
    with pytest.raises(ValueError, match="same shape"):
        signal.psnr(target, target[:2])
    with pytest.raises(ValueError, match="max_value"):
        signal.psnr(target, target, max_value=0.0)


def test_psnr_batch_is_mean_of_per_image_psnr():
    target = jnp.zeros((2, 3, 3, 3))
    pred = target.at[0].set(0.1).at[1].set(0.01)  # MSE 1e-2 -> 20 dB, 1e-4 -> 40 dB
    np.testing.assert_allclose(signal.psnr_per_image(pred, target), [20.0, 40.0], atol=1e-3)
    assert float(jax.jit(signal.psnr_batch)(pred, target)) == pytest.approx(30.0, abs=1e-3)  # not 22.97 (pooled)
