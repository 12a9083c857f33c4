"""Collapse study: Algorithm 1 to very high sparsity, the label-free collapse detector and its stopping rule.

    python -m experiments.collapse_study                # LeNet-300-100 (head prunable), Fashion-MNIST, 10 class tickets
    python -m experiments.collapse_study --seeds 3
    python -m experiments.collapse_study --quick        # small and fast (CI)
    python -m experiments.collapse_study --set model.name=small_cnn --set data.train_per_class=1000

Runs Algorithm 1 only (per-class IMP with rewinding to θ0; no joint retraining, no single-IMP baseline),
removing 20% of the remaining prunable weights per level down to 99.9% sparsity (the 99% level is hit
exactly: a milestone). The classifier head is
prunable here (unlike the paper's vision setup) so that LeNet-300-100 has three prunable layers, one
per depth group (shallow / middle / deep). Each level's per-ticket test balanced accuracy is that
ticket's independently trained model at that level (one-vs-rest on the whole test set).

Then, per seed:

* **offline**: ``experiments.analyze`` on the full run (Jaccard matrices, per-ticket similarity curves,
  the collapse detector per ticket, the accuracy-drop levels, the warning report, WordNet alignment and
  the figures) into ``<run_dir>/analysis/``;
* **online** (``stop.online``): Algorithm 1 again from the same θ0 with the stopping rule
  (:func:`rtl_jax.collapse.make_stop_rule`) into ``seed_<s>/search_online/``; where it stops is compared
  with the offline detection on the full run. The two searches are the same computation up to the stop,
  so they must agree.

The stopping rule is an extension: the paper reads collapse off curves and gives no rule (rtl-paper §6).
"""
from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path
from typing import Literal

import jax

from experiments import analyze, cli, common
from experiments.rtl import SubsetConfig, make_partitions
from rtl_jax import checkpoint as ckpt_lib
from rtl_jax import collapse as collapse_lib
from rtl_jax import config as config_lib
from rtl_jax import masks as masks_lib
from rtl_jax import report
from rtl_jax import similarity as sim_lib
from rtl_jax.imp import PruneConfig, TrainConfig
from rtl_jax.progress import log
from rtl_jax.search import SearchConfig, run_search
from rtl_jax.tasks import one_vs_rest_task

SEARCH_DIR = "search"
ONLINE_DIR = "search_online"


@dataclasses.dataclass(frozen=True)
class StopConfig:
    """The online stopping rule (an extension): which similarity it watches and how tickets combine.

    ``online``: also run Algorithm 1 with the rule and compare where it stops with the offline detection.
    ``use``: "raw" (mean Jaccard, the paper's score) or "chance_corrected"; ``reduce``: "any" (stop when any
    ticket's curve fires) or "mean" (the mean curve over tickets fires); ``group``: "" (similarity over all
    prunable weights) or a depth group ("shallow", "middle", "deep"; see ``experiments.analyze``).
    """

    online: bool = True
    use: Literal["raw", "chance_corrected"] = "chance_corrected"
    reduce: Literal["any", "mean"] = "any"
    group: str = ""


@dataclasses.dataclass(frozen=True)
class CollapseStudy:
    """Full config: LeNet-300-100 with a prunable head on all of Fashion-MNIST, 10 class tickets, 20% of the
    remaining weights per level to 99.9% sparsity (33 levels; 99% is a milestone, so the plan up to it is
    that of a 99% target), 2 epochs per level at batch 128 (balanced one-vs-rest batches, Adam 1e-3), sized
    so that one seed (offline + online search) fits in about ten minutes on 2 CPU cores. ``detector`` drives
    both the online rule and the offline analysis; ``acc_threshold`` is the accuracy drop (absolute BA, from
    the dense level) that counts as collapse."""

    data: common.DataConfig = common.DataConfig(name="fashion_mnist")
    model: common.ModelConfig = common.ModelConfig(name="lenet_300_100", prune_head=True)
    subsets: SubsetConfig = SubsetConfig()
    search: TrainConfig = TrainConfig(epochs=2, batch_size=128, optimizer="adam", learning_rate=1e-3)
    prune: PruneConfig = PruneConfig(mode="fraction", amount=0.2, target_sparsity=0.999, milestones=(0.99,))
    execution: SearchConfig = SearchConfig()
    detector: collapse_lib.CollapseConfig = collapse_lib.CollapseConfig(skip=1)
    stop: StopConfig = StopConfig()
    acc_threshold: float = 0.05


