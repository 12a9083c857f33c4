"""INR experiment: features of a pixel, region batches, PSNR, region routing and the quick run end to end."""
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import inr
from rtl_jax import losses, masks, signal
from rtl_jax.models import get_model


# --------------------------------------------------------------------------- inputs
def test_fourier_features_of_a_grid_pixel():
    # 3×3 grid, pixel index 1 = row 0, column 1 -> (x, y) = (0, -1).
    feats = np.asarray(inr.fourier_features(inr.pixel_grid(3, 3)))
    f = feats[1]
    assert feats.shape == (9, 34)
    expected = [0.0, -1.0] + [0.0] * 8 + [1.0] * 8  # x = 0: sin 0, cos 1
    expected += [0.0] * 8 + [-1.0] + [1.0] * 7  # y = -1: sin(-2^i pi) = 0; cos(-pi) = -1, cos(-2^i pi) = 1 (i >= 1)
    np.testing.assert_allclose(f, expected, atol=5e-5)  # float32 sin(2^7 pi) is off by ~1e-5


def test_region_batches_deterministic_and_inside_region():
    pixels = np.array([3, 7, 11])
    f = inr.region_batches(pixels, steps=4, batch_size=5, seed=2)
    a, b = f(0), f(0)
    assert a.shape == (4, 5)
    np.testing.assert_array_equal(a, b)
    assert set(np.unique(a)) <= {3, 7, 11}
    assert not np.array_equal(f(0), f(1))
    g = inr.stratified_batches([f, inr.region_batches(np.array([0]), steps=4, batch_size=2, seed=3)])
    np.testing.assert_array_equal(g(1), np.concatenate([f(1), np.zeros((4, 2), np.int64)], axis=1))
    with pytest.raises(ValueError, match="batch_size"):
        inr.region_batches(pixels, steps=4, batch_size=0, seed=0)


def test_region_pixel_indices():
    lab = np.array([[1, 0], [0, 1]])
    idx = inr.region_pixel_indices(lab, 2)
    np.testing.assert_array_equal(idx[0], [1, 2])
    np.testing.assert_array_equal(idx[1], [0, 3])
    with pytest.raises(ValueError, match="region 2 has no pixels"):
        inr.region_pixel_indices(lab, 3)


# --------------------------------------------------------------------------- metrics and loss
def test_psnr_of_known_mse():
    target = np.zeros((2, 2, 3), np.float32)
    pred = np.full((2, 2, 3), 0.1, np.float32)  # MSE 0.01 -> 20 dB
    assert inr.clipped_psnr(pred, target) == pytest.approx(20.0, abs=1e-6)  # float32 0.1
    assert float(signal.psnr(pred, target)) == pytest.approx(20.0, abs=1e-4)
    # clipping: -0.5 counts as 0 against a target of 0.1 -> MSE 0.01 -> 20 dB; 0.25 error -> 10·log10(16)
    assert inr.clipped_psnr(np.full(3, -0.5), np.full(3, 0.1)) == pytest.approx(20.0, abs=1e-9)
    assert inr.clipped_psnr(np.full(4, 0.75), np.full(4, 0.5)) == pytest.approx(10 * np.log10(16.0), abs=1e-9)
    assert inr.clipped_psnr(np.ones(2), np.ones(2)) == float("inf")


def test_independent_tickets_psnr_from_region_psnr():
    # Two halves at 20 dB (MSE 0.01) and 30 dB (MSE 0.001): image MSE 0.0055 -> 10·log10(1/0.0055) dB.
    curves = {"sparsity": [0.0, 0.5], "region_fraction": [0.5, 0.5], "region_psnr": [[0.0, 20.0], [0.0, 30.0]]}
    assert inr.independent_tickets_psnr(curves, 0.5) == pytest.approx(10 * np.log10(1 / 0.0055), abs=1e-9)
    assert inr.independent_tickets_psnr(curves, 0.5) == pytest.approx(22.5963, abs=1e-4)
    with pytest.raises(ValueError, match="no search level at sparsity 0.25"):
        inr.independent_tickets_psnr(curves, 0.25)


