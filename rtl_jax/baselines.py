"""Baselines that every RTL experiment compares against, all from the same θ0.

* :func:`dense_training` — the dense reference (one IMP level at 0% sparsity).
* :func:`single_ticket_imp` — classic IMP: one mask for all data (rtl-paper §8 "IMP single").
* :func:`independent_imp` — IMP run separately on each subset: K separate pruned models, no weight
  sharing and no joint retraining (rtl-paper §8 "IMP multiple").
* :func:`random_pruning_control` — the same level plan with random scores instead of magnitudes.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rtl_jax.imp import LevelResult, PruneConfig, RewindConfig, Task, TrainConfig, run_imp
from rtl_jax.models import ModelSpec

PyTree = Any


def dense_training(spec: ModelSpec, variables0, prunable, task: Task, *, train_cfg: TrainConfig,
                   run_dir: Path, seed: int, log=None) -> LevelResult:
    """Train the dense network once (level 0 only)."""
    cfg = PruneConfig(target_sparsity=0.0, milestones=())
    return run_imp(spec, variables0, prunable, task, train_cfg=train_cfg, prune_cfg=cfg,
                   run_dir=run_dir, seed=seed, log=log)[0]


def single_ticket_imp(spec: ModelSpec, variables0, prunable, task: Task, *, train_cfg: TrainConfig,
                      prune_cfg: PruneConfig, rewind_cfg: RewindConfig = RewindConfig(), run_dir: Path,
                      seed: int, log=None) -> list[LevelResult]:
    """One mask for all data: IMP with rewinding on the full task."""
    return run_imp(spec, variables0, prunable, task, train_cfg=train_cfg, prune_cfg=prune_cfg,
                   rewind_cfg=rewind_cfg, run_dir=run_dir, seed=seed, log=log)


def independent_imp(spec: ModelSpec, variables0, prunable, tasks: Sequence[Task], *, train_cfg: TrainConfig,
                    prune_cfg: PruneConfig, rewind_cfg: RewindConfig = RewindConfig(), run_dir: Path,
                    seed: int, log=None,
                    on_ticket_done: Callable[[int, list[LevelResult]], None] | None = None,
                    ) -> list[list[LevelResult]]:
    """K independent IMP runs (one per subset task), each from θ0; results ``[k][level]``."""
    out = []
    for k, task in enumerate(tasks):
        res = run_imp(spec, variables0, prunable, task, train_cfg=train_cfg, prune_cfg=prune_cfg,
                      rewind_cfg=rewind_cfg, run_dir=Path(run_dir) / f"ticket_{k:03d}", seed=seed, log=log)
        out.append(res)
        if on_ticket_done is not None:
            on_ticket_done(k, res)
    return out


def random_pruning_control(spec: ModelSpec, variables0, prunable, task: Task, *, train_cfg: TrainConfig,
                           prune_cfg: PruneConfig, run_dir: Path, seed: int, log=None) -> list[LevelResult]:
    """The same level plan as IMP but pruning by random scores (lottery-ticket control)."""
    cfg = dataclasses.replace(prune_cfg, score="random")
    return run_imp(spec, variables0, prunable, task, train_cfg=train_cfg, prune_cfg=cfg,
                   run_dir=run_dir, seed=seed, log=log)
