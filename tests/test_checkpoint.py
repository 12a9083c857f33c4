"""Tests of rtl_jax.checkpoint (Orbax behind one module) and rtl_jax.stages (idempotent stages)."""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
import pytest

from rtl_jax import checkpoint as ckpt
from rtl_jax import masks as masks_lib
from rtl_jax import stages

REPO = Path(__file__).resolve().parents[1]


def sample_tree():
    return {
        "params": {"Dense_0": {"kernel": jnp.arange(6.0, dtype=jnp.float32).reshape(2, 3), "bias": jnp.zeros(3)}},
        "batch_stats": {},  # models without BatchNorm: an empty subtree survives the round trip
        "counts": np.array([[1, -2], [3, 4]], dtype=np.int32),
        "mask": np.array([True, False, True]),
        "step": jnp.array(7, dtype=jnp.int32),
        "lr": 0.25,
        "epoch": 3,
        "done": True,
    }


def assert_tree_exact(got, want):
    assert jax.tree.structure(got) == jax.tree.structure(want)
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        if isinstance(w, (bool, int, float)):
            assert type(g) is type(w) and g == w
        else:
            assert np.asarray(g).dtype == np.asarray(w).dtype and np.asarray(g).shape == np.asarray(w).shape
            np.testing.assert_array_equal(np.asarray(g), np.asarray(w))


# --------------------------------------------------------------------------- single trees
def test_save_restore_round_trip_concrete_abstract_and_untargeted(tmp_path):
    tree = sample_tree()
    path = tmp_path / "ck"
    assert not ckpt.exists(path)
    ckpt.save_tree(path, tree)
    assert ckpt.exists(path)
    assert_tree_exact(ckpt.restore_tree(path, tree), tree)
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, tree)
    restored = ckpt.restore_tree(path, abstract)
    assert_tree_exact(restored, tree)
    assert isinstance(restored["params"]["Dense_0"]["kernel"], jax.Array)  # jax stays jax
    assert isinstance(restored["mask"], np.ndarray) and restored["mask"].dtype == np.bool_  # numpy stays numpy
    assert_tree_exact(ckpt.restore_tree(path), tree)  # no target: Orbax's dicts, same values


def test_numpy_scalars_and_dataclass_state(tmp_path):
    @flax.struct.dataclass
    class State:
        step: jax.Array
        params: dict
        opt_state: optax.OptState

    params = {"w": jnp.full((3, 2), 0.5), "b": jnp.zeros(2)}
    tx = optax.adam(1e-3)
    state = State(step=jnp.array(2), params=params, opt_state=tx.init(params))
    ckpt.save_tree(tmp_path / "s", state)
    got = ckpt.restore_tree(tmp_path / "s", jax.tree.map(ocp.utils.to_shape_dtype_struct, state))
    assert isinstance(got, State) and isinstance(got.opt_state[0], optax.ScaleByAdamState)
    assert_tree_exact(got, state)
    # numpy scalars come back as 0-d numpy arrays of the same dtype and value
    ckpt.save_tree(tmp_path / "n", {"x": np.float32(1.5), "k": np.int64(-4)})
    got = ckpt.restore_tree(tmp_path / "n", {"x": np.float32(0), "k": np.int64(0)})
    assert got["x"].dtype == np.float32 and got["x"].shape == () and float(got["x"]) == 1.5
    assert got["k"].dtype == np.int64 and int(got["k"]) == -4


def test_save_refuses_to_overwrite(tmp_path):
    path = tmp_path / "ck"
    ckpt.save_tree(path, {"a": np.arange(3)})
    with pytest.raises(FileExistsError, match=f"refusing to overwrite a finished checkpoint at {path}"):
        ckpt.save_tree(path, {"a": np.arange(3) + 10})
    np.testing.assert_array_equal(ckpt.restore_tree(path)["a"], np.arange(3))
    ckpt.save_tree(path, {"a": np.arange(3) + 10}, overwrite=True)
    np.testing.assert_array_equal(ckpt.restore_tree(path)["a"], np.arange(3) + 10)
    other = tmp_path / "not_a_checkpoint"
    other.mkdir()
    with pytest.raises(FileExistsError, match="something that is not a finished checkpoint"):
        ckpt.save_tree(other, {"a": np.arange(3)})


