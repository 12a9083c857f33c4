"""Collapse and mask-similarity analysis of a finished (or partial) Algorithm 1 run.

    python -m experiments.analyze RUN_DIR                       # every seed, into RUN_DIR/analysis/
    python -m experiments.analyze RUN_DIR --seed 0 --out DIR --acc-threshold 0.05
    python -m experiments.analyze RUN_DIR --use raw --detector z_threshold=3 --detector min_change=0.03

Works on any run whose seeds hold ``seed_<s>/search/level_<lll>/`` from :func:`rtl_jax.search.run_search`
(``experiments.rtl``, ``experiments.collapse_study``); only finished levels (``DONE``) count, so a run
still in progress can be analysed. The model and its prunable tree are rebuilt from ``config.json``
(``model`` and ``data`` sections); ticket names come from ``results.json`` when the run has finished, else
from the config's subsets (class names of the dataset for one ticket per label).

Per seed it writes into ``<out>/seed_<s>/``:

* ``analysis.json``: per level the sparsity, each ticket's accuracy, the global / per-depth-group /
  per-layer Jaccard matrices, their chance levels and chance-corrected values, each ticket's mean
  similarity (raw and chance-corrected); per similarity kind, the collapse detector per ticket, the
  accuracy-drop level and the warning report, and the level where the online stopping rule would stop;
  the WordNet alignment (Spearman ρ per depth group and level, Mantel p-values at the heat-map levels).
* ``analysis.md``: the same as tables, with the figures.
* PNGs: Fig. 2 panels (accuracy and similarity vs sparsity per ticket, raw and chance-corrected), an
  overlay, similarity per depth group, Fig. 3E heat maps (default levels: the last level before the first
  collapse, and the level closest to 50% sparsity), the WordNet matrix, Fig. 3A alignment curves and
  Fig. 3C/D per-class alignment curves.

and ``<out>/analysis.md`` / ``analysis.json`` summarising all analysed seeds.

Accuracy per ticket and level is the level's ``metrics.json`` entry (default ``ba``: each ticket's
independently trained level-l model as a one-vs-rest detector on the whole test set). Depth groups split
the prunable layers, in the order the model creates them, into three contiguous groups of nearly equal
layer counts (two groups "shallow"/"deep" for two prunable layers, one group "all" for one).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import re
import sys
import time
import types
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import jax
import numpy as np
from matplotlib.figure import Figure

from experiments import common
from rtl_jax import alignment as align_lib
from rtl_jax import checkpoint as ckpt_lib
from rtl_jax import collapse as collapse_lib
from rtl_jax import config as config_lib
from rtl_jax import plots, stages
from rtl_jax import similarity as sim_lib
from rtl_jax.data import datasets as ds_lib
from rtl_jax.models import ModelSpec

USES: tuple[str, ...] = collapse_lib.SIMILARITY_KINDS
USE_LABELS = {"raw": "mean Jaccard to other tickets", "chance_corrected": "chance-corrected mean Jaccard"}
#: dataset name (config ``data.name``) -> shipped WordNet table (rtl_jax/resources).
WORDNET_TABLES = {"fashion_mnist": "fashion_mnist", "cifar10": "cifar10", "cifar10_pickle": "cifar10"}
#: classes whose row alignment is plotted by default (Fig. 3C/D); the paper shows cat and deer for CIFAR-10.
DEFAULT_CLASSES = {"cifar10": ("cat", "deer"), "fashion_mnist": ("Shirt", "Sneaker")}
_LEVEL_DIR = re.compile(r"^level_(\d{3,})$")
_SEED_DIR = re.compile(r"^seed_(\d+)$")


@dataclasses.dataclass(frozen=True)
class AnalysisOptions:
    """How a run is analysed.

    Attributes:
      detector: collapse detector thresholds (:class:`rtl_jax.collapse.CollapseConfig`).
      use: the similarity ("raw" or "chance_corrected") whose detection marks the primary figures and picks
        the heat-map level; both are always computed and reported.
      metric: the per-ticket metric of ``metrics.json`` used as accuracy (e.g. "ba", "accuracy", "recall").
      acc_threshold: an accuracy drop of more than this (absolute) from the reference counts as collapse.
      acc_reference: "initial" (the dense level 0) or "best" (the running maximum).
      heatmap_levels: explicit Fig. 3E levels, or None for the defaults.
      wordnet: "auto" (the dataset's shipped table, if any), "none", or a table name.
      classes: classes for Fig. 3C/D, or None for the dataset's defaults.
      mantel_permutations: permutations of the Mantel test at the heat-map levels (0 = no test).
      figures: write the PNGs (False: numbers only, much faster).
    """

    detector: collapse_lib.CollapseConfig = collapse_lib.CollapseConfig(skip=1)
    use: Literal["raw", "chance_corrected"] = "chance_corrected"
    metric: str = "ba"
    acc_threshold: float = 0.05
    acc_reference: Literal["initial", "best"] = "initial"
    heatmap_levels: tuple[int, ...] | None = None
    wordnet: str = "auto"
    classes: tuple[str, ...] | None = None
    mantel_permutations: int = 999
    figures: bool = True

    def __post_init__(self):
        if self.use not in USES:
            raise ValueError(f"use must be one of {list(USES)}, got {self.use!r}")
        if not self.acc_threshold > 0:
            raise ValueError(f"acc_threshold must be > 0, got {self.acc_threshold}")
        if self.acc_reference not in ("initial", "best"):
            raise ValueError(f"acc_reference must be 'initial' or 'best', got {self.acc_reference!r}")
        if int(self.mantel_permutations) != self.mantel_permutations or self.mantel_permutations < 0:
            raise ValueError(f"mantel_permutations must be an int >= 0, got {self.mantel_permutations!r}")


# --------------------------------------------------------------------------- run layout
def read_config(run_dir: Path) -> dict:
    """The run's ``config.json`` record (experiment, config, hash); ``FileNotFoundError`` names the path."""
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: {run_dir} is not a run directory (experiments.cli layout)")
    record = ckpt_lib.read_json(path)
    if "config" not in record:
        raise ValueError(f"{path} has no 'config' entry")
    return record


def run_seeds(run_dir: Path) -> list[int]:
    """Seeds with a ``seed_<s>/search/`` directory, sorted."""
    found = []
    for p in Path(run_dir).iterdir():
        m = _SEED_DIR.match(p.name)
        if m and (p / "search").is_dir():
            found.append(int(m.group(1)))
    return sorted(found)


def finished_levels(search_dir: Path) -> list[Path]:
    """``level_000, level_001, ...`` directories marked DONE, contiguous from level 0 (stops at a gap)."""
    search_dir = Path(search_dir)
    if not search_dir.is_dir():
        raise FileNotFoundError(f"no search directory at {search_dir}")
    by_index = {}
    for p in search_dir.iterdir():
        m = _LEVEL_DIR.match(p.name)
        if m and p.is_dir():
            by_index[int(m.group(1))] = p
    out = []
    while len(out) in by_index and stages.is_done(by_index[len(out)]):
        out.append(by_index[len(out)])
    return out


def _config_section(record: dict, key: str) -> dict:
    cfg = record["config"]
    if key not in cfg or not isinstance(cfg[key], dict):
        raise ValueError(f"config.json of experiment {record.get('experiment')!r} has no {key!r} section; "
                         "cannot rebuild the model")
    return cfg[key]


def rebuild_model(record: dict, data_dir) -> tuple[ModelSpec, Any]:
    """``(spec, dataset)`` from the config's ``model`` and ``data`` sections (the dataset gives the output
    size, input shape and class names)."""
    model = _config_section(record, "model")
    data = _config_section(record, "data")
    ds = ds_lib.load_dataset(data["name"], data_dir=data_dir)
    facts = types.SimpleNamespace(num_classes=ds.num_classes, input_shape=tuple(ds.train.x.shape[1:]))
    spec = common.build_model(common.ModelConfig(name=model["name"], prune_head=bool(model["prune_head"])), facts)
    return spec, ds


def ticket_names(run_dir: Path, seed: int, record: dict, class_names: Sequence[str], k: int) -> list[str]:
    """Names of the K tickets: ``results.json`` → ``extra.seed_<s>.names`` when present, else from the
    config's ``subsets`` (class names for label tickets, the table's names or indices otherwise)."""
    res = Path(run_dir) / "results.json"
    if res.is_file():
        extra = ckpt_lib.read_json(res).get("extra", {}).get(f"seed_{seed}", {})
        if "names" in extra:
            names = [str(n) for n in extra["names"]]
            if len(names) != k:
                raise ValueError(f"{res}: seed {seed} has {len(names)} ticket names, the masks have {k} tickets")
            return names
    sub = record["config"].get("subsets", {"kind": "label", "names": []})
    if sub.get("names"):
        names = [str(n) for n in sub["names"]]
    elif sub.get("kind", "label") == "label":
        names = [str(n) for n in class_names]
    else:
        names = [str(i) for i in range(k)]
    if len(names) != k:
        raise ValueError(f"{len(names)} ticket names from the config for {k} tickets in the masks")
    return names


def depth_groups_for(paths_in_order: Sequence[str]) -> dict[str, list[str]]:
    """Three depth groups (shallow / middle / deep); two ("shallow", "deep") for 2 layers; one ("all") for 1."""
    n = len(paths_in_order)
    if n >= 3:
        return sim_lib.depth_groups(paths_in_order, 3)
    if n == 2:
        return sim_lib.depth_groups(paths_in_order, 2, names=("shallow", "deep"))
    if n == 1:
        return {"all": list(paths_in_order)}
    raise ValueError("the model has no prunable layer")


# --------------------------------------------------------------------------- per-level statistics
def _offdiag_rows(m: np.ndarray) -> np.ndarray:
    k = m.shape[0]
    return m[~np.eye(k, dtype=bool)].reshape(k, k - 1).mean(axis=1)


def level_statistics(stacked, prunable, groups: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """Similarity of one level's stacked masks: global and per group (Jaccard, chance, corrected, per-ticket
    means) from :func:`rtl_jax.similarity.similarity_report`, plus per-layer Jaccard matrices (``per_layer``;
    a layer that forms a depth group on its own is not repeated there: its matrix is the group's).

    Chance-corrected values of ticket pairs that are both fully dense in a block (level 0) are set to NaN
    (undefined; :func:`rtl_jax.collapse.both_dense`), whatever the float chance level rounded to.
    """
    rep = sim_lib.similarity_report(stacked, prunable, groups)
    blocks = [(rep, None), *((rep["groups"][g], list(ps)) for g, ps in groups.items())]
    for block, paths in blocks:
        cor = np.where(collapse_lib.both_dense(stacked, prunable, paths), np.nan, np.asarray(block["corrected"]))
        block["corrected"] = cor.tolist()
        block["mean_corrected"] = _offdiag_rows(cor).tolist()
        block["mean_chance"] = _offdiag_rows(np.asarray(block["chance"])).tolist()
    alone = {ps[0] for ps in groups.values() if len(ps) == 1}  # already stored as its group's matrix
    rep["per_layer"] = {p: np.asarray(j).tolist() for p, j in sim_lib.jaccard_per_layer(stacked, prunable).items()
                        if p not in alone}
    return rep


def load_levels(level_dirs: Sequence[Path], like_params, prunable, groups, metric: str) -> list[dict[str, Any]]:
    """Each finished level's facts (``metrics.json``), accuracy per ticket and similarity statistics."""
    out = []
    for d in level_dirs:
        info = ckpt_lib.read_json(d / "metrics.json")
        per_ticket = info["metrics"]
        missing = [k for k, m in enumerate(per_ticket) if metric not in m]
        if missing:
            raise ValueError(f"{d / 'metrics.json'}: metric {metric!r} missing for tickets {missing} "
                             f"(available: {sorted(per_ticket[0])})")
        stacked = ckpt_lib.load_masks(d / "masks", like_params, stacked=True)
        stats = level_statistics(stacked, prunable, groups)
        out.append({"level": int(info["level"]), "kept": int(info["kept"]), "density": float(info["density"]),
                    "sparsity": float(info["sparsity"]), "seconds": float(info["seconds"]),
                    "accuracy": [float(m[metric]) for m in per_ticket], "metrics": per_ticket, **stats})
    return out


# --------------------------------------------------------------------------- detection
def similarity_curves(levels: Sequence[dict], use: str, group: str | None = None) -> np.ndarray:
    """``[K, L]`` per-ticket similarity curves ("raw": mean Jaccard; "chance_corrected"), over all prunable
    weights or over one depth ``group``."""
    key = {"raw": "mean_similarity", "chance_corrected": "mean_corrected"}[use]
    return np.array([(lv if group is None else lv["groups"][group])[key] for lv in levels], dtype=np.float64).T


def detection(sparsity, sims: np.ndarray, acc: np.ndarray, names: Sequence[str],
              cfg: collapse_lib.CollapseConfig, opts: AnalysisOptions) -> dict[str, Any]:
    """Detector per ticket, accuracy drops, warning outcomes, and where the online rule would stop
    (``stop_level_any``: first level where any ticket fires; ``stop_level_mean``: the mean curve fires)."""
    report = collapse_lib.warning_report(sparsity, sims, acc, names, cfg, opts.acc_threshold, opts.acc_reference)
    per = collapse_lib.detect_collapse_per_ticket(sparsity, sims, cfg)
    mean_res = collapse_lib.detect_collapse(sparsity, sims.mean(axis=0), cfg)
    fired = [r.collapse_index for r in report if r.collapse_index is not None]
    tickets = []
    for r, res in zip(report, per, strict=True):
        tickets.append({**dataclasses.asdict(r), "score": res.score, "z": list(res.z)})
    return {
        "available": True,
        "tickets": tickets,
        "markdown": collapse_lib.warning_markdown(report),
        "stop_level_any": min(fired) if fired else None,
        "stop_level_mean": mean_res.level_index,
        "mean_curve": {"fired": mean_res.fired, "level_index": mean_res.level_index, "direction": mean_res.direction,
                       "score": mean_res.score},
        "outcomes": {o: sum(r.outcome == o for r in report) for o in collapse_lib.OUTCOMES},
    }


def detection_by_group(levels: Sequence[dict], groups: Mapping[str, Sequence[str]], names: Sequence[str],
                       acc: np.ndarray, opts: AnalysisOptions) -> dict[str, dict[str, dict]]:
    """:func:`detection` on each depth group's per-ticket similarity curves (an extra, offline-only signal:
    does the overlap of some layers change sharply before accuracy drops?). ``{group: {use: block}}``; a
    block is unavailable when its curve is undefined past the skipped levels (a group left dense)."""
    sparsity = [lv["sparsity"] for lv in levels]
    cfg = opts.detector
    out: dict[str, dict[str, dict]] = {}
    for g in groups:
        out[g] = {}
        for use in USES:
            sims = similarity_curves(levels, use, g)
            if not np.all(np.isfinite(sims[:, cfg.skip:])):
                out[g][use] = {"available": False, "note": f"{use} similarity of group {g!r} is undefined past "
                               f"level {cfg.skip - 1} (a dense group, or skip < 1)"}
                continue
            out[g][use] = detection(sparsity, sims, acc, names, cfg, opts)
    return out


def choose_heatmap_levels(sparsity: Sequence[float], first_collapse: int | None,
                          explicit: Sequence[int] | None) -> list[int]:
    """Fig. 3E levels: ``explicit`` (validated), else the last level before the first collapse (the last
    level when nothing fired) and the level closest to 50% sparsity, in increasing order."""
    n = len(sparsity)
    if explicit is not None:
        bad = [i for i in explicit if not 0 <= int(i) < n]
        if bad:
            raise IndexError(f"heat-map levels {bad} out of range: the run has {n} finished levels")
        return sorted({int(i) for i in explicit})
    before = n - 1 if first_collapse is None else max(first_collapse - 1, 0)
    half = int(np.argmin(np.abs(np.asarray(sparsity) - 0.5)))
    return sorted({before, half})


# --------------------------------------------------------------------------- alignment
def wordnet_table_for(dataset_name: str, names: Sequence[str], choice: str) -> tuple[str | None, str]:
    """``(table or None, note)``: the WordNet table to use. ``choice`` "auto" uses the dataset's shipped table
    when every ticket name is one of its classes; "none" disables; a name forces that table (its classes must
    cover the ticket names, else ``ValueError``)."""
    if choice == "none":
        return None, "disabled (--wordnet none)"
    if choice != "auto":
        align_lib.semantic_matrix(choice, names)  # raises naming the missing classes
        return choice, f"WordNet table {choice!r} (chosen explicitly)"
    table = WORDNET_TABLES.get(dataset_name)
    if table is None:
        return None, f"no WordNet table for dataset {dataset_name!r} (tables: {align_lib.available_wordnet_tables()})"
    known = set(align_lib.load_wordnet_table(table)[0])
    if not set(names) <= known:
        return None, f"ticket names {sorted(set(names) - known)} are not classes of WordNet table {table!r}"
    return table, f"WordNet table {table!r} (dataset {dataset_name!r})"


def _group_matrices(lv: dict) -> dict[str, np.ndarray]:
    mats = {g: np.asarray(v["jaccard"]) for g, v in lv["groups"].items()}
    mats["global"] = np.asarray(lv["jaccard"])
    return mats


def alignment_block(levels: Sequence[dict], names: Sequence[str], table: str, heatmap_levels: Sequence[int],
                    classes: Sequence[str], permutations: int, seed: int) -> dict[str, Any]:
    """Spearman ρ between each level's Jaccard matrices (per depth group and global) and WordNet similarity,
    per-class row correlations (Fig. 3C/D), and Mantel p-values at the heat-map levels."""
    semantic = align_lib.semantic_matrix(table, names)
    by_level = [_group_matrices(lv) for lv in levels]
    curves = align_lib.alignment_curve(by_level, semantic)
    unknown = [c for c in classes if c not in names]
    if unknown:
        raise ValueError(f"classes {unknown} are not ticket names {list(names)}")
    rows = {c: align_lib.class_row_curve(by_level, semantic, list(names).index(c)) for c in classes}
    mantel = {}
    for i in heatmap_levels:
        mantel[str(i)] = {}
        for g, m in by_level[i].items():
            rho = curves[g][i]
            if permutations == 0 or not np.isfinite(rho):
                mantel[str(i)][g] = {"rho": float(rho), "p": None}
            else:
                r, p = align_lib.mantel_test(m, semantic, permutations, seed=seed)
                mantel[str(i)][g] = {"rho": r, "p": p}
    return {"table": table, "semantic": semantic.tolist(), "curves": {g: v.tolist() for g, v in curves.items()},
            "class_rows": {c: {g: v.tolist() for g, v in r.items()} for c, r in rows.items()},
            "mantel": mantel, "mantel_permutations": permutations}


# --------------------------------------------------------------------------- figures
def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "class"


def similarity_by_depth_figure(levels: Sequence[dict]) -> Figure:
    """Mean off-diagonal Jaccard per depth group (and global) vs sparsity: raw with its random-mask chance
    level (left), chance-corrected (right)."""
    x = 100.0 * np.array([lv["sparsity"] for lv in levels])
    fig = Figure(figsize=(12, 4.6), layout="constrained")
    ax_r, ax_c = fig.subplots(1, 2, sharex=True)
    series = {g: v for g, v in levels[0]["groups"].items()}
    for i, g in enumerate(list(series) + ["global"]):
        color = "black" if g == "global" else f"C{i}"

        def block(lv, g=g):
            return lv if g == "global" else lv["groups"][g]

        raw = [np.mean(block(lv)["mean_similarity"]) for lv in levels]
        chance = [np.mean(block(lv)["mean_chance"]) for lv in levels]
        cor = [np.mean(block(lv)["mean_corrected"]) for lv in levels]
        ax_r.plot(x, raw, color=color, marker="o", ms=3, label=f"{g}")
        ax_r.plot(x, chance, color=color, ls="--", lw=1, label=f"{g}: random-mask chance")
        ax_c.plot(x, cor, color=color, marker="o", ms=3, label=g)
    ax_r.set(xlabel="sparsity (%)", ylabel="mean Jaccard between tickets", title="Raw Jaccard by depth group",
             ylim=(-0.02, 1.02))
    ax_c.axhline(0.0, color="0.5", lw=0.8)
    ax_c.set(xlabel="sparsity (%)", ylabel="(J − chance) / (1 − chance)",
             title="Chance-corrected Jaccard by depth group (0 = random masks)")
    for ax in (ax_r, ax_c):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, ncols=2 if ax is ax_r else 1)
    fig.suptitle("Mask similarity between tickets per depth group vs sparsity")
    return fig


def _save_figure(fig: Figure, path: Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=120)
    return path


#: labelled x ticks (sparsity %) of the log-density axis: one per decade of density; and unlabelled minor ticks.
SPARSITY_MAJOR_TICKS = (0.0, 90.0, 99.0, 99.9, 99.99)
SPARSITY_MINOR_TICKS = (50.0, 80.0, 95.0, 98.0, 99.5, 99.8, 99.95, 99.98)


def _to_log_density(x):
    return -np.log10(np.clip(1.0 - np.asarray(x, dtype=np.float64) / 100.0, 1e-9, None))


def _from_log_density(y):
    return 100.0 * (1.0 - 10.0 ** (-np.asarray(y, dtype=np.float64)))


def log_density_axes(fig: Figure, max_sparsity: float) -> Figure:
    """Put every x axis of ``fig`` (x = sparsity in %) on a log-density scale, ``-log10(1 - sparsity)``, so that
    IMP levels that remove a fixed fraction of the remaining weights are evenly spaced (on a linear sparsity
    axis the levels past 90% crowd into the last tenth). Labelled ticks at 0, 90, 99, 99.9% (one per decade
    of density), minor ticks at 50, 80, 95, 98, 99.5, 99.8%; the limits hug the data with a 3% margin."""
    top = float(_to_log_density(100.0 * max_sparsity))
    pad = 0.03 * max(top, 1e-3)
    lo, hi = float(_from_log_density(-pad)), float(_from_log_density(top + pad))
    major = [t for t in SPARSITY_MAJOR_TICKS if t <= 100.0 * max_sparsity + 1e-6]
    minor = [t for t in SPARSITY_MINOR_TICKS if t <= 100.0 * max_sparsity + 1e-6]
    for ax in fig.axes:
        if ax.get_label() == "<colorbar>":
            continue
        ax.set_xscale("function", functions=(_to_log_density, _from_log_density))
        ax.set_xlim(lo, hi)
        ax.set_xticks(major, [f"{t:g}" for t in major])
        ax.set_xticks(minor, minor=True)
        if ax.get_xlabel():
            ax.set_xlabel("sparsity (%; log-density scale)")
    return fig


def write_figures(out: Path, levels: Sequence[dict], names: Sequence[str], det: Mapping[str, dict],
                  opts: AnalysisOptions, heatmap_levels: Sequence[int], align: dict | None,
                  title: str) -> list[str]:
    """All PNGs of one seed; returns their file names. Curves vs sparsity use a log-density x axis when the
    run goes past 90% sparsity (:func:`log_density_axes`)."""
    x = np.array([lv["sparsity"] for lv in levels])
    acc = np.array([lv["accuracy"] for lv in levels]).T
    acc_label = f"test {opts.metric.upper() if opts.metric == 'ba' else opts.metric}"
    top = float(x.max())

    def save(fig: Figure, name: str, curve: bool = True) -> str:
        if curve and top >= 0.9:
            log_density_axes(fig, top)
        _save_figure(fig, out / name)
        return name

    files = []
    for use in USES:
        d = det[use]
        if not d["available"]:
            continue
        sims = similarity_curves(levels, use)
        chance = np.array([lv["mean_chance"] for lv in levels]).T if use == "raw" else None
        kw = dict(collapse_levels=[t["collapse_index"] for t in d["tickets"]],
                  drop_levels=[t["drop_index"] for t in d["tickets"]], chance=chance, acc_label=acc_label,
                  sim_label=USE_LABELS[use])
        fig = plots.accuracy_similarity_figure(
            x, acc, sims, names, title=f"{title}: {acc_label} and {USE_LABELS[use]} vs sparsity "
            f"(collapse: {use} detector)", **kw)
        files.append(save(fig, f"fig2_panels_{use}.png"))
        if use == opts.use:
            fig = plots.accuracy_similarity_figure(x, acc, sims, names, layout="overlay",
                                                   title=f"{title}: all tickets ({use} detector)", **kw)
            files.append(save(fig, f"fig2_overlay_{use}.png"))
    files.append(save(similarity_by_depth_figure(levels), "similarity_by_depth.png"))
    for i in heatmap_levels:
        lv = levels[i]
        mats = {g: np.asarray(v["jaccard"]) for g, v in lv["groups"].items()}
        fig = plots.jaccard_heatmaps_figure(
            mats, names, title=f"{title}: mask Jaccard per depth group at level {i} "
            f"({100 * lv['sparsity']:.1f}% sparsity)")
        files.append(save(fig, f"fig3e_heatmaps_level_{i:03d}.png", curve=False))
    if align is not None:
        fig = plots.jaccard_heatmaps_figure({f"WordNet ({align['table']})": np.asarray(align["semantic"])}, names,
                                            title="WordNet path similarity between classes",
                                            value_label="path similarity")
        files.append(save(fig, "wordnet_similarity.png", curve=False))
        fig = plots.alignment_figure(x, {g: np.asarray(v) for g, v in align["curves"].items()},
                                     title=f"{title}: ρ(mask Jaccard, WordNet) by depth")
        files.append(save(fig, "fig3a_alignment.png"))
        for c, curves in align["class_rows"].items():
            fig = plots.alignment_figure(x, {g: np.asarray(v) for g, v in curves.items()},
                                         title=f"{title}: class {c!r}, ρ(Jaccard row, WordNet row)")
            files.append(save(fig, f"fig3cd_alignment_{_safe(c)}.png"))
    return files


# --------------------------------------------------------------------------- reports
def _f(v, fmt: str = "{:.3f}") -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    return fmt.format(v)


def _pct(v) -> str:
    """Sparsity in %: one decimal, two from 99% on (the levels of a 20%-per-level schedule crowd there)."""
    if v is None:
        return "–"
    return _f(100 * v, "{:.2f}%" if v >= 0.99 else "{:.1f}%")


#: significant digits of the floats in analysis.json (keeps a 33-level, 10-ticket run's file small).
JSON_DIGITS = 7


def _jsonable(obj: Any) -> Any:
    """NaN/inf → None, numpy → Python, floats rounded to :data:`JSON_DIGITS` significant digits, recursively."""
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return _jsonable(obj.item())
    if isinstance(obj, float):
        return float(f"{obj:.{JSON_DIGITS}g}") if math.isfinite(obj) else None
    return obj


def write_json(path: Path, obj: Any) -> Path:
    """Compact strict JSON (one line; NaN written as null), written atomically."""
    return ckpt_lib.write_text_atomic(path, json.dumps(_jsonable(obj), separators=(",", ":"), allow_nan=False) + "\n")


def _stop_line(d: dict, levels: Sequence[dict]) -> str:
    def at(i):
        return "never" if i is None else f"level {i} ({_pct(levels[i]['sparsity'])})"

    keep = d["stop_level_any"]
    kept = "" if keep is None else f"; the masks kept are level {keep - 1} ({_pct(levels[keep - 1]['sparsity'])})"
    return (f"Online rule, any ticket fires: stops at {at(d['stop_level_any'])}{kept}. "
            f"Mean curve over tickets: fires at {at(d['stop_level_mean'])}.")


def render_markdown(res: dict) -> str:
    """``analysis.md`` of one seed."""
    levels = res["levels"]
    names = res["names"]
    groups = list(res["depth_groups"])
    o = res["options"]
    lines = [
        f"# Collapse analysis: {res['title']}, seed {res['seed']}",
        "",
        f"Run `{res['run_dir']}`, experiment `{res['experiment']}`; {len(levels)} finished search levels "
        f"(sparsity {_pct(levels[0]['sparsity'])} to {_pct(levels[-1]['sparsity'])}), {len(names)} tickets.",
    ]
    if res["stopped"] is not None:
        lines.append(f"The search was ended by a stop rule after level {res['stopped']['level']} (`STOPPED`).")
    lines += [
        "",
        f"Accuracy = each ticket's `{o['metric']}` at each level (its independently trained level model, "
        "one-vs-rest on the whole test set). "
        f"An accuracy drop is the first level more than {o['acc_threshold']} below the "
        f"{'dense level 0' if o['acc_reference'] == 'initial' else 'best earlier level'}.",
        "",
        "Depth groups: " + "; ".join(f"**{g}** = {', '.join(f'`{p}`' for p in ps)}"
                                     for g, ps in res["depth_groups"].items()) + ".",
        "",
        "## Collapse detection from masks alone",
        "",
        f"Detector: `{o['detector']}`: robust z-score of each level's change of a ticket's similarity curve "
        "against its recent changes (rtl_jax.collapse). It fires at a level; the masks to keep are the previous "
        "level's. Outcomes: in_time = fired at or before the accuracy drop; late = after it; missed = drop "
        "without firing; false_alarm = fired, no drop; no_collapse = neither. Lead = levels between firing "
        f"and drop (positive = early). Primary similarity: **{o['use']}**.",
    ]
    for use in USES:
        d = res["detection"][use]
        lines += ["", f"### {USE_LABELS[use]} ({use})", ""]
        if not d["available"]:
            lines.append(d["note"])
            continue
        lines += [d["markdown"], "", _stop_line(d, levels)]
    lines += ["", "### By depth group (offline only)", "",
              "The same detector on each depth group's per-ticket similarity curves (same accuracy drops).", "",
              "| group | similarity | tickets fired | first firing level | in_time | late | missed | false_alarm "
              "| no_collapse |", "|---|---|---|---|---|---|---|---|---|"]
    for g, by_use in res["detection_by_group"].items():
        for use, d in by_use.items():
            if not d["available"]:
                lines.append(f"| {g} | {use} | {d['note']} |" + " |" * 7)
                continue
            fired = [t["collapse_index"] for t in d["tickets"] if t["collapse_index"] is not None]
            first = "–" if not fired else f"{min(fired)} ({_pct(levels[min(fired)]['sparsity'])})"
            lines.append(f"| {g} | {use} | {len(fired)} | {first} | "
                         + " | ".join(str(d["outcomes"][o]) for o in collapse_lib.OUTCOMES) + " |")
    lines += ["", "## Per level", "",
              "| level | sparsity | mean acc | min acc | mean J | chance J | corrected J | "
              + " | ".join(f"J {g}" for g in groups) + " | " + " | ".join(f"corr. {g}" for g in groups) + " |",
              "|" + "---|" * (7 + 2 * len(groups))]
    for lv in levels:
        cells = [str(lv["level"]), _pct(lv["sparsity"]), _f(np.mean(lv["accuracy"])), _f(np.min(lv["accuracy"])),
                 _f(np.mean(lv["mean_similarity"])), _f(np.mean(lv["mean_chance"])),
                 _f(float(np.mean(lv["mean_corrected"])))]
        cells += [_f(np.mean(lv["groups"][g]["mean_similarity"])) for g in groups]
        cells += [_f(float(np.mean(lv["groups"][g]["mean_corrected"]))) for g in groups]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Per ticket and level (accuracy / raw mean J / chance-corrected mean J):", "",
              "| level | sparsity | " + " | ".join(names) + " |", "|" + "---|" * (2 + len(names))]
    for lv in levels:
        cells = [f"{_f(a, '{:.3f}')} / {_f(s, '{:.3f}')} / {_f(c, '{:.3f}')}"
                 for a, s, c in zip(lv["accuracy"], lv["mean_similarity"], lv["mean_corrected"], strict=True)]
        lines.append(f"| {lv['level']} | {_pct(lv['sparsity'])} | " + " | ".join(cells) + " |")
    lines += ["", "## Semantic alignment with WordNet", "", res["alignment_note"] + "."]
    al = res["alignment"]
    if al is not None:
        keys = list(al["curves"])
        lines += ["", "Spearman ρ between the 45 off-diagonal pairs of the mask Jaccard matrix (per depth group, "
                  "and over all prunable weights) and WordNet path similarity (level 0 is dense: undefined).", "",
                  "| level | sparsity | " + " | ".join(f"ρ {g}" for g in keys) + " |", "|" + "---|" * (2 + len(keys))]
        for i, lv in enumerate(levels):
            lines.append(f"| {i} | {_pct(lv['sparsity'])} | "
                         + " | ".join(_f(al["curves"][g][i], "{:+.3f}") for g in keys) + " |")
        if al["mantel"]:
            lines += ["", f"Mantel permutation test ({al['mantel_permutations']} class relabellings, two-sided) at "
                      "the heat-map levels:", "", "| level | sparsity | " + " | ".join(keys) + " |",
                      "|" + "---|" * (2 + len(keys))]
            for i, row in al["mantel"].items():
                cells = [f"ρ {_f(row[g]['rho'], '{:+.3f}')}, p {_f(row[g]['p'], '{:.3f}')}" for g in keys]
                lines.append(f"| {i} | {_pct(levels[int(i)]['sparsity'])} | " + " | ".join(cells) + " |")
        if al["class_rows"]:
            cols = [(c, g) for c, curves in al["class_rows"].items() for g in curves]
            lines += ["", "Per class (Fig. 3C/D): Spearman ρ between the class's row of the Jaccard matrix and its "
                      "WordNet row (the 9 other classes):", "",
                      "| level | sparsity | " + " | ".join(f"{c} {g}" for c, g in cols) + " |",
                      "|" + "---|" * (2 + len(cols))]
            for i, lv in enumerate(levels):
                lines.append(f"| {i} | {_pct(lv['sparsity'])} | "
                             + " | ".join(_f(al["class_rows"][c][g][i], "{:+.2f}") for c, g in cols) + " |")
    lines += ["", "## Figures", ""]
    lines += [f"![{f}]({f})" for f in res["figures"]] or ["None written for this seed (`--figures`)."]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- one seed
