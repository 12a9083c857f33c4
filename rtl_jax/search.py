"""Algorithm 1 — adaptive ticket extraction (rtl-paper §3.2).

For each subset k, IMP on that subset only, from the shared θ0, with its own mask m_k: train (for
classification a one-vs-rest detector on balanced batches), prune the lowest-magnitude kept weights,
rewind to θ0, repeat. Levels are level-major (all K tickets finish level l before any starts l+1), so
every level's stacked masks exist together — what similarity diagnostics and stopping rules need.

The K trainings of a level are independent (each restarts from θ0), so they can run

* ``looped``: a Python loop of one jitted per-ticket step (fast for conv nets on XLA:CPU), or
* ``stacked``: one ``jit(vmap(step))`` over a leading ticket axis, sharded over the ``ticket`` axis of a
  device mesh (GPUs/TPUs, many devices, multi-host with ``jax.distributed``).

Both give the same masks and metrics (tested). ``auto`` picks stacked on accelerators and for
conv-free models on CPU, looped for conv models on CPU (measured in ``benchmarks/``).

Because each ticket's level-l model is exactly an IMP model trained on subset k alone, the per-level
per-ticket evaluations are also the paper's "IMP multiple" baseline (K independent models): one search
yields both.

On disk: ``<run_dir>/level_<l>/{masks/, trained/, metrics.json, scores.npy, DONE}`` plus in-progress
``ticket_<k>/`` (looped) or ``train_ckpt/`` (stacked); finished levels are skipped, unfinished ones
resume from their latest checkpoint.
"""
from __future__ import annotations

import dataclasses
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np

from rtl_jax import checkpoint as ckpt_lib
from rtl_jax import losses as losses_lib
from rtl_jax import masks as masks_lib
from rtl_jax import optim, pruning, sharding, stages
from rtl_jax import train as train_lib
from rtl_jax.imp import PruneConfig, Task, TrainConfig, remove_dir, train_steps
from rtl_jax.models import ModelSpec
from rtl_jax.progress import progress

PyTree = Any
Strategy = Literal["auto", "looped", "stacked"]


@dataclasses.dataclass(frozen=True)
class SearchConfig:
    """Execution of Algorithm 1. ``shard``: split stacked tickets over all devices (``ticket`` mesh axis)."""

    strategy: Strategy = "auto"
    shard: bool = True


@dataclasses.dataclass
class SearchLevel:
    """One level of Algorithm 1: every ticket's mask, and every ticket's independently trained model's
    evaluation (``metrics[k]``) and scores on the scoring inputs (``scores[k]``, for label-free routing)."""

    level: int
    kept: int
    density: float
    sparsity: float
    masks: PyTree = dataclasses.field(repr=False)
    metrics: list[dict[str, float]]
    scores: np.ndarray | None = dataclasses.field(repr=False)
    seconds: float
    skipped: bool


def has_conv(params: PyTree) -> bool:
    return any(np.ndim(p) >= 4 for p in jax.tree.leaves(params))


def resolve_strategy(strategy: Strategy, params: PyTree, backend: str | None = None) -> str:
    """``auto``: stacked on GPU/TPU; on CPU stacked only for conv-free models (vmapped convs become grouped
    convolutions, several times slower on XLA:CPU — platform-notes §5, benchmarks/README)."""
    if strategy in ("looped", "stacked"):
        return strategy
    if strategy != "auto":
        raise ValueError(f"unknown search strategy {strategy!r}; use auto, looped or stacked")
    backend = backend or jax.default_backend()
    if backend != "cpu":
        return "stacked"
    return "looped" if has_conv(params) else "stacked"


def _stack_trees(trees: Sequence[PyTree]) -> PyTree:
    return jax.tree.map(lambda *xs: jnp.stack(xs), *trees)


def _index_tree(tree: PyTree, k: int) -> PyTree:
    return jax.tree.map(lambda x: x[k], tree)


def _memo_predict(predict, params, bs, mask):
    cache: dict[int, np.ndarray] = {}

    def predict_x(x):
        key = id(x)
        if key not in cache:
            cache[key] = train_lib.predict_in_batches(predict, params, bs, mask, x)
        return cache[key]

    return predict_x


def _evaluate(task: Task, predict, params, bs, mask, x_score):
    px = _memo_predict(predict, params, bs, mask)
    m = {k: float(v) for k, v in task.evaluate(px).items()}
    s = None
    if x_score is not None:
        out = px(x_score)
        s = np.asarray(out[:, task.logit_index] if task.logit_index is not None else out, np.float32)
    return m, s