def full_config() -> CollapseStudy:
    return CollapseStudy()


def quick_config() -> CollapseStudy:
    return CollapseStudy(
        data=common.DataConfig(name="fashion_mnist", train_per_class=200, test_per_class=100),
        search=TrainConfig(epochs=1, batch_size=50, optimizer="adam", learning_rate=1e-3),
        prune=PruneConfig(mode="fraction", amount=0.5, target_sparsity=0.9, milestones=()),
    )


def _search(cfg: CollapseStudy, spec, v0, prunable, tasks, run_dir: Path, seed: int, stop_rule=None):
    t0 = time.perf_counter()
    levels = run_search(spec, v0, prunable, tasks, train_cfg=cfg.search, prune_cfg=cfg.prune,
                        search_cfg=cfg.execution, run_dir=run_dir, seed=seed, stop_rule=stop_rule, log=log)
    return levels, time.perf_counter() - t0


def online_comparison(offline_stop: int | None, n_plan: int, online_levels: list, online_dir: Path) -> dict:
    """Where the online rule stopped vs where it should stop by the offline detection on the full run.

    ``offline_stop`` is the offline detector's stop level on the full run's curves (first firing);
    ``n_plan`` the number of levels of the full run. ``run_search`` consults the rule after every level but
    the last, so a firing at the last level cannot stop the search: then no stop is expected. ``agree``:
    the online search stopped exactly where expected (or neither stopped).
    """
    stopped = ckpt_lib.read_json(online_dir / "STOPPED") if (online_dir / "STOPPED").exists() else None
    expected = offline_stop if offline_stop is not None and offline_stop < n_plan - 1 else None
    got = None if stopped is None else int(stopped["level"])
    return {
        "stopped_at_level": got,
        "stopped_at_sparsity": None if got is None else float(online_levels[got].sparsity),
        "kept_level": None if got is None else got - 1,
        "kept_sparsity": None if got is None else float(online_levels[got - 1].sparsity),
        "levels_run": len(online_levels),
        "offline_stop_level": offline_stop,
        "expected_online_stop": expected,
        "agree": got == expected,
    }


def stop_layers(group: str, spec, prunable) -> list[str] | None:
    """The prunable layers the stop rule watches: all (None) for ``group=""``, else that depth group's."""
    if not group:
        return None
    params = spec.init(jax.random.key(0))["params"]  # Linen creation (depth) order
    groups = analyze.depth_groups_for(sim_lib.ordered_prunable_paths(params, prunable))
    if group not in groups:
        raise ValueError(f"stop.group {group!r} is not a depth group of this model: {sorted(groups)}")
    return groups[group]


def run_seed(cfg: CollapseStudy, seed: int, run_dir: Path, data_dir, *, mantel_permutations: int) -> dict:
    arrays = common.load_arrays(cfg.data, data_dir, seed=seed)
    spec = common.build_model(cfg.model, arrays)
    seed_dir = run_dir / f"seed_{seed}"
    v0 = common.theta0(spec, seed, seed_dir)
    prunable = common.prunable_of(spec, v0["params"], verbose=True)
    train_p, test_p = make_partitions(cfg.subsets, arrays)
    K = train_p.num_subsets
    if K > spec.num_outputs:
        raise ValueError(f"{K} tickets but the head has {spec.num_outputs} logits (ticket k scores logit k)")
    tasks = [one_vs_rest_task(f"ticket {k}", arrays.x_train, train_p, arrays.x_test, test_p, k=k,
                              batch_size=cfg.search.batch_size, seed=seed * 1000 + k) for k in range(K)]
    levels, seconds = _search(cfg, spec, v0, prunable, tasks, seed_dir / SEARCH_DIR, seed)
    log(f"seed {seed}: offline search, {len(levels)} levels, {seconds:.1f}s")
    names = list(train_p.names)
    t0 = time.perf_counter()
    result = analyze.analyze_seed(
        run_dir, seed, run_dir / "analysis" / f"seed_{seed}",
        options=analyze.AnalysisOptions(detector=cfg.detector, use=cfg.stop.use, acc_threshold=cfg.acc_threshold,
                                        mantel_permutations=mantel_permutations),
        names=names, spec=spec, dataset_name=cfg.data.name,
    )
    analysis_seconds = time.perf_counter() - t0
    out = {"seed": seed, "names": names, "total_prunable": masks_lib.total_prunable(v0["params"], prunable),
           "levels": len(levels), "search_seconds": seconds, "analysis_seconds": analysis_seconds,
           "level_seconds": [lv.seconds for lv in levels], "analysis_dir": result["out_dir"]}
    if cfg.stop.online:
        layers = stop_layers(cfg.stop.group, spec, prunable)
        rule = collapse_lib.make_stop_rule(prunable, cfg.detector, use=cfg.stop.use, reduce=cfg.stop.reduce,
                                           layers=layers)
        online, online_seconds = _search(cfg, spec, v0, prunable, tasks, seed_dir / ONLINE_DIR, seed, stop_rule=rule)
        block = result["detection_by_group"][cfg.stop.group] if cfg.stop.group else result["detection"]
        offline_stop = block[cfg.stop.use]["stop_level_" + cfg.stop.reduce]
        comparison = online_comparison(offline_stop, len(levels), online, seed_dir / ONLINE_DIR)
        out["online"] = {**comparison, "seconds": online_seconds}
        log(f"seed {seed}: online search, {len(online)} levels, {online_seconds:.1f}s; {out['online']}")
    return out