def analyze_seed(run_dir, seed: int, out_dir, *, options: AnalysisOptions = AnalysisOptions(),
                 data_dir=common.DEFAULT_DATA_DIR, names: Sequence[str] | None = None, spec: ModelSpec | None = None,
                 dataset_name: str | None = None) -> dict[str, Any]:
    """Analyse ``RUN_DIR/seed_<seed>/search`` into ``out_dir``; returns the JSON-ready result.

    ``names``, ``spec`` and ``dataset_name`` may be passed by a caller that has them (an experiment right
    after its search); otherwise they are rebuilt from ``config.json`` (loading the dataset from
    ``data_dir``). Raises ``FileNotFoundError`` when the seed has no finished level.
    """
    t0 = time.perf_counter()
    run_dir = Path(run_dir)
    record = read_config(run_dir)
    search_dir = run_dir / f"seed_{seed}" / "search"
    level_dirs = finished_levels(search_dir)
    if not level_dirs:
        raise FileNotFoundError(f"no finished search level in {search_dir}")
    class_names: Sequence[str] = ()
    if spec is None or names is None or dataset_name is None:
        spec_, ds = rebuild_model(record, data_dir)
        spec = spec or spec_
        class_names = ds.class_names
        dataset_name = dataset_name or _config_section(record, "data")["name"]
    params = spec.init(jax.random.key(0))["params"]  # shapes and Linen creation (depth) order only
    prunable = common.prunable_of(spec, params)
    groups = depth_groups_for(sim_lib.ordered_prunable_paths(params, prunable))
    levels = load_levels(level_dirs, params, prunable, groups, options.metric)
    k = len(levels[0]["accuracy"])
    names = list(names) if names is not None else ticket_names(run_dir, seed, record, class_names, k)
    if len(names) != k:
        raise ValueError(f"{len(names)} ticket names for {k} tickets")
    sparsity = [lv["sparsity"] for lv in levels]
    acc = np.array([lv["accuracy"] for lv in levels]).T
    det = {}
    for use in USES:
        cfg = options.detector
        if use == "chance_corrected" and cfg.skip < 1:
            det[use] = {"available": False, "note": "not computed: the chance-corrected similarity is undefined at "
                        f"the dense level 0, so it needs detector skip >= 1 (got {cfg.skip})"}
            continue
        det[use] = detection(sparsity, similarity_curves(levels, use), acc, names, cfg, options)
    if not det[options.use]["available"]:
        raise ValueError(f"primary similarity {options.use!r}: {det[options.use]['note']}")
    det_groups = detection_by_group(levels, groups, names, acc, options)
    heat = choose_heatmap_levels(sparsity, det[options.use]["stop_level_any"], options.heatmap_levels)
    table, note = wordnet_table_for(dataset_name, names, options.wordnet)
    align = None
    if table is not None:
        classes = options.classes if options.classes is not None else DEFAULT_CLASSES.get(table, ())
        align = alignment_block(levels, names, table, heat, classes, options.mantel_permutations, seed)
    model = record["config"]["model"]
    title = f"{model['name']} on {dataset_name}"
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    figures = write_figures(out, levels, names, det, options, heat, align, title) if options.figures else []
    stopped_path = search_dir / "STOPPED"
    res = {
        "run_dir": str(run_dir), "seed": seed, "experiment": record.get("experiment"), "title": title,
        "out_dir": str(out), "names": names, "depth_groups": groups,
        "options": {**config_lib.to_dict(options), "detector": str(options.detector)},
        "detector_config": config_lib.to_dict(options.detector),
        "stopped": ckpt_lib.read_json(stopped_path) if stopped_path.exists() else None,
        "heatmap_levels": heat, "detection": det, "detection_by_group": det_groups, "alignment_note": note,
        "alignment": align, "figures": figures, "levels": levels,
    }
    ckpt_lib.write_text_atomic(out / "analysis.md", render_markdown(res))
    res["seconds"] = time.perf_counter() - t0
    write_json(out / "analysis.json", res)
    return res