def prune_stacked(trained_params: PyTree, stacked_masks: PyTree, prunable: PyTree, *, keep: int,
                  prev_keep: int, prune_cfg: PruneConfig, seed: int, level: int) -> PyTree:
    """Prune every ticket of a stacked mask from its own trained weights to ``keep`` weights."""
    score_fn = pruning.get_score_fn(prune_cfg.score)
    out = []
    for k in range(masks_lib.num_tickets(stacked_masks)):
        p_k, m_k = _index_tree(trained_params, k), _index_tree(stacked_masks, k)
        key = jax.random.fold_in(jax.random.fold_in(jax.random.key(seed), level), k)
        scores = score_fn(p_k, key=key)
        if prune_cfg.scope == "global":
            out.append(pruning.prune_to_counts(scores, m_k, prunable, keep))
        else:
            kept_l = {p: int(v) for p, v in masks_lib.kept_count_per_layer(m_k, prunable).items()}
            out.append(pruning.prune_to_counts(
                scores, m_k, prunable, pruning.keep_counts_layerwise(kept_l, remove_total=prev_keep - keep)))
    return masks_lib.stack(out)


# --------------------------------------------------------------------------- stacked training
def make_stacked_step(spec: ModelSpec, loss_name: str, tx, mesh=None):
    """``jit(vmap(step))`` over the ticket axis, with per-ticket ``active`` flags (inactive tickets keep
    their state: tickets with fewer steps per level finish early). Sharded over ``mesh`` when given."""
    step = train_lib.make_train_step(spec, losses_lib.get_loss(loss_name), tx, jit=False)

    def one(state, mask, batch, active):
        new, aux = step(state, mask, batch)
        new = jax.tree.map(lambda a, b: jnp.where(active, a, b), new, state)
        return new, aux

    vstep = jax.vmap(one)
    if mesh is None:
        return jax.jit(vstep)
    ts = sharding.ticket_sharding(mesh)
    return jax.jit(vstep, in_shardings=(ts, ts, ts, ts), out_shardings=(ts, ts))


def train_stacked(state, stacked_masks, tasks: Sequence[Task], vstep, *, epochs: int, ckpt_dir: Path | None,
                  desc: str, mesh=None):
    """Train K stacked tickets; ticket k runs ``epochs × len(epoch_batches_k)`` steps. Resumable."""
    K = len(tasks)
    nb = [int(t.epoch_batches(0).shape[0]) for t in tasks]
    total = [epochs * n for n in nb]
    t_max = max(total)
    ckpt = ckpt_lib.TrainCheckpointer(ckpt_dir) if ckpt_dir is not None else None
    loss_sum = np.zeros(K, np.float64)
    if ckpt is not None and ckpt.latest_step() is not None:
        step0 = ckpt.latest_step()
        r = ckpt.restore(step0, {"state": state, "loss_sum": loss_sum})
        state, loss_sum = r["state"], np.asarray(r["loss_sum"])
        if mesh is not None:
            state = sharding.shard_stacked(state, mesh)
    else:
        step0 = 0
    every = max(nb)
    caches: list[tuple[int, np.ndarray | None]] = [(-1, None)] * K
    pending = []
    logit_idx = np.array([t.logit_index if t.logit_index is not None else 0 for t in tasks], np.int32)
    x = tasks[0].x
    for t in tasks:
        if t.x is not x:
            raise ValueError("stacked search needs all ticket tasks to share one input array")
    for s in progress(range(step0, t_max), total=t_max - step0, desc=desc, unit="step"):
        idx = []
        for k, task in enumerate(tasks):
            ss = min(s, total[k] - 1)
            e, b = divmod(ss, nb[k])
            if caches[k][0] != e:
                caches[k] = (e, task.epoch_batches(e))
            idx.append(caches[k][1][b])
        idx = np.stack(idx)
        batch = {"x": x[idx], "y": np.stack([tasks[k].y[idx[k]] for k in range(K)]), "logit_index": logit_idx}
        active = np.array([s < total[k] for k in range(K)])
        state, aux = vstep(state, stacked_masks, batch, active)
        pending.append((aux["loss"], active))
        if (s + 1) % every == 0 or s + 1 == t_max:
            losses = np.stack([np.asarray(a) for a, _ in pending])
            acts = np.stack([a for _, a in pending])
            train_lib.check_finite(losses[acts], f"{desc}, step {s}")
            loss_sum += np.where(acts, losses, 0.0).sum(0)
            pending = []
            if ckpt is not None:
                ckpt.save(s + 1, {"state": state, "loss_sum": loss_sum})
    if ckpt is not None:
        ckpt.close()
    return state, loss_sum / np.array(total)


