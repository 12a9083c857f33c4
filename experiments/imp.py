"""Iterative magnitude pruning with rewinding on real data (the foundation's main job).

    python -m experiments.imp            # LeNet-300-100 on Fashion-MNIST, 20% per level to 90% sparsity
    python -m experiments.imp --quick    # small and fast (CI)
    python -m experiments.imp --set prune.scope=layerwise --set train.epochs=3 --seeds 3

Prints a table of level, density, test accuracy and time per level, and writes results.json /
results.md / results.csv into the run directory (named by a hash of the non-default config).
"""
from __future__ import annotations

import dataclasses
import sys
import time

from experiments import common
from rtl_jax import config as config_lib
from rtl_jax import report
from rtl_jax.imp import PruneConfig, RewindConfig, TrainConfig, run_imp
from rtl_jax.progress import log
from rtl_jax.tasks import classification_task


@dataclasses.dataclass(frozen=True)
class IMPExperiment:
    """Full config: LeNet-300-100 / Fashion-MNIST, open_lth's lottery schedule shortened to fit 5 minutes
    on 2 CPU cores (Adam 1.2e-3, batch 128, 4 epochs per level, 20% of the remaining weights per level)."""

    data: common.DataConfig = common.DataConfig()
    model: common.ModelConfig = common.ModelConfig()
    train: TrainConfig = TrainConfig(epochs=4, batch_size=128, optimizer="adam", learning_rate=1.2e-3)
    prune: PruneConfig = PruneConfig(mode="fraction", amount=0.2, target_sparsity=0.9, milestones=(0.5, 0.75))
    rewind: RewindConfig = RewindConfig()


def full_config() -> IMPExperiment:
    return IMPExperiment()


def quick_config() -> IMPExperiment:
    return IMPExperiment(
        data=common.DataConfig(train_per_class=300, test_per_class=100),
        train=TrainConfig(epochs=2, batch_size=100, optimizer="adam", learning_rate=1.2e-3),
        prune=PruneConfig(mode="fraction", amount=0.5, target_sparsity=0.75, milestones=(0.5,)),
    )


def run_seed(cfg: IMPExperiment, seed: int, run_dir, data_dir) -> list[dict]:
    arrays = common.load_arrays(cfg.data, data_dir, seed=seed)
    spec = common.build_model(cfg.model, arrays)
    seed_dir = run_dir / f"seed_{seed}"
    v0 = common.theta0(spec, seed, seed_dir)
    prunable = common.prunable_of(spec, v0["params"], verbose=True)
    task = classification_task(
        f"IMP seed {seed}", arrays.x_train, arrays.y_train, arrays.x_test, arrays.y_test,
        num_classes=arrays.num_classes, batch_size=cfg.train.batch_size, seed=seed,
    )
    levels = run_imp(spec, v0, prunable, task, train_cfg=cfg.train, prune_cfg=cfg.prune, rewind_cfg=cfg.rewind,
                     run_dir=seed_dir / "imp", seed=seed, log=log)
    return [
        {"seed": seed, "level": r.level, "density": r.density, "sparsity": r.sparsity, "kept": r.kept,
         "top1": r.metrics["top1"], "ba": r.metrics["ba"], "seconds": r.seconds, "skipped": r.skipped}
        for r in levels
    ]


def main(argv=None) -> int:
    args, cfg, run_dir = common.parse_args_and_config(argv, __doc__.splitlines()[0], "imp",
                                                      full=full_config, quick=quick_config)
    if run_dir is None:
        return 0
    log(f"run directory: {run_dir}")
    t0 = time.perf_counter()
    rows = []
    for seed in range(args.seed, args.seed + args.seeds):
        rows += run_seed(cfg, seed, run_dir, args.data_dir)
    agg = report.aggregate(rows, by=["level"], values=["density", "sparsity", "kept", "top1", "ba", "seconds"])
    table = [
        {"level": a["level"], "density": f"{a['density_mean']:.4f}", "sparsity": f"{a['sparsity_mean']:.4f}",
         "kept": int(a["kept_mean"]),
         "test top-1": report.fmt_mean_std([r["top1"] for r in rows if r["level"] == a["level"]]),
         "time/level (s)": f"{a['seconds_mean']:.1f}"}
        for a in agg
    ]
    cols = ["level", "density", "sparsity", "kept", "test top-1", "time/level (s)"]
    md = (f"# IMP with rewinding: {cfg.model.name} on {cfg.data.name}\n\n"
          f"Seeds: {args.seed}..{args.seed + args.seeds - 1} (mean ± std over seeds). "
          f"Times of skipped (already finished) levels are those of their original run.\n\n"
          + report.markdown_table(table, cols) + "\n")
    paths = report.write_results(run_dir, {"config": config_lib.to_dict(cfg), "rows": rows, "summary": agg},
                                 md, report.csv_table(rows, list(rows[0])))
    print(md)
    log(f"total {time.perf_counter() - t0:.1f}s; results: {paths['md']} {paths['json']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