def test_mse_loss_registered():
    loss, aux = losses.get_loss("mse")(jnp.array([[1.0, 2.0]]), {"y": np.array([[0.0, 0.0]])})
    assert float(loss) == pytest.approx(2.5) and float(aux["loss"]) == pytest.approx(2.5)


# --------------------------------------------------------------------------- routing
def test_routed_reconstruction_sends_each_pixel_to_its_region_ticket():
    # A tiny MLP 34 -> 4 -> 3. Ticket 0 keeps every weight; ticket 1 drops the output kernel, so its
    # output is exactly the output bias. Pixels of region 1 must get the bias, region 0 the full model.
    spec = get_model("inr_mlp", num_outputs=3, input_shape=(34,), hidden=(4,))
    params = spec.init(jax.random.key(0))["params"]
    params["Dense_1"]["bias"] = jnp.array([0.1, 0.2, 0.3])
    full = masks.init_mask(params)
    no_out = jax.tree.map(lambda m: m, full)
    no_out["Dense_1"]["kernel"] = jnp.zeros_like(full["Dense_1"]["kernel"])
    stacked = masks.stack([full, no_out])
    labels = np.array([[0, 1, 1], [1, 0, 0]])
    feats = np.asarray(inr.fourier_features(inr.pixel_grid(2, 3)))
    apply_fn = inr.make_apply(spec)
    out = inr.routed_reconstruction(apply_fn, params, stacked, labels, feats, bucket=2)
    dense = np.asarray(spec.module.apply({"params": params}, feats))
    region1 = labels.ravel() == 1
    np.testing.assert_allclose(out[region1], np.tile([0.1, 0.2, 0.3], (3, 1)), atol=1e-7)
    np.testing.assert_allclose(out[~region1], dense[~region1], rtol=1e-5, atol=1e-6)
    # equals the per-region loop: one forward per ticket on its region's pixels
    for k in range(2):
        sel = labels.ravel() == k
        ref = spec.module.apply({"params": masks.apply(params, masks.select(stacked, k))}, feats[sel])
        np.testing.assert_allclose(out[sel], np.asarray(ref), rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------- end to end
def test_quick_experiment_end_to_end(tmp_path):
    rc = inr.main(["--quick", "--workdir", str(tmp_path), "--no-progress", "--set", "images.names=astronaut",
                   "--set", "execution.shard=false"])
    assert rc == 0
    (run,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    res = json.loads((run / "results.json").read_text())
    rows = res["rows"]
    assert {(r["method"], r["sparsity"]) for r in rows} == {(m, s) for m in ("RTL", "IMP")
                                                            for s in (0.25, 0.5, 0.75, 0.9)}
    # The quick plan (53,888 weights, 20,000 per round, clipped at the milestones): IMP keeps one mask.
    imp = {r["sparsity"]: r["params"] for r in rows if r["method"] == "IMP"}
    assert imp == {0.25: 40416, 0.5: 26944, 0.75: 13472, 0.9: 5389}
    for r in rows:
        if r["method"] == "RTL":  # union of K masks: at least one mask, at most all weights
            assert imp[r["sparsity"]] <= r["params"] <= 53888
        assert 5.0 < r["psnr"] < 60.0
        assert len(r["region_psnr"]) == r["regions"]
    curves = res["curves"]["seed_0"]["astronaut"]
    assert len(curves["sparsity"]) == 5 and np.asarray(curves["similarity"]).shape == (rows[0]["regions"], 5)
    np.testing.assert_allclose(np.asarray(curves["similarity"])[:, 0], 1.0)  # dense level: identical masks
    for name in ("inr_reconstructions.png", "inr_similarity_astronaut.png", "results.md", "results.csv"):
        assert (run / name).stat().st_size > 0
    md = (run / "results.md").read_text()
    assert "Table 2 layout" in md and "IMP multiple" in md
