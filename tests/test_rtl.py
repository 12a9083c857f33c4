"""Algorithm 1 (search), Algorithm 2 (joint retraining), strategies, sharding and resumption."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rtl_jax import joint as joint_lib
from rtl_jax import masks, search
from rtl_jax.baselines import independent_imp
from rtl_jax.data import datasets, subsets
from rtl_jax.imp import PruneConfig, TrainConfig
from rtl_jax.models import get_model
from rtl_jax.tasks import one_vs_rest_task

TABLE = (0, 0, 0, 1, 1, 1, 2, 2, 3, 3)  # 10 digits -> 4 subsets


@pytest.fixture(scope="module")
def setup():
    ds = datasets.load_dataset("digits", data_dir="unused")
    mean, std = datasets.channel_stats(ds.train)
    xtr = datasets.standardize(ds.train.x, mean, std)
    xte = datasets.standardize(ds.test.x, mean, std)
    trp = subsets.partition_by_table(ds.train.y, TABLE)
    tep = subsets.partition_by_table(ds.test.y, TABLE)
    spec = get_model("lenet_300_100", num_outputs=10, input_shape=(8, 8, 1), hidden=(32, 16), prune_head=False)
    v0 = spec.init(jax.random.key(0))
    v0 = {"params": v0["params"], "batch_stats": {}}
    pr = masks.select_prunable(v0["params"], spec.prunable_include, spec.prunable_exclude, verbose=False)
    tasks = [one_vs_rest_task(f"t{k}", xtr, trp, xte, tep, k=k, batch_size=32, seed=100 + k) for k in range(4)]
    return spec, v0, pr, tasks, xte


TRAIN = TrainConfig(epochs=1, batch_size=32, optimizer="adam", learning_rate=3e-3)
PRUNE = PruneConfig(mode="fraction", amount=0.4, target_sparsity=0.6, milestones=(0.3,))


def _eq(a, b):
    return jax.tree.all(jax.tree.map(lambda x, y: bool(jnp.array_equal(x, y)), a, b))


def test_search_looped_equals_independent_imp_runs(setup, tmp_path):
    spec, v0, pr, tasks, xte = setup
    levels = search.run_search(spec, v0, pr, tasks, train_cfg=TRAIN, prune_cfg=PRUNE,
                               search_cfg=search.SearchConfig(strategy="looped"), run_dir=tmp_path / "s", seed=0,
                               x_score=xte)
    imp = independent_imp(spec, v0, pr, tasks, train_cfg=TRAIN, prune_cfg=PRUNE, run_dir=tmp_path / "i", seed=0)
    assert len(levels) == len(imp[0]) == 4  # 0%, 30%, 40% (0.4 of 70%... clipped), 60%
    total = masks.total_prunable(v0["params"], pr)
    for lv in levels:
        for k in range(4):
            assert _eq(masks.select(lv.masks, k), imp[k][lv.level].mask)
            assert lv.metrics[k] == pytest.approx(imp[k][lv.level].metrics)
        np.testing.assert_array_equal(masks.kept_count_per_ticket(lv.masks, pr), [lv.kept] * 4)
    assert levels[1].kept == round(0.7 * total)
    # tickets differ (adaptive), and masks only shrink
    assert not _eq(masks.select(levels[-1].masks, 0), masks.select(levels[-1].masks, 1))
    for a, b in zip(levels[:-1], levels[1:]):
        assert jax.tree.all(jax.tree.map(lambda x, y: bool(jnp.all(~y | x)), a.masks, b.masks))
    assert levels[-1].scores.shape == (4, len(xte))


def test_search_stacked_equals_looped_and_resume_skips(setup, tmp_path):
    spec, v0, pr, tasks, xte = setup
    looped = search.run_search(spec, v0, pr, tasks, train_cfg=TRAIN, prune_cfg=PRUNE,
                               search_cfg=search.SearchConfig(strategy="looped"), run_dir=tmp_path / "l", seed=0)
    stacked = search.run_search(spec, v0, pr, tasks, train_cfg=TRAIN, prune_cfg=PRUNE,
                                search_cfg=search.SearchConfig(strategy="stacked", shard=False),
                                run_dir=tmp_path / "st", seed=0)
    for a, b in zip(looped, stacked):
        same = np.mean([float(jnp.mean(x == y)) for x, y in zip(jax.tree.leaves(a.masks), jax.tree.leaves(b.masks))])
        assert same > 0.999  # vmapped vs looped float reductions may reorder a handful of near-ties
        for ma, mb in zip(a.metrics, b.metrics):
            assert ma["ba"] == pytest.approx(mb["ba"], abs=0.02)
    again = search.run_search(spec, v0, pr, tasks, train_cfg=TRAIN, prune_cfg=PRUNE,
                              search_cfg=search.SearchConfig(strategy="stacked", shard=False),
                              run_dir=tmp_path / "st", seed=0)
    assert all(lv.skipped for lv in again)
    assert all(_eq(a.masks, b.masks) for a, b in zip(stacked, again))


def test_sharded_search_equals_single_device(setup, tmp_path):
    assert len(jax.devices()) == 8, "conftest sets 8 simulated CPU devices"
    spec, v0, pr, tasks, xte = setup
    prune = PruneConfig(mode="fraction", amount=0.5, target_sparsity=0.5, milestones=())
    one = search.run_search(spec, v0, pr, tasks, train_cfg=TRAIN, prune_cfg=prune,
                            search_cfg=search.SearchConfig(strategy="stacked", shard=False),
                            run_dir=tmp_path / "one", seed=0)
    sharded = search.run_search(spec, v0, pr, tasks, train_cfg=TRAIN, prune_cfg=prune,
                                search_cfg=search.SearchConfig(strategy="stacked", shard=True),
                                run_dir=tmp_path / "sh", seed=0)
    for a, b in zip(one, sharded):
        assert _eq(a.masks, b.masks)
        for ma, mb in zip(a.metrics, b.metrics):
            assert ma == pytest.approx(mb, abs=1e-6)


def test_stacked_step_output_is_sharded_over_tickets(setup):
    from rtl_jax import losses, optim, sharding
    from rtl_jax import train as train_lib
    spec, v0, pr, tasks, xte = setup
    mesh = sharding.make_ticket_mesh(4)
    assert mesh.shape["ticket"] == 4
    tx = optim.make_optimizer("adam", 1e-3)
    st = train_lib.init_state(v0["params"], {}, tx)
    state = jax.tree.map(lambda x: jnp.stack([x] * 4), st)
    m = masks.init_masks(v0["params"], 4)
    vstep = search.make_stacked_step(spec, "one_vs_rest_bce", tx, mesh)
    idx = np.stack([t.epoch_batches(0)[0] for t in tasks])
    batch = {"x": tasks[0].x[idx], "y": np.stack([t.y[i] for t, i in zip(tasks, idx)]),
             "logit_index": np.arange(4, dtype=np.int32)}
    new, _ = vstep(sharding.shard_stacked(state, mesh), sharding.shard_stacked(m, mesh), batch, np.ones(4, bool))
    leaf = new.params["Dense_0"]["kernel"]
    assert leaf.sharding.spec[0] == "ticket"
    assert len(leaf.addressable_shards) == 4 and leaf.addressable_shards[0].data.shape[0] == 1
    del losses


def test_strategy_auto():
    assert search.resolve_strategy("auto", {"k": np.zeros((3, 3, 1, 4))}, backend="cpu") == "looped"
    assert search.resolve_strategy("auto", {"k": np.zeros((3, 4))}, backend="cpu") == "stacked"
    assert search.resolve_strategy("auto", {"k": np.zeros((3, 3, 1, 4))}, backend="gpu") == "stacked"
    with pytest.raises(ValueError, match="unknown search strategy"):
        search.resolve_strategy("vmap", {}, backend="cpu")


# --------------------------------------------------------------------------- Algorithm 2
def _ticket_masks(v0, pr, K=4, density=0.5, seed=0):
    rng = np.random.default_rng(seed)
    ms = []
    for _ in range(K):
        m = masks.init_mask(v0["params"])
        m = jax.tree.map(lambda x, p: jnp.asarray(rng.random(x.shape) < density) if p else x, m, pr)
        ms.append(m)
    return masks.stack(ms)


def test_joint_schedule_equal_updates_per_ticket():
    a = np.arange(6).reshape(3, 2)
    b = np.arange(10, 20).reshape(5, 2)
    sched = joint_lib.cyclic_indices([a, b])
    assert sched.shape == (5, 2, 2)
    np.testing.assert_array_equal(sched[:, 0, 0], [0, 2, 4, 0, 2])  # ticket 0 cycles its 3 batches
    np.testing.assert_array_equal(sched[:, 1, 0], [10, 12, 14, 16, 18])


def test_joint_per_ticket_state_no_interference(setup):
    """Each step of ticket j changes only weights in m_j; Adam momentum of other tickets cannot move them."""
    spec, v0, pr, tasks, _ = setup
    stacked = _ticket_masks(v0, pr)
    cfg = joint_lib.JointConfig(epochs=1, learning_rate=1e-2, opt_state="per_ticket")
    tx = joint_lib.make_tx(cfg)
    js = joint_lib.init_joint_state(v0, stacked, cfg, tx)
    step = joint_lib.make_sequential_step(spec, __import__("rtl_jax.losses").losses.one_vs_rest_bce, tx, cfg)
    sched = joint_lib.joint_schedule(tasks, 0)
    union = masks.union(stacked)
    start = js.params
    for b in range(3):
        for k in range(4):
            before = js.params
            idx = sched[b, k]
            js, _ = step(js, np.int32(k), stacked, {"x": tasks[k].x[idx], "y": tasks[k].y[idx],
                                                    "logit_index": np.int32(k)})
            mk = masks.select(stacked, k)
            for pb, pa, m in zip(jax.tree.leaves(before), jax.tree.leaves(js.params), jax.tree.leaves(mk)):
                np.testing.assert_array_equal(np.asarray(pa)[~np.asarray(m)], np.asarray(pb)[~np.asarray(m)])
    for p0, p1, u in zip(jax.tree.leaves(start), jax.tree.leaves(js.params), jax.tree.leaves(union)):
        np.testing.assert_array_equal(np.asarray(p1)[~np.asarray(u)], 0.0)  # outside the union: zero, unchanged
        np.testing.assert_array_equal(np.asarray(p1)[~np.asarray(u)], np.asarray(p0)[~np.asarray(u)])
    # the start is θ0 ⊙ union
    for p0, t0, u in zip(jax.tree.leaves(start), jax.tree.leaves(v0["params"]), jax.tree.leaves(union)):
        np.testing.assert_array_equal(p0, np.where(u, t0, 0.0))


def test_joint_naive_shared_state_does_interfere(setup):
    """The literal port (shared Adam, only gradients masked) moves weights the active ticket does not own."""
    spec, v0, pr, tasks, _ = setup
    stacked = _ticket_masks(v0, pr)
    cfg = joint_lib.JointConfig(epochs=1, learning_rate=1e-2, opt_state="naive")
    tx = joint_lib.make_tx(cfg)
    js = joint_lib.init_joint_state(v0, stacked, cfg, tx)
    from rtl_jax.losses import one_vs_rest_bce
    step = joint_lib.make_sequential_step(spec, one_vs_rest_bce, tx, cfg)
    sched = joint_lib.joint_schedule(tasks, 0)
    moved = 0
    for b in range(2):
        for k in range(4):
            before = js.params
            idx = sched[b, k]
            js, _ = step(js, np.int32(k), stacked, {"x": tasks[k].x[idx], "y": tasks[k].y[idx],
                                                    "logit_index": np.int32(k)})
            mk = masks.select(stacked, k)
            moved += sum(int(np.sum(np.asarray(pa)[~np.asarray(m)] != np.asarray(pb)[~np.asarray(m)]))
                         for pb, pa, m in zip(jax.tree.leaves(before), jax.tree.leaves(js.params),
                                              jax.tree.leaves(mk)))
    assert moved > 0


@pytest.mark.parametrize("opt_state,mode", [("per_ticket", "sequential"), ("shared", "sequential"),
                                            ("shared", "summed")])
def test_run_joint_modes_improve_and_resume(setup, tmp_path, opt_state, mode):
    spec, v0, pr, tasks, xte = setup
    stacked = _ticket_masks(v0, pr, density=0.6)
    cfg = joint_lib.JointConfig(epochs=2, learning_rate=3e-3, opt_state=opt_state, mode=mode)
    r = joint_lib.run_joint(spec, v0, stacked, tasks, cfg=cfg, run_dir=tmp_path / "j", x_score=xte)
    assert np.mean([m["ba"] for m in r.metrics]) > 0.7
    assert r.scores.shape == (4, len(xte))
    again = joint_lib.run_joint(spec, v0, stacked, tasks, cfg=cfg, run_dir=tmp_path / "j", x_score=xte)
    assert again.skipped and _eq(again.params, r.params) and again.metrics == r.metrics
    union = masks.union(stacked)
    for p, u in zip(jax.tree.leaves(r.params), jax.tree.leaves(union)):
        assert np.all(np.asarray(p)[~np.asarray(u)] == 0.0)


def test_joint_config_errors():
    with pytest.raises(ValueError, match="summed"):
        joint_lib.check_config(joint_lib.JointConfig(mode="summed", opt_state="per_ticket"))
    with pytest.raises(ValueError, match="unknown joint opt_state"):
        joint_lib.check_config(joint_lib.JointConfig(opt_state="adam"))
