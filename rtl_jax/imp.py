"""Iterative magnitude pruning with rewinding (Frankle & Carbin; open_lth semantics).

Level 0 trains the dense network from θ0. Level l > 0 takes its mask from level l-1's *trained*
weights (prune the lowest-scoring kept weights down to the planned count), rewinds the weights to the
rewind point (θ0 — the paper — or θk, the weights after k steps of level 0: late rewinding), and
trains again with a fresh optimiser. Every level is a resumable stage on disk:

``<run_dir>/level_<l>/{train_ckpt/, final/, mask/, metrics.json, DONE}`` — a finished level is
skipped on a rerun, an unfinished one resumes from its latest epoch checkpoint, so a run killed at any
point finishes with exactly the masks and metrics of an uninterrupted one.
"""
from __future__ import annotations

import dataclasses
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np

from rtl_jax import checkpoint as ckpt_lib
from rtl_jax import losses as losses_lib
from rtl_jax import masks as masks_lib
from rtl_jax import optim, pruning, stages
from rtl_jax import train as train_lib
from rtl_jax.models import ModelSpec
from rtl_jax.progress import progress

PyTree = Any


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """How one level trains. The paper's vision schedule: Adam 1e-4, no weight decay, batch 320."""

    epochs: int = 10
    batch_size: int = 128
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    weight_decay: float = 0.0


@dataclasses.dataclass(frozen=True)
class PruneConfig:
    """How masks shrink between levels (rtl-paper §10.1-10.2 defaults: 4,096 per round, global)."""

    score: str = "magnitude"
    mode: Literal["count", "fraction"] = "count"
    amount: float = 4096
    scope: Literal["global", "layerwise"] = "global"
    target_sparsity: float = 0.75
    milestones: tuple[float, ...] = (0.25, 0.5, 0.75)


@dataclasses.dataclass(frozen=True)
class RewindConfig:
    """``to="init"`` rewinds to θ0 (the paper); ``to="step"`` to θk after ``step`` steps of level 0."""

    to: Literal["init", "step"] = "init"
    step: int = 0


@dataclasses.dataclass(frozen=True)
class Task:
    """The data and objective one IMP run trains on (in-memory arrays, deterministic batches).

    Attributes:
      name: used in progress bars.
      x: preprocessed training inputs ``[N, ...]`` (float32).
      y: per-example targets ``[N]`` (int labels for ``softmax_xent``; 0/1 for ``one_vs_rest_bce``).
      epoch_batches: ``epoch -> [num_batches, B]`` int indices; deterministic in the epoch (a seed is
        bound in), equal shape every epoch.
      loss: a name from :data:`rtl_jax.losses.LOSSES`.
      evaluate: ``evaluate(predict_x) -> {metric: float}`` where ``predict_x(x) -> outputs``.
      logit_index: for one-vs-rest tickets, the head logit that scores this ticket.
    """

    name: str
    x: np.ndarray
    y: np.ndarray
    epoch_batches: Callable[[int], np.ndarray]
    loss: str
    evaluate: Callable[[Callable[[np.ndarray], np.ndarray]], dict[str, float]]
    logit_index: int | None = None

    def batch(self, idx: np.ndarray) -> dict[str, Any]:
        b = {"x": self.x[idx], "y": self.y[idx]}
        if self.logit_index is not None:
            b["logit_index"] = np.int32(self.logit_index)
        return b


@dataclasses.dataclass
class LevelResult:
    level: int
    kept: int
    density: float
    sparsity: float
    metrics: dict[str, float]
    seconds: float
    skipped: bool
    mask: PyTree = dataclasses.field(repr=False)
    params: PyTree = dataclasses.field(repr=False)
    batch_stats: PyTree = dataclasses.field(repr=False)


def remove_dir(path: Path) -> None:
    """Delete a finished stage's scratch directory (e.g. its training checkpoints) if it exists."""
    if Path(path).exists():
        shutil.rmtree(path)


def level_dir(run_dir: Path, level: int) -> Path:
    return Path(run_dir) / f"level_{level:03d}"