# --------------------------------------------------------------------------- several seeds
def _ms(values) -> str:
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return "–"
    return f"{v.mean():.3f}" if v.size == 1 else f"{v.mean():.3f} ± {v.std(ddof=1):.3f}"


def group_summary(per_seed: Sequence[dict]) -> list[str]:
    """Markdown lines: the detector on each depth group's curves, per seed: first firing (any ticket), the mean
    curve's firing, and the outcome counts."""
    if not all("detection_by_group" in r for r in per_seed):
        return []
    lines = ["## By depth group (offline only)", "",
             "| group | similarity | seed | first firing, any ticket | mean curve fires | first accuracy drop | "
             + " | ".join(collapse_lib.OUTCOMES) + " |", "|" + "---|" * (6 + len(collapse_lib.OUTCOMES))]
    for g in per_seed[0]["detection_by_group"]:
        for use in USES:
            for r in per_seed:
                d = r["detection_by_group"][g][use]
                if not d["available"]:
                    continue
                sp = [lv["sparsity"] for lv in r["levels"]]
                drops = [t["drop_index"] for t in d["tickets"] if t["drop_index"] is not None]

                def at(i, sp=sp):
                    return "–" if i is None else f"{i} ({_pct(sp[i])})"

                lines.append(f"| {g} | {use} | {r['seed']} | {at(d['stop_level_any'])} | {at(d['stop_level_mean'])} | "
                             f"{at(min(drops) if drops else None)} | "
                             + " | ".join(str(d["outcomes"][o]) for o in collapse_lib.OUTCOMES) + " |")
    return lines + [""]