# --------------------------------------------------------------------------- Algorithm 1
def run_search(
    spec: ModelSpec,
    variables0: dict[str, PyTree],
    prunable: PyTree,
    tasks: Sequence[Task],
    *,
    train_cfg: TrainConfig,
    prune_cfg: PruneConfig,
    search_cfg: SearchConfig = SearchConfig(),
    run_dir: Path,
    seed: int,
    x_score: np.ndarray | None = None,
    stop_rule: Callable[[list[SearchLevel]], bool] | None = None,
    log: Callable[[str], None] | None = None,
) -> list[SearchLevel]:
    """Algorithm 1 for ``len(tasks)`` tickets from θ0 = ``variables0``; returns every level.

    ``x_score``: inputs on which each ticket's score (its task's logit) is recorded per level, for
    label-free routing of the independent models. ``stop_rule(levels_so_far) -> bool`` may end the
    search early (e.g. a collapse detector); a stop is recorded in ``<run_dir>/STOPPED``.
    """
    run_dir = Path(run_dir)
    K = len(tasks)
    if K < 1:
        raise ValueError("run_search needs at least one ticket task")
    params0 = variables0["params"]
    bs0 = variables0.get("batch_stats", {}) or {}
    strategy = resolve_strategy(search_cfg.strategy, params0)
    total = masks_lib.total_prunable(params0, prunable)
    plan = pruning.level_plan(total, mode=prune_cfg.mode, amount=prune_cfg.amount,
                              target_sparsity=prune_cfg.target_sparsity, milestones=prune_cfg.milestones)
    tx = optim.make_optimizer(train_cfg.optimizer, train_cfg.learning_rate, weight_decay=train_cfg.weight_decay)
    predict = train_lib.make_predict(spec)
    like1 = {"params": params0, "batch_stats": bs0}
    likeK = jax.tree.map(lambda x: jnp.zeros((K,) + jnp.shape(x), jnp.result_type(x)), like1)
    mesh = None
    if strategy == "stacked" and search_cfg.shard and len(jax.devices()) > 1:
        mesh = sharding.make_ticket_mesh(K)
    loss_names = {t.loss for t in tasks}
    if strategy == "stacked" and len(loss_names) != 1:
        raise ValueError(f"stacked search needs one loss for all tickets, got {sorted(loss_names)}")
    vstep = make_stacked_step(spec, tasks[0].loss, tx, mesh) if strategy == "stacked" else None
    steps = {t.loss: train_lib.make_train_step(spec, losses_lib.get_loss(t.loss), tx) for t in tasks}
    if log:
        log(f"Algorithm 1: {K} tickets, {len(plan)} levels, strategy={strategy}"
            + (f" on a {mesh.shape['ticket']}-device ticket mesh" if mesh is not None else ""))

    if (run_dir / "STOPPED").exists():  # a finished run that a stop rule ended early stays ended
        plan = plan[: ckpt_lib.read_json(run_dir / "STOPPED")["level"] + 1]
    levels: list[SearchLevel] = []
    stacked = masks_lib.init_masks(params0, K)
    prev_trained = None
    for level, keep in enumerate(plan):
        d = run_dir / f"level_{level:03d}"
        if stages.is_done(d):
            info = ckpt_lib.read_json(d / "metrics.json")
            stacked = ckpt_lib.load_masks(d / "masks", params0, stacked=True)
            scores = np.load(d / "scores.npy") if (d / "scores.npy").exists() else None
            levels.append(SearchLevel(level, info["kept"], info["density"], info["sparsity"], stacked,
                                      info["metrics"], scores, info["seconds"], True))
            prev_trained = d / "trained"
            continue
        t0 = time.perf_counter()
        if level > 0:
            trained = ckpt_lib.restore_tree(prev_trained, likeK)["params"]
            stacked = prune_stacked(trained, stacked, prunable, keep=keep, prev_keep=plan[level - 1],
                                    prune_cfg=prune_cfg, seed=seed, level=level)
            del trained
        sparsity = 1 - keep / total
        desc = f"search L{level} ({100 * sparsity:.1f}% sparse)"
        if strategy == "looped":
            params_k, bs_k, metrics, scores = [], [], [], []
            for k, task in enumerate(tasks):
                kd = d / f"ticket_{k:03d}"
                m_k = _index_tree(stacked, k)
                if stages.is_done(kd):
                    r = ckpt_lib.restore_tree(kd / "final", like1)
                    info_k = ckpt_lib.read_json(kd / "metrics.json")
                    met, sc = info_k["metrics"], (np.load(kd / "scores.npy") if x_score is not None else None)
                else:
                    st = train_lib.init_state(masks_lib.apply(params0, m_k), bs0, tx)
                    st, _ = train_steps(st, m_k, task, steps[task.loss],
                                        total_steps=train_cfg.epochs * int(task.epoch_batches(0).shape[0]),
                                        steps_per_epoch=int(task.epoch_batches(0).shape[0]),
                                        ckpt_dir=kd / "train_ckpt", desc=f"{desc} ticket {k}")
                    r = {"params": st.params, "batch_stats": st.batch_stats}
                    met, sc = _evaluate(task, predict, st.params, st.batch_stats, m_k, x_score)
                    ckpt_lib.save_tree(kd / "final", r, overwrite=True)
                    if sc is not None:
                        np.save(kd / "scores.npy", sc)
                    ckpt_lib.write_json_atomic(kd / "metrics.json", {"metrics": met})
                    stages.mark_done(kd, {"ticket": k})
                    remove_dir(kd / "train_ckpt")
                params_k.append(r["params"])
                bs_k.append(r["batch_stats"])
                metrics.append(met)
                scores.append(sc)
            trained_tree = {"params": _stack_trees(params_k), "batch_stats": _stack_trees(bs_k) if bs0 else {}}
            scores_arr = np.stack(scores) if x_score is not None else None
        else:
            st0 = train_lib.init_state(masks_lib.apply(params0, masks_lib.init_mask(params0)), bs0, tx)
            state = _stack_trees([st0.replace(params=masks_lib.apply(params0, _index_tree(stacked, k)))
                                  for k in range(K)])
            masks_in = stacked
            if mesh is not None:
                state = sharding.shard_stacked(state, mesh)
                masks_in = sharding.shard_stacked(stacked, mesh)
            state, _ = train_stacked(state, masks_in, tasks, vstep, epochs=train_cfg.epochs,
                                     ckpt_dir=d / "train_ckpt", desc=desc, mesh=mesh)
            state = jax.device_get(state)
            metrics, scores = [], []
            for k, task in enumerate(tasks):
                met, sc = _evaluate(task, predict, _index_tree(state.params, k),
                                    _index_tree(state.batch_stats, k) if bs0 else {},
                                    _index_tree(stacked, k), x_score)
                metrics.append(met)
                scores.append(sc)
            trained_tree = {"params": state.params, "batch_stats": state.batch_stats if bs0 else {}}
            scores_arr = np.stack(scores) if x_score is not None else None
        kept = [int(v) for v in masks_lib.kept_count_per_ticket(stacked, prunable)]
        if any(v != keep for v in kept):
            raise AssertionError(f"level {level}: tickets keep {kept}, plan says {keep}")
        seconds = time.perf_counter() - t0
        ckpt_lib.save_tree(d / "trained", trained_tree, overwrite=True)
        ckpt_lib.save_masks(d / "masks", stacked, stacked=True, overwrite=True)
        if scores_arr is not None:
            np.save(d / "scores.npy", scores_arr)
        info = {"level": level, "kept": keep, "density": keep / total, "sparsity": sparsity,
                "metrics": metrics, "seconds": seconds, "strategy": strategy}
        ckpt_lib.write_json_atomic(d / "metrics.json", info)
        stages.mark_done(d, {"level": level, "kept": keep})
        for k in range(K):
            if (d / f"ticket_{k:03d}").exists():
                shutil.rmtree(d / f"ticket_{k:03d}")
        remove_dir(d / "train_ckpt")
        if prev_trained is not None and prev_trained.exists():
            shutil.rmtree(prev_trained)  # only the latest level's trained weights are needed to go on
        prev_trained = d / "trained"
        levels.append(SearchLevel(level, keep, keep / total, sparsity, stacked, metrics, scores_arr, seconds, False))
        if log:
            mean = {m: np.mean([x[m] for x in metrics]) for m in metrics[0]}
            log(f"search level {level}: density {keep / total:.4f} "
                + " ".join(f"{m}={v:.4f}" for m, v in mean.items()) + f" ({seconds:.1f}s)")
        if stop_rule is not None and level < len(plan) - 1 and stop_rule(levels):
            ckpt_lib.write_json_atomic(run_dir / "STOPPED", {"level": level, "reason": "stop_rule"})
            if log:
                log(f"search stopped by the stop rule after level {level}")
            break
    return levels