def test_save_rejects_bad_trees(tmp_path):
    with pytest.raises(ValueError, match="empty tree"):
        ckpt.save_tree(tmp_path / "a", {})
    with pytest.raises(ValueError, match="bare leaf"):
        ckpt.save_tree(tmp_path / "b", np.arange(3))
    with pytest.raises(ValueError, match="leaf 'x/name' has unsupported type str"):
        ckpt.save_tree(tmp_path / "c", {"x": {"name": "hello", "v": np.arange(2)}})
    with pytest.raises(ValueError, match="leaf 'rng' is a typed PRNG key"):
        ckpt.save_tree(tmp_path / "d", {"rng": jax.random.key(0)})
    assert not (tmp_path / "a").exists() and not (tmp_path / "c").exists()


def test_exists_and_missing(tmp_path):
    assert not ckpt.exists(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    assert not ckpt.exists(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match=f"no checkpoint at {tmp_path / 'nothing'}"):
        ckpt.restore_tree(tmp_path / "nothing")
    with pytest.raises(ckpt.CheckpointError, match=f"{tmp_path / 'empty'} exists but is not a finished checkpoint"):
        ckpt.restore_tree(tmp_path / "empty")


def _corrupt_data_files(path: Path) -> None:
    data = [f for f in (path / "d").iterdir() if f.is_file()]
    assert data, "expected OCDBT data files under d/"
    for f in data:
        with open(f, "r+b") as fh:
            fh.truncate(10)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # Orbax asyncio teardown noise
@pytest.mark.parametrize("target", ["none", "like"])
def test_corrupt_checkpoint_raises_checkpoint_error(tmp_path, target):
    tree = {"w": np.arange(12, dtype=np.float32).reshape(3, 4), "m": np.array([True, False])}
    path = tmp_path / "ck"
    ckpt.save_tree(path, tree)
    _corrupt_data_files(path)
    with pytest.raises(ckpt.CheckpointError, match=f"checkpoint {path}"):
        ckpt.restore_tree(path, None if target == "none" else tree)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # Orbax asyncio teardown noise
def test_deleted_or_garbled_metadata_raises_checkpoint_error(tmp_path):
    tree = {"w": np.arange(4.0)}
    ckpt.save_tree(tmp_path / "a", tree)
    (tmp_path / "a" / "_METADATA").unlink()
    with pytest.raises(ckpt.CheckpointError, match=f"cannot read the tree metadata of checkpoint {tmp_path / 'a'}"):
        ckpt.restore_tree(tmp_path / "a", tree)
    with pytest.raises(ckpt.CheckpointError, match=f"cannot restore checkpoint {tmp_path / 'a'}: FileNotFoundError"):
        ckpt.restore_tree(tmp_path / "a")
    ckpt.save_tree(tmp_path / "b", tree)
    (tmp_path / "b" / "_METADATA").write_text("{garbage")
    with pytest.raises(ckpt.CheckpointError, match=f"cannot restore checkpoint {tmp_path / 'b'}"):
        ckpt.restore_tree(tmp_path / "b")


def test_mismatched_target_raises_checkpoint_error(tmp_path):
    tree = {"w": np.zeros((2, 3), np.float32), "b": np.zeros(3, np.float32)}
    path = tmp_path / "ck"
    ckpt.save_tree(path, tree)
    with pytest.raises(ckpt.CheckpointError, match=r"'w': on disk \(2, 3\) float32, target \(3, 2\) float32"):
        ckpt.restore_tree(path, {"w": np.zeros((3, 2), np.float32), "b": np.zeros(3, np.float32)})
    with pytest.raises(ckpt.CheckpointError, match=r"'b': on disk \(3,\) float32, target \(3,\) int32"):
        ckpt.restore_tree(path, {"w": np.zeros((2, 3), np.float32), "b": np.zeros(3, np.int32)})
    with pytest.raises(ckpt.CheckpointError, match=r"leaves missing on disk \['c'\], leaves on disk not in the "
                                                   r"target \['b'\]"):
        ckpt.restore_tree(path, {"w": np.zeros((2, 3), np.float32), "c": np.zeros(3, np.float32)})


# --------------------------------------------------------------------------- masks
def mask_params():
    return {"conv": {"kernel": jnp.zeros((3, 3, 1, 5))}, "head": {"kernel": jnp.zeros((7, 3)), "bias": jnp.zeros(3)}}


def random_masks(seed, params, k=None):
    rng = np.random.default_rng(seed)
    lead = () if k is None else (k,)
    return jax.tree.map(lambda p: jnp.asarray(rng.random(lead + p.shape) < 0.4), params)


@pytest.mark.parametrize("stacked", [False, True])
def test_masks_round_trip_bit_packed_and_exact(tmp_path, stacked):
    params = mask_params()
    mask = random_masks(0, params, k=4 if stacked else None)
    path = tmp_path / "masks"
    ckpt.save_masks(path, mask, stacked=stacked)
    got = ckpt.load_masks(path, params, stacked=stacked)
    assert jax.tree.structure(got) == jax.tree.structure(mask)
    for g, m in zip(jax.tree.leaves(got), jax.tree.leaves(mask), strict=True):
        assert g.dtype == jnp.bool_ and g.shape == m.shape
        np.testing.assert_array_equal(np.asarray(g), np.asarray(m))
    # on disk: 1 bit per weight per ticket (45 weights -> 6 bytes, 21 -> 3, 3 -> 1)
    raw = ckpt.restore_tree(path)
    lead = (4,) if stacked else ()
    assert raw["conv"]["kernel"].shape == lead + (6,) and raw["conv"]["kernel"].dtype == np.uint8
    assert raw["head"]["kernel"].shape == lead + (3,)
    assert raw["head"]["bias"].shape == lead + (1,)
    np.testing.assert_array_equal(raw["head"]["kernel"], masks_lib.pack(mask, stacked=stacked)["head"]["kernel"])


def test_masks_errors(tmp_path):
    params = mask_params()
    mask = random_masks(1, params, k=2)
    path = tmp_path / "m"
    ckpt.save_masks(path, mask, stacked=True)
    with pytest.raises(ckpt.CheckpointError, match="saved with stacked=True, loading with stacked=False"):
        ckpt.load_masks(path, params, stacked=False)
    wrong = {"conv": {"kernel": jnp.zeros((3, 3, 5, 1))}, "head": params["head"]}  # same size, other shape
    with pytest.raises(ckpt.CheckpointError, match=r"mask leaf 'conv/kernel' .* has shape \(2, 3, 3, 1, 5\), "
                                                   r"params have \(3, 3, 5, 1\)"):
        ckpt.load_masks(path, wrong, stacked=True)
    with pytest.raises(ckpt.CheckpointError, match=r"only in the params \['extra/kernel'\]"):
        ckpt.load_masks(path, {**params, "extra": {"kernel": jnp.zeros(2)}}, stacked=True)
    ckpt.save_tree(tmp_path / "plain", {"a": np.zeros(2)})
    with pytest.raises(ckpt.CheckpointError, match="holds no masks saved by save_masks"):
        ckpt.load_masks(tmp_path / "plain", params, stacked=True)
    with pytest.raises(ValueError, match="mask leaf 'head/bias' has dtype float32, expected bool"):
        ckpt.save_masks(tmp_path / "f", {**mask, "head": {**mask["head"], "bias": jnp.ones((2, 3))}}, stacked=True)
    uneven = {**mask, "head": {**mask["head"], "bias": jnp.ones((3, 3), bool)}}
    with pytest.raises(ValueError, match="stacked mask leaf 'head/bias' has 3 tickets, other leaves 2"):
        ckpt.save_masks(tmp_path / "g", uneven, stacked=True)


# --------------------------------------------------------------------------- training checkpoints
def test_train_checkpointer_keeps_two_and_resumes_in_a_fresh_instance(tmp_path):
    state = {"w": jnp.zeros((2, 2)), "step": jnp.array(0)}
    with ckpt.TrainCheckpointer(tmp_path / "ckpt", max_to_keep=2) as tc:
        assert tc.latest_step() is None and tc.all_steps() == []
        for step in (1, 2, 3):
            tc.save(step, {"w": jnp.full((2, 2), float(step)), "step": jnp.array(step)})
        assert tc.all_steps() == [2, 3] and tc.latest_step() == 3
        with pytest.raises(FileExistsError, match="step 3 already exists"):
            tc.save(3, state)
        with pytest.raises(ValueError, match="step 1 is older than the latest saved step 3"):
            tc.save(1, state)
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["2", "3"]
    fresh = ckpt.TrainCheckpointer(tmp_path / "ckpt", max_to_keep=2)
    try:
        assert fresh.latest_step() == 3
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, state)
        got = fresh.restore(fresh.latest_step(), abstract)
        np.testing.assert_array_equal(np.asarray(got["w"]), np.full((2, 2), 3.0))
        assert int(got["step"]) == 3
        got2 = fresh.restore(2, state)  # concrete target works too
        np.testing.assert_array_equal(np.asarray(got2["w"]), np.full((2, 2), 2.0))
        with pytest.raises(FileNotFoundError, match=r"no finished step 1 .* available steps: \[2, 3\]"):
            fresh.restore(1, state)
        with pytest.raises(ckpt.CheckpointError, match=r"'w': on disk \(2, 2\) float32, target \(3,\) float32"):
            fresh.restore(3, {"w": jnp.zeros(3), "step": jnp.array(0)})
    finally:
        fresh.close()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # Orbax asyncio teardown noise