def per_level_summary(per_seed: Sequence[dict]) -> list[str]:
    """Markdown lines: per level (over the levels all seeds share), mean ± std over seeds of the mean
    accuracy, raw and chance-corrected mean Jaccard, and the WordNet ρ per depth group when available."""
    n = min(len(r["levels"]) for r in per_seed)
    sp = [lv["sparsity"] for lv in per_seed[0]["levels"][:n]]
    for r in per_seed[1:]:
        if not np.allclose([lv["sparsity"] for lv in r["levels"][:n]], sp):
            return ["Seeds have different sparsity levels: no per-level summary.", ""]
    align = all(r["alignment"] is not None for r in per_seed)
    keys = list(per_seed[0]["alignment"]["curves"]) if align else []
    lines = ["## Per level, mean ± std over seeds", "",
             "| level | sparsity | mean acc | min acc | mean J | corrected J | " + " | ".join(f"ρ {g}" for g in keys)
             + " |", "|" + "---|" * (6 + len(keys))]

    def mean_or_none(v):
        v = [x for x in v if x is not None]
        return float(np.mean(v)) if v else None

    for i in range(n):
        lvs = [r["levels"][i] for r in per_seed]
        cells = [str(i), _pct(sp[i]), _ms([np.mean(lv["accuracy"]) for lv in lvs]),
                 _ms([np.min(lv["accuracy"]) for lv in lvs]), _ms([np.mean(lv["mean_similarity"]) for lv in lvs]),
                 _ms([mean_or_none(lv["mean_corrected"]) for lv in lvs])]
        cells += [_ms([r["alignment"]["curves"][g][i] for r in per_seed]) for g in keys]
        lines.append("| " + " | ".join(cells) + " |")
    return lines + [""]