def train_steps(
    state: train_lib.TrainState,
    mask: PyTree,
    task: Task,
    step_fn,
    *,
    total_steps: int,
    steps_per_epoch: int,
    ckpt_dir: Path | None,
    desc: str,
    on_step: Callable[[train_lib.TrainState], None] | None = None,
) -> tuple[train_lib.TrainState, list[float]]:
    """Run ``step_fn`` from ``state.step`` to ``total_steps``, checkpointing at epoch ends.

    Batch ``s`` is batch ``s % steps_per_epoch`` of epoch ``s // steps_per_epoch`` of
    ``task.epoch_batches``, so a resumed run sees exactly the data of an uninterrupted one. Returns the
    final state and the mean loss of each epoch. Raises ``FloatingPointError`` on a NaN/inf loss.
    """
    num_epochs = -(-total_steps // steps_per_epoch)
    epoch_loss = np.full((num_epochs,), np.nan, np.float64)
    ckpt = ckpt_lib.TrainCheckpointer(ckpt_dir) if ckpt_dir is not None else None
    if ckpt is not None and ckpt.latest_step() is not None:
        restored = ckpt.restore(ckpt.latest_step(), {"state": state, "epoch_loss": epoch_loss})
        state, epoch_loss = restored["state"], np.asarray(restored["epoch_loss"])
    start = int(state.step)
    pending: list[jax.Array] = []
    cached_epoch, batches = -1, None
    bar = progress(range(start, total_steps), total=total_steps - start, desc=desc, unit="step")
    for s in bar:
        e, b = divmod(s, steps_per_epoch)
        if e != cached_epoch:
            batches = task.epoch_batches(e)
            if batches.shape[0] != steps_per_epoch:
                raise ValueError(f"{task.name}: epoch {e} has {batches.shape[0]} batches, expected {steps_per_epoch}")
            cached_epoch = e
        state, aux = step_fn(state, mask, task.batch(batches[b]))
        pending.append(aux["loss"])
        if on_step is not None:
            on_step(state)
        if (s + 1) % steps_per_epoch == 0 or s + 1 == total_steps:
            losses = np.asarray(jnp.stack(pending))
            train_lib.check_finite(losses, f"{desc}, epoch {e}")
            epoch_loss[e] = float(losses.mean()) if np.isnan(epoch_loss[e]) else epoch_loss[e]
            pending = []
            if ckpt is not None:
                ckpt.save(s + 1, {"state": state, "epoch_loss": epoch_loss})
    if ckpt is not None:
        ckpt.close()
    return state, [float(v) for v in epoch_loss]


def _save_level(d: Path, res: dict) -> None:
    ckpt_lib.save_tree(d / "final", {"params": res["params"], "batch_stats": res["batch_stats"]}, overwrite=True)
    ckpt_lib.save_masks(d / "mask", res["mask"], stacked=False, overwrite=True)
    ckpt_lib.write_json_atomic(d / "metrics.json", res["info"])


def _load_level(d: Path, like: dict) -> dict:
    final = ckpt_lib.restore_tree(d / "final", {"params": like["params"], "batch_stats": like["batch_stats"]})
    mask = ckpt_lib.load_masks(d / "mask", like["params"], stacked=False)
    return {**final, "mask": mask, "info": ckpt_lib.read_json(d / "metrics.json")}


def run_imp(
    spec: ModelSpec,
    variables0: dict[str, PyTree],
    prunable: PyTree,
    task: Task,
    *,
    train_cfg: TrainConfig,
    prune_cfg: PruneConfig,
    rewind_cfg: RewindConfig = RewindConfig(),
    run_dir: Path,
    seed: int,
    initial_mask: PyTree | None = None,
    log: Callable[[str], None] | None = None,
    on_level_start: Callable[[int, train_lib.TrainState, PyTree], None] | None = None,
) -> list[LevelResult]:
    """Run IMP with rewinding, one resumable stage per level; return every level's result.

    ``variables0`` is θ0 (``{'params', ['batch_stats']}``), shared by every method of an experiment.
    ``on_level_start(level, state, mask)`` is called with each level's rewound starting state (for
    inspection and logging; not called for levels that are skipped because they are finished).
    """
    run_dir = Path(run_dir)
    params0 = variables0["params"]
    bs0 = variables0.get("batch_stats", {})
    mask = masks_lib.init_mask(params0) if initial_mask is None else initial_mask
    masks_lib.validate(params0, mask)
    total = masks_lib.total_prunable(params0, prunable)
    plan = pruning.level_plan(
        total, mode=prune_cfg.mode, amount=prune_cfg.amount,
        target_sparsity=prune_cfg.target_sparsity, milestones=prune_cfg.milestones,
    )
    if initial_mask is not None:
        start_kept = int(masks_lib.kept_count(mask, prunable))
        plan = [start_kept] + [k for k in plan if k < start_kept]
    score_fn = pruning.get_score_fn(prune_cfg.score)
    tx = optim.make_optimizer(train_cfg.optimizer, train_cfg.learning_rate, weight_decay=train_cfg.weight_decay)
    step_fn = train_lib.make_train_step(spec, losses_lib.get_loss(task.loss), tx)
    predict = train_lib.make_predict(spec)
    steps_per_epoch = int(task.epoch_batches(0).shape[0])
    total_steps = train_cfg.epochs * steps_per_epoch
    if rewind_cfg.to == "step" and not 0 <= rewind_cfg.step < total_steps:
        raise ValueError(f"rewind step {rewind_cfg.step} outside [0, {total_steps}) training steps")
    if rewind_cfg.to not in ("init", "step"):
        raise ValueError(f"unknown rewind target {rewind_cfg.to!r}; use 'init' or 'step'")
    like = {"params": params0, "batch_stats": bs0}
    rewind_path = run_dir / "rewind_point"
    results: list[LevelResult] = []
    prev = None
    for level, keep in enumerate(plan):
        d = level_dir(run_dir, level)
        if stages.is_done(d):
            res = _load_level(d, like)
            info = res["info"]
            results.append(LevelResult(level, info["kept"], info["density"], info["sparsity"], info["metrics"],
                                       info["seconds"], True, res["mask"], res["params"], res["batch_stats"]))
            prev = res
            continue
        t0 = time.perf_counter()
        if level > 0:
            key = jax.random.fold_in(jax.random.key(seed), level)
            scores = score_fn(prev["params"], key=key)
            if prune_cfg.scope == "global":
                mask = pruning.prune_to_counts(scores, prev["mask"], prunable, keep)
            else:
                kept_layers = {p: int(v) for p, v in masks_lib.kept_count_per_layer(prev["mask"], prunable).items()}
                keep_l = pruning.keep_counts_layerwise(kept_layers, remove_total=plan[level - 1] - keep)
                mask = pruning.prune_to_counts(scores, prev["mask"], prunable, keep_l)
        # Rewind: θ0 (or θk) ⊙ mask, fresh optimiser.
        if level > 0 and rewind_cfg.to == "step":
            rp = ckpt_lib.restore_tree(rewind_path, like)
            start_params, start_bs, start_step = rp["params"], rp["batch_stats"], rewind_cfg.step
        else:
            start_params, start_bs, start_step = params0, bs0, 0
        state = train_lib.init_state(masks_lib.apply(start_params, mask), start_bs, tx)
        state = state.replace(step=jnp.asarray(start_step, jnp.int32))
        if on_level_start is not None:
            on_level_start(level, state, mask)

        on_step = None
        if level == 0 and rewind_cfg.to == "step" and not ckpt_lib.exists(rewind_path):
            if rewind_cfg.step == 0:
                ckpt_lib.save_tree(rewind_path, like)
            else:
                def on_step(st, _k=rewind_cfg.step):
                    if int(st.step) == _k:
                        ckpt_lib.save_tree(rewind_path, {"params": st.params, "batch_stats": st.batch_stats})

        state, epoch_loss = train_steps(
            state, mask, task, step_fn, total_steps=total_steps, steps_per_epoch=steps_per_epoch,
            ckpt_dir=d / "train_ckpt", desc=f"{task.name} L{level} ({100 * (1 - keep / total):.1f}% sparse)",
            on_step=on_step,
        )
        metrics = task.evaluate(
            lambda x, _s=state, _m=mask: train_lib.predict_in_batches(predict, _s.params, _s.batch_stats, _m, x)
        )
        metrics = {k: float(v) for k, v in metrics.items()}
        kept = int(masks_lib.kept_count(mask, prunable))
        if kept != keep:
            raise AssertionError(f"level {level}: mask keeps {kept} weights, plan says {keep}")
        info = {"level": level, "kept": kept, "density": kept / total, "sparsity": 1 - kept / total,
                "metrics": metrics, "epoch_loss": epoch_loss, "seconds": time.perf_counter() - t0}
        res = {"params": state.params, "batch_stats": state.batch_stats, "mask": mask, "info": info}
        _save_level(d, res)
        stages.mark_done(d, {"level": level, "kept": kept})
        remove_dir(d / "train_ckpt")
        results.append(LevelResult(level, kept, kept / total, 1 - kept / total, metrics, info["seconds"], False,
                                   mask, state.params, state.batch_stats))
        if log is not None:
            log(f"{task.name} level {level}: density {kept / total:.4f} "
                + " ".join(f"{k}={v:.4f}" for k, v in metrics.items()) + f" ({info['seconds']:.1f}s)")
        prev = res
    return results