def test_train_checkpointer_corrupt_step(tmp_path):
    with ckpt.TrainCheckpointer(tmp_path / "c") as tc:
        tc.save(5, {"w": jnp.arange(8.0)})
    for f in (tmp_path / "c" / "5" / "default" / "d").iterdir():
        f.write_bytes(b"\0" * 3)
    with ckpt.TrainCheckpointer(tmp_path / "c") as tc:
        with pytest.raises(ckpt.CheckpointError, match=f"cannot restore checkpoint {tmp_path / 'c'} step 5"):
            tc.restore(5, {"w": jnp.zeros(8)})


def test_train_checkpointer_argument_errors(tmp_path):
    with pytest.raises(ValueError, match="max_to_keep must be a positive int, got 0"):
        ckpt.TrainCheckpointer(tmp_path / "x", max_to_keep=0)
    with ckpt.TrainCheckpointer(tmp_path / "y") as tc:
        with pytest.raises(ValueError, match="step must be a non-negative int, got -1"):
            tc.save(-1, {"a": jnp.zeros(1)})


def test_train_checkpointer_survives_a_killed_process(tmp_path):
    """A process SIGKILLed right after save() returned loses nothing; a new process resumes from it."""
    script = textwrap.dedent(
        f"""
        import os, signal
        import jax.numpy as jnp
        from rtl_jax import checkpoint as ckpt
        tc = ckpt.TrainCheckpointer({str(tmp_path / "run")!r}, max_to_keep=2)
        tc.save(10, {{"w": jnp.arange(4.0) * 10}})
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, timeout=120)
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    with ckpt.TrainCheckpointer(tmp_path / "run") as tc:
        assert tc.latest_step() == 10
        got = tc.restore(10, {"w": jnp.zeros(4)})
    np.testing.assert_array_equal(np.asarray(got["w"]), [0.0, 10.0, 20.0, 30.0])


# --------------------------------------------------------------------------- small files
def test_json_atomic(tmp_path):
    path = tmp_path / "sub" / "r.json"
    ckpt.write_json_atomic(path, {"a": np.float32(0.5), "b": np.arange(3), "c": jnp.array([1.5]), "p": Path("x")})
    assert ckpt.read_json(path) == {"a": 0.5, "b": [0, 1, 2], "c": [1.5], "p": "x"}
    ckpt.write_json_atomic(path, [1, 2])
    assert ckpt.read_json(path) == [1, 2]
    assert sorted(p.name for p in path.parent.iterdir()) == ["r.json"]  # no temporary files left
    with pytest.raises(ValueError, match="cannot write .* as JSON"):
        ckpt.write_json_atomic(path, {"x": float("nan")})
    with pytest.raises(TypeError, match="object of type object is not JSON-serialisable"):
        ckpt.write_json_atomic(path, {"x": object()})
    assert ckpt.read_json(path) == [1, 2]  # failed writes leave the old file intact
    with pytest.raises(FileNotFoundError, match="no JSON file at"):
        ckpt.read_json(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{nope")
    with pytest.raises(ValueError, match="bad.json is not valid JSON"):
        ckpt.read_json(tmp_path / "bad.json")


# --------------------------------------------------------------------------- stages
def test_run_stage_computes_once_then_skips(tmp_path):
    calls = {"compute": 0, "save": 0, "load": 0}

    def compute():
        calls["compute"] += 1
        return {"w": np.arange(3.0) + calls["compute"]}

    def save(d, result):
        calls["save"] += 1
        ckpt.save_tree(d / "final", result, overwrite=True)

    def load(d):
        calls["load"] += 1
        return ckpt.restore_tree(d / "final", {"w": np.zeros(3)})

    stage = tmp_path / "level_000" / "joint"
    assert not stages.is_done(stage)
    result, skipped = stages.run_stage(stage, compute, save, load, info={"level": 0})
    assert skipped is False and calls == {"compute": 1, "save": 1, "load": 0}
    np.testing.assert_array_equal(result["w"], [1.0, 2.0, 3.0])
    assert stages.is_done(stage)
    marker = stages.read_done(stage)
    assert marker["info"]["level"] == 0 and marker["info"]["compute_seconds"] >= 0 and "finished_at" in marker
    result, skipped = stages.run_stage(stage, compute, save, load)
    assert skipped is True and calls == {"compute": 1, "save": 1, "load": 1}
    np.testing.assert_array_equal(result["w"], [1.0, 2.0, 3.0])


def test_run_stage_interrupted_before_marker_recomputes(tmp_path):
    stage = tmp_path / "s"
    counter = {"n": 0}

    def compute():
        counter["n"] += 1
        return {"w": np.full(2, float(counter["n"]))}

    def save(d, r):
        ckpt.save_tree(d / "final", r, overwrite=True)

    def crashing_mark(*_a, **_k):
        raise KeyboardInterrupt  # killed after saving, before the DONE marker

    load = lambda d: ckpt.restore_tree(d / "final", {"w": np.zeros(2)})
    mp = pytest.MonkeyPatch()
    mp.setattr(stages, "mark_done", crashing_mark)
    with pytest.raises(KeyboardInterrupt):
        stages.run_stage(stage, compute, save, load)
    mp.undo()
    assert not stages.is_done(stage) and ckpt.exists(stage / "final")
    result, skipped = stages.run_stage(stage, compute, save, load)
    assert skipped is False and counter["n"] == 2
    np.testing.assert_array_equal(load(stage)["w"], [2.0, 2.0])


def test_stage_marker_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="is not done"):
        stages.read_done(tmp_path)
    with pytest.raises(ValueError, match="stage info must be a dict"):
        stages.mark_done(tmp_path, [1])
    stages.mark_done(tmp_path / "x", {"a": 1})
    assert json.loads((tmp_path / "x" / "DONE").read_text())["info"] == {"a": 1}