def write_summary(out_root, seed_out_dirs: Sequence) -> dict[str, Any]:
    """``<out_root>/analysis.md`` and ``analysis.json``: per seed and ticket, where each detector fired and
    where accuracy dropped, with outcome counts over all seeds; links to each seed's analysis."""
    out_root = Path(out_root)
    per_seed = [ckpt_lib.read_json(Path(d) / "analysis.json") for d in seed_out_dirs]
    if not per_seed:
        raise ValueError("write_summary needs at least one analysed seed")
    o = per_seed[0]["options"]
    lines = [f"# Collapse analysis summary: {per_seed[0]['title']}", "",
             f"Seeds: {', '.join(str(r['seed']) for r in per_seed)}. Detector `{o['detector']}`, "
             f"accuracy `{o['metric']}`, drop threshold {o['acc_threshold']}.", ""]
    summary: dict[str, Any] = {"seeds": [], "outcomes": {}}
    for use in USES:
        counts = {o: 0 for o in collapse_lib.OUTCOMES}
        rows = []
        for r in per_seed:
            d = r["detection"][use]
            if not d["available"]:
                continue
            sp = [lv["sparsity"] for lv in r["levels"]]
            for t in d["tickets"]:
                counts[t["outcome"]] += 1
                ci, di = t["collapse_index"], t["drop_index"]
                rows.append(f"| {r['seed']} | {t['name']} | {'–' if ci is None else f'{ci} ({_pct(sp[ci])})'} | "
                            f"{t['direction'] or '–'} | {'–' if di is None else f'{di} ({_pct(sp[di])})'} | "
                            f"{t['outcome']} | {'–' if t['lead'] is None else t['lead']} |")
        if not rows:
            continue
        summary["outcomes"][use] = counts
        lines += [f"## {USE_LABELS[use]} ({use})", "",
                  "| seed | ticket | fires at level (sparsity) | direction | accuracy drop at level (sparsity) | "
                  "outcome | lead (levels) |", "|---|---|---|---|---|---|---|", *rows, "",
                  "Over all seeds: " + ", ".join(f"{k}: {v}" for k, v in counts.items()) + ".", ""]
    lines += group_summary(per_seed)
    lines += per_level_summary(per_seed)
    lines += ["## Seeds", ""]
    for r in per_seed:
        stops = {use: r["detection"][use].get("stop_level_any") for use in USES if r["detection"][use]["available"]}
        summary["seeds"].append({"seed": r["seed"], "levels": len(r["levels"]), "stop_level_any": stops,
                                 "analysis": str(Path(r["out_dir"]) / "analysis.md")})
        rel = Path(r["out_dir"]).name
        lines.append(f"- seed {r['seed']}: {len(r['levels'])} levels; online-rule stop level (any ticket): "
                     + ", ".join(f"{u} {'never' if v is None else v}" for u, v in stops.items())
                     + f"; details in [{rel}/analysis.md]({rel}/analysis.md)")
    out_root.mkdir(parents=True, exist_ok=True)
    ckpt_lib.write_text_atomic(out_root / "analysis.md", "\n".join(lines) + "\n")
    write_json(out_root / "analysis.json", summary)
    return summary