def _fmt_level(level: int | None, sparsity: float | None) -> str:
    return "–" if level is None else f"{level} ({100 * sparsity:.1f}%)"


def summary_markdown(cfg: CollapseStudy, seeds_out: list[dict], run_dir: Path, total_seconds: float) -> str:
    """The study's ``results.md``: timing, the online-vs-offline stop per seed and links to the analyses."""
    lines = [
        f"# Collapse study: {cfg.model.name} (head prunable: {cfg.model.prune_head}) on {cfg.data.name}",
        "",
        f"Algorithm 1 only, {cfg.prune.amount:g} {'of the remaining' if cfg.prune.mode == 'fraction' else ''} weights"
        f" per level to {100 * cfg.prune.target_sparsity:g}% sparsity; {cfg.search.epochs} epoch(s) per level, "
        f"batch {cfg.search.batch_size}. Detector: {cfg.detector}. Online rule: use={cfg.stop.use}, "
        f"reduce={cfg.stop.reduce}, layers={cfg.stop.group or 'all prunable'}. "
        f"Accuracy drop threshold: {cfg.acc_threshold} (BA, from the dense level).",
        "",
        "| seed | levels | offline search (s) | online search (s) | analysis (s) | offline stop level | "
        "online stopped at | kept masks of | agree |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for s in seeds_out:
        on = s.get("online")
        if on is None:
            online_cells = ["–"] * 5
        else:
            online_cells = [f"{on['seconds']:.1f}", str(on["offline_stop_level"]),
                            _fmt_level(on["stopped_at_level"], on["stopped_at_sparsity"]),
                            _fmt_level(on["kept_level"], on["kept_sparsity"]), str(on["agree"])]
        cells = [str(s["seed"]), str(s["levels"]), f"{s['search_seconds']:.1f}", online_cells[0],
                 f"{s['analysis_seconds']:.1f}", *online_cells[1:]]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", f"Total wall time: {total_seconds:.1f}s. Run directory: `{run_dir}`.", ""]
    for s in seeds_out:
        lines.append(f"- seed {s['seed']}: analysis in `{s['analysis_dir']}` (analysis.md, analysis.json, PNGs)")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = cli.build_parser(__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=common.DEFAULT_DATA_DIR,
                        help="where datasets are prepared (env RTL_DATA_DIR); not part of the run hash")
    parser.add_argument("--mantel-permutations", type=int, default=999,
                        help="permutations of the Mantel test at the heat-map levels (default 999)")
    args = parser.parse_args(argv)
    cfg = cli.resolve_config(args, full=full_config, quick=quick_config)
    if args.print_config:
        print(cli.config_json(cfg, "collapse_study"))
        return 0
    run_dir = cli.init_run_directory(args.workdir, "collapse_study", cfg)
    log(f"run directory: {run_dir}")
    t0 = time.perf_counter()
    seeds_out = [run_seed(cfg, s, run_dir, args.data_dir, mantel_permutations=args.mantel_permutations)
                 for s in cli.seeds(args)]
    total = time.perf_counter() - t0
    summary = analyze.write_summary(run_dir / "analysis", [s["analysis_dir"] for s in seeds_out])
    md = summary_markdown(cfg, seeds_out, run_dir, total)
    results = {"config": config_lib.to_dict(cfg), "run_dir": str(run_dir), "seeds": seeds_out, "seconds": total,
               "summary": summary}
    report.write_results(run_dir, results, md)
    print(md)
    log(f"total {total:.1f}s; results: {run_dir / 'results.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
