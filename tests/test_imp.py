"""IMP with rewinding: exact level plans, rewinds, late rewinding, baselines, kill-and-resume, real data."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rtl_jax import baselines, masks
from rtl_jax import checkpoint as ckpt_lib
from rtl_jax.data import datasets
from rtl_jax.imp import PruneConfig, RewindConfig, TrainConfig, run_imp
from rtl_jax.models import get_model
from rtl_jax.tasks import classification_task

ROOT = Path(__file__).resolve().parents[1]
FMNIST = Path(os.environ.get("RTL_FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist"))


@pytest.fixture(scope="module")
def digits():
    ds = datasets.load_dataset("digits", data_dir="unused")
    mean, std = datasets.channel_stats(ds.train)
    xtr, xte = datasets.standardize(ds.train.x, mean, std), datasets.standardize(ds.test.x, mean, std)
    spec = get_model("lenet_300_100", num_outputs=10, input_shape=(8, 8, 1), hidden=(64, 32))
    v0 = {"params": spec.init(jax.random.key(1))["params"], "batch_stats": {}}
    pr = masks.select_prunable(v0["params"], spec.prunable_include, spec.prunable_exclude, verbose=False)
    task = classification_task("digits", xtr, ds.train.y, xte, ds.test.y, num_classes=10, batch_size=50, seed=0)
    return spec, v0, pr, task


def test_imp_levels_rewind_to_theta0_and_exact_counts(digits, tmp_path):
    spec, v0, pr, task = digits
    starts = {}
    res = run_imp(spec, v0, pr, task, train_cfg=TrainConfig(epochs=2, batch_size=50, learning_rate=3e-3),
                  prune_cfg=PruneConfig(mode="count", amount=1000, target_sparsity=0.5, milestones=(0.25,)),
                  run_dir=tmp_path, seed=0, on_level_start=lambda lvl, st, m: starts.update({lvl: (st, m)}))
    total = masks.total_prunable(v0["params"], pr)
    assert total == 64 * 64 + 64 * 32 + 32 * 10
    expected = [total, total - 1000, round(0.75 * total), round(0.75 * total) - 1000, round(0.5 * total)]
    assert [r.kept for r in res] == expected
    for st, m in starts.values():
        # rewind == θ0 ⊙ mask, exactly, with a fresh optimiser at step 0
        assert jax.tree.all(jax.tree.map(lambda a, b: bool(jnp.array_equal(a, b)), st.params,
                                         masks.apply(v0["params"], m)))
        assert int(st.step) == 0
        assert all(float(jnp.abs(x).sum()) == 0.0 for x in jax.tree.leaves(st.opt_state) if jnp.ndim(x) > 0)
    for prev, cur in zip(res[:-1], res[1:]):  # monotone masks from the previous level's trained weights
        assert jax.tree.all(jax.tree.map(lambda a, b: bool(jnp.all(~b | a)), prev.mask, cur.mask))
        for p, m in zip(jax.tree.leaves(cur.params), jax.tree.leaves(cur.mask)):
            assert np.all(np.asarray(p)[~np.asarray(m)] == 0.0)  # pruned weights stayed exactly 0
    # the level-1 mask keeps the largest-magnitude kept weights of level 0's trained weights
    layers = ("Dense_0", "Dense_1", "head")
    mags = np.concatenate([np.abs(np.asarray(res[0].params[k]["kernel"])).ravel() for k in layers])
    kept1 = np.concatenate([np.asarray(res[1].mask[k]["kernel"]).ravel() for k in layers])
    assert mags[kept1].min() >= mags[~kept1].max()
    assert res[0].metrics["top1"] > 0.85
    # rerun: every level is skipped and identical
    again = run_imp(spec, v0, pr, task, train_cfg=TrainConfig(epochs=2, batch_size=50, learning_rate=3e-3),
                    prune_cfg=PruneConfig(mode="count", amount=1000, target_sparsity=0.5, milestones=(0.25,)),
                    run_dir=tmp_path, seed=0)
    assert all(r.skipped for r in again) and [r.metrics for r in again] == [r.metrics for r in res]


def test_late_rewinding_to_step_k(digits, tmp_path):
    spec, v0, pr, task = digits
    starts = {}
    k = 7
    res = run_imp(spec, v0, pr, task, train_cfg=TrainConfig(epochs=1, batch_size=50, learning_rate=3e-3),
                  prune_cfg=PruneConfig(mode="fraction", amount=0.5, target_sparsity=0.5, milestones=()),
                  rewind_cfg=RewindConfig(to="step", step=k), run_dir=tmp_path, seed=0,
                  on_level_start=lambda lvl, st, m: starts.update({lvl: (st, m)}))
    theta_k = ckpt_lib.restore_tree(tmp_path / "rewind_point", v0)
    assert not np.array_equal(theta_k["params"]["Dense_0"]["kernel"], v0["params"]["Dense_0"]["kernel"])
    st, m = starts[1]
    assert int(st.step) == k
    assert jax.tree.all(jax.tree.map(lambda a, b: bool(jnp.array_equal(a, b)), st.params,
                                     masks.apply(theta_k["params"], m)))
    with pytest.raises(ValueError, match="rewind step"):
        run_imp(spec, v0, pr, task, train_cfg=TrainConfig(epochs=1, batch_size=50),
                prune_cfg=PruneConfig(mode="fraction", amount=0.5, target_sparsity=0.5, milestones=()),
                rewind_cfg=RewindConfig(to="step", step=10_000), run_dir=tmp_path / "x", seed=0)
    assert len(res) == 2


def test_random_pruning_control_and_dense_baseline(digits, tmp_path):
    spec, v0, pr, task = digits
    tc = TrainConfig(epochs=1, batch_size=50, learning_rate=3e-3)
    pc = PruneConfig(mode="fraction", amount=0.6, target_sparsity=0.6, milestones=())
    rnd = baselines.random_pruning_control(spec, v0, pr, task, train_cfg=tc, prune_cfg=pc, run_dir=tmp_path / "r",
                                           seed=0)
    mag = baselines.single_ticket_imp(spec, v0, pr, task, train_cfg=tc, prune_cfg=pc, run_dir=tmp_path / "m", seed=0)
    dense = baselines.dense_training(spec, v0, pr, task, train_cfg=tc, run_dir=tmp_path / "d", seed=0)
    assert rnd[1].kept == mag[1].kept
    # random masks are not the magnitude masks, and random per-layer densities stay near 0.4 everywhere
    assert not jax.tree.all(jax.tree.map(lambda a, b: bool(jnp.array_equal(a, b)), rnd[1].mask, mag[1].mask))
    per = masks.density_per_layer(rnd[1].mask, pr)
    assert all(abs(float(v) - 0.4) < 0.06 for v in per.values())
    assert dense.level == 0 and dense.density == 1.0 and dense.metrics == pytest.approx(mag[0].metrics)


def test_nan_loss_raises(digits, tmp_path):
    spec, v0, pr, task = digits
    bad = task.__class__(**{**task.__dict__, "x": np.full_like(task.x, np.nan)})
    with pytest.raises(FloatingPointError, match="non-finite loss"):
        run_imp(spec, v0, pr, bad, train_cfg=TrainConfig(epochs=1, batch_size=50),
                prune_cfg=PruneConfig(target_sparsity=0.0, milestones=()), run_dir=tmp_path, seed=0)


def _imp_cmd(workdir):
    return [sys.executable, "-m", "experiments.imp", "--quick", "--workdir", str(workdir),
            "--set", "data.name=digits", "--set", "data.train_per_class=0", "--set", "data.test_per_class=0",
            "--set", "train.epochs=40", "--set", "train.batch_size=20", "--no-progress"]


def _level_records(run_dir: Path):
    out = []
    for d in sorted((run_dir / "seed_0" / "imp").glob("level_*")):
        info = json.loads((d / "metrics.json").read_text())
        mask = ckpt_lib.restore_tree(d / "mask")
        out.append((info["kept"], info["metrics"], info["epoch_loss"], mask))
    return out


def test_kill_and_resume_equals_uninterrupted(tmp_path):
    env = {**os.environ, "RTL_PROGRESS": "0", "PYTHONPATH": str(ROOT)}
    env.pop("XLA_FLAGS", None)  # same single-device program in all three processes
    ref = subprocess.run(_imp_cmd(tmp_path / "ref"), cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert ref.returncode == 0, ref.stderr[-3000:]
    # killed run: SIGKILL as soon as level 1 has written a mid-level training checkpoint
    proc = subprocess.Popen(_imp_cmd(tmp_path / "kill"), cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    killed_mid_level = False
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        ck = list((tmp_path / "kill").glob("imp_*/seed_0/imp/level_001/train_ckpt/[0-9]*"))
        if ck:
            os.killpg(proc.pid, signal.SIGKILL)
            killed_mid_level = True
            break
        time.sleep(0.02)
    proc.wait(timeout=60)
    assert killed_mid_level, "the run finished before it could be killed mid-level"
    run_kill = next((tmp_path / "kill").glob("imp_*"))
    assert not (run_kill / "seed_0" / "imp" / "level_001" / "DONE").exists()
    resumed = subprocess.run(_imp_cmd(tmp_path / "kill"), cwd=ROOT, env=env, capture_output=True, text=True,
                             timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    run_ref = next((tmp_path / "ref").glob("imp_*"))
    assert run_ref.name == run_kill.name
    a, b = _level_records(run_ref), _level_records(run_kill)
    assert len(a) == len(b) == 3
    for (ka, ma, la, mka), (kb, mb, lb, mkb) in zip(a, b):
        assert ka == kb and ma == mb and la == lb
        assert jax.tree.all(jax.tree.map(lambda x, y: bool(np.array_equal(x, y)), mka, mkb))


@pytest.mark.realdata
@pytest.mark.skipif(not (FMNIST / "train-images-idx3-ubyte.gz").exists(), reason="Debian Fashion-MNIST not installed")
def test_real_fashion_mnist_half_sparse_ticket_within_two_points_of_dense(tmp_path):
    from experiments import imp as imp_exp
    rc = imp_exp.main(["--workdir", str(tmp_path), "--data-dir", str(tmp_path / "data"), "--no-progress",
                       "--set", "prune.amount=0.5", "--set", "prune.target_sparsity=0.5",
                       "--set", "prune.milestones=0.5", "--set", "train.epochs=3"])
    assert rc == 0
    res = json.loads(next(tmp_path.glob("imp_*/results.json")).read_text())
    rows = {r["level"]: r for r in res["rows"]}
    dense, half = rows[0], rows[1]
    assert half["sparsity"] == pytest.approx(0.5, abs=1e-5)
    print(f"dense top-1 {dense['top1']:.4f}, 50%-sparse ticket top-1 {half['top1']:.4f}")
    assert dense["top1"] > 0.85
    assert half["top1"] >= dense["top1"] - 0.02