# --------------------------------------------------------------------------- command line
def _int_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated level indices, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", help="a run directory (holds config.json and seed_<s>/search/)")
    p.add_argument("--seed", type=int, default=None, help="analyse only this seed (default: every seed)")
    p.add_argument("--out", default=None, help="output directory (default: RUN_DIR/analysis)")
    p.add_argument("--acc-threshold", type=float, default=None,
                   help="accuracy drop that counts as collapse (default: the config's acc_threshold, else 0.05)")
    p.add_argument("--metric", default="ba", help="per-ticket metric of metrics.json used as accuracy (default ba)")
    p.add_argument("--reference", choices=("initial", "best"), default="initial",
                   help="accuracy drop measured from the dense level (initial) or the running best")
    p.add_argument("--use", choices=USES, default=None,
                   help="primary similarity for markers and heat-map levels (default: the config's stop.use, "
                        "else chance_corrected)")
    p.add_argument("--detector", action="append", default=[], metavar="KEY=VALUE",
                   help="override a CollapseConfig field, e.g. --detector z_threshold=3 (repeatable; defaults: "
                        "the config's detector, else CollapseConfig(skip=1))")
    p.add_argument("--heatmap-levels", type=_int_list, default=None, help="Fig. 3E level indices, e.g. 3,7")
    p.add_argument("--wordnet", default="auto", help="auto | none | a shipped table name (cifar10, fashion_mnist)")
    p.add_argument("--classes", default=None, help="comma-separated classes for Fig. 3C/D (default per dataset)")
    p.add_argument("--mantel-permutations", type=int, default=999, help="Mantel permutations (0 = no test)")
    p.add_argument("--figures", choices=("all", "first", "none"), default="all",
                   help="PNGs for every analysed seed (all), only the first one (first), or none (numbers only)")
    p.add_argument("--data-dir", default=common.DEFAULT_DATA_DIR,
                   help="where datasets are prepared (to rebuild the model and class names)")
    return p


def options_from_args(args: argparse.Namespace, record: dict) -> AnalysisOptions:
    """Analysis options: command-line values, else the run config's (collapse_study), else defaults."""
    cfg = record["config"]
    detector = collapse_lib.CollapseConfig(skip=1)
    if "detector" in cfg:
        detector = config_lib.from_dict(collapse_lib.CollapseConfig, cfg["detector"])
    detector = config_lib.apply_overrides(detector, args.detector)
    use = args.use or cfg.get("stop", {}).get("use", "chance_corrected")
    thr = args.acc_threshold if args.acc_threshold is not None else cfg.get("acc_threshold", 0.05)
    classes = None if args.classes is None else tuple(c.strip() for c in args.classes.split(",") if c.strip())
    return AnalysisOptions(detector=detector, use=use, metric=args.metric, acc_threshold=float(thr),
                           acc_reference=args.reference, heatmap_levels=args.heatmap_levels, wordnet=args.wordnet,
                           classes=classes, mantel_permutations=args.mantel_permutations,
                           figures=args.figures != "none")


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    run_dir = Path(args.run_dir)
    record = read_config(run_dir)
    opts = options_from_args(args, record)
    seeds = [args.seed] if args.seed is not None else run_seeds(run_dir)
    if not seeds:
        raise FileNotFoundError(f"no seed_<s>/search directory in {run_dir}")
    out_root = Path(args.out) if args.out else run_dir / "analysis"
    outs = []
    for i, s in enumerate(seeds):
        seed_opts = dataclasses.replace(opts, figures=opts.figures and (args.figures == "all" or i == 0))
        res = analyze_seed(run_dir, s, out_root / f"seed_{s}", options=seed_opts, data_dir=args.data_dir)
        outs.append(res["out_dir"])
        print(f"seed {s}: {len(res['levels'])} levels, {len(res['figures'])} figures -> {res['out_dir']}")
    write_summary(out_root, outs)
    print(f"summary: {out_root / 'analysis.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
