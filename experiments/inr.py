"""Implicit neural representations with one ticket per image region (rtl-paper §7.4, Tables 2 and 6).

    python -m experiments.inr                       # 5 scikit-image photographs, 64×64, 1 seed
    python -m experiments.inr --seeds 3             # mean ± std over seeds 0..2
    python -m experiments.inr --quick               # tiny (16×16, few steps): CI
    python -m experiments.inr --set images.source=files \\
        --set images.image_paths='("a.png",)' --set images.label_paths='("a_labels.png",)'
    python -m experiments.inr --set images.source=ade20k --data-dir DIR   # TFDS scene_parse150 prepared in DIR

One coordinate MLP per image (input: the 34 Fourier features of the pixel's (x, y); output: RGB in
[0, 1]). Per image and seed:

* **RTL.** Ticket k = region k: Algorithm 1 (:func:`rtl_jax.search.run_search`) runs IMP with rewinding
  to θ0 on region k's pixels only (MSE, Adam); at each milestone sparsity Algorithm 2
  (:func:`rtl_jax.joint.run_joint`) retrains the K tickets jointly on one shared weight tensor from θ0.
  The image is reconstructed by routing every pixel to its region's ticket, grouped by region
  (:func:`rtl_jax.routing.routed_apply` with ``strategy="dispatch"``: one forward per ticket on its
  region's pixels, never a weight copy per pixel).
* **IMP baseline.** One MLP for all regions, conditioned on the region by a learned 16-d embedding
  concatenated to the features (``inr_mlp_conditioned``), pruned by IMP with the same level plan. Fair
  init: the RTL θ0 is the baseline's θ0 without the embedding weights
  (:func:`rtl_jax.models.inr.rtl_init_from_conditioned`), one θ0 per seed for every image (the paper
  uses the same seed for all images).
* **Batches.** Every step, ticket k trains on ``batch_size`` pixels drawn uniformly (with replacement)
  from region k; the baseline's step takes the union of the K tickets' batches of that step (stratified
  by region, the same pixels), so both see the same data. One "epoch" is ``steps_per_epoch`` steps.
* **Metric.** PSNR of the whole image (predictions clipped to [0, 1]); Table 2 = mean over images of the
  per-image PSNR (= the mean of Table 6, rtl-paper §9.7). #Params: RTL = union of the K masks; IMP = its
  one mask (prunable weights; embedding table and biases dense, as in the paper's counts).

Also written: per-region PSNR and mask similarity (mean Jaccard to the other regions' tickets) vs
sparsity for every image with the collapse detector (:mod:`rtl_jax.collapse`), and reconstructions at
``picture_at`` sparsities (original | regions | RTL | IMP), as PNG in the run directory.
"""
from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from experiments import common
from rtl_jax import collapse as collapse_lib
from rtl_jax import config as config_lib
from rtl_jax import masks as masks_lib
from rtl_jax import plots, report, routing
from rtl_jax import train as train_lib
from rtl_jax.data import images as images_lib
from rtl_jax.imp import PruneConfig, Task, TrainConfig, run_imp
from rtl_jax.joint import JointConfig, run_joint
from rtl_jax.models import ModelSpec, get_model
from rtl_jax.models.inr import HIDDEN, conditioned_inputs, fourier_features, pixel_grid, rtl_init_from_conditioned
from rtl_jax.progress import log
from rtl_jax.search import SearchConfig, run_search


@dataclasses.dataclass(frozen=True)
class ImageConfig:
    """Which images and regions. ``source``: ``skimage`` (``names`` from ``skimage.data``, unsupervised
    regions), ``files`` (``image_paths`` + ``label_paths``) or ``ade20k`` (TFDS ``scene_parse150`` prepared
    under ``--data-dir``, ``ade20k_indices``). Every image is centre-cropped and resized to ``size × size``;
    regions smaller than ``min_fraction`` of the image, and the surplus over ``max_regions``, are merged
    into neighbours (:func:`rtl_jax.data.images.merge_regions`)."""

    source: str = "skimage"
    names: tuple[str, ...] = images_lib.SKIMAGE_IMAGES
    image_paths: tuple[str, ...] = ()
    label_paths: tuple[str, ...] = ()
    ade20k_indices: tuple[int, ...] = images_lib.ADE20K_TRAIN_INDICES
    size: int = 64
    max_regions: int = 4
    min_fraction: float = 0.05
    segmentation: str = "felzenszwalb"
    felzenszwalb_scale: float = 0.02


@dataclasses.dataclass(frozen=True)
class INRExperiment:
    """Full offline config. Reduced from the paper for 2 CPU cores: 64×64 images (the paper's resolution
    is not given), 300 steps per round instead of 10,000, batches of 512 pixels per region instead of
    (presumably) the full image; everything else as in the paper: Adam 0.01, 4,096 weights per round
    (global magnitude), rewinding to θ0, milestones 25/50/75% and 90% for the pictures."""

    images: ImageConfig = ImageConfig()
    num_frequencies: int = 8
    hidden: tuple[int, ...] = HIDDEN
    embed_dim: int = 16
    batch_size: int = 512
    steps_per_epoch: int = 300
    search: TrainConfig = TrainConfig(epochs=1, batch_size=512, optimizer="adam", learning_rate=0.01)
    joint: JointConfig = JointConfig(epochs=1, optimizer="adam", learning_rate=0.01)
    imp: TrainConfig = TrainConfig(epochs=1, batch_size=512, optimizer="adam", learning_rate=0.01)
    prune: PruneConfig = PruneConfig(mode="count", amount=4096, target_sparsity=0.9,
                                     milestones=(0.25, 0.5, 0.75, 0.9))
    execution: SearchConfig = SearchConfig()
    report_at: tuple[float, ...] = (0.25, 0.5, 0.75)
    picture_at: tuple[float, ...] = (0.5, 0.75, 0.9)
    psnr_drop_db: float = 1.0


def full_config() -> INRExperiment:
    return INRExperiment()


def quick_config() -> INRExperiment:
    return INRExperiment(
        images=ImageConfig(names=("astronaut", "coffee"), size=16, max_regions=3, min_fraction=0.1),
        batch_size=32,
        steps_per_epoch=15,
        prune=PruneConfig(mode="count", amount=20000, target_sparsity=0.9, milestones=(0.25, 0.5, 0.75, 0.9)),
    )


# --------------------------------------------------------------------------- data and tasks
def load_images(cfg: ImageConfig, data_dir) -> list[images_lib.RegionImage]:
    """The configured images with their region maps (see :class:`ImageConfig`)."""
    kw = {"size": cfg.size, "max_regions": cfg.max_regions, "min_fraction": cfg.min_fraction}
    if cfg.source == "skimage":
        if not cfg.names:
            raise ValueError("images.names is empty: name at least one scikit-image sample image")
        return [images_lib.load_skimage_image(n, method=cfg.segmentation, scale=cfg.felzenszwalb_scale, **kw)
                for n in cfg.names]
    if cfg.source == "files":
        if not cfg.image_paths or len(cfg.image_paths) != len(cfg.label_paths):
            raise ValueError(f"images.source=files needs as many image_paths as label_paths (>= 1), got "
                             f"{len(cfg.image_paths)} and {len(cfg.label_paths)}")
        return [images_lib.load_image_and_labels(i, lab, **kw) for i, lab in
                zip(cfg.image_paths, cfg.label_paths, strict=True)]
    if cfg.source == "ade20k":
        return images_lib.load_ade20k(data_dir, indices=cfg.ade20k_indices, **kw)
    raise ValueError(f"unknown images.source {cfg.source!r}; use skimage, files or ade20k")


def region_pixel_indices(labels: np.ndarray, num_regions: int) -> list[np.ndarray]:
    """Raster indices of each region's pixels; ``ValueError`` if a region is empty."""
    flat = np.asarray(labels).ravel()
    out = [np.flatnonzero(flat == k) for k in range(num_regions)]
    for k, idx in enumerate(out):
        if idx.size == 0:
            raise ValueError(f"region {k} has no pixels")
    return out


def region_batches(pixels: np.ndarray, *, steps: int, batch_size: int, seed: int) -> Callable[[int], np.ndarray]:
    """``epoch -> [steps, batch_size]`` pixel indices drawn uniformly with replacement from ``pixels``,
    deterministic in ``(seed, epoch)``."""
    if steps < 1 or batch_size < 1:
        raise ValueError(f"steps and batch_size must be >= 1, got {steps} and {batch_size}")
    pixels = np.asarray(pixels, np.int64)

    def batches(epoch: int) -> np.ndarray:
        rng = np.random.default_rng([seed, epoch])
        return pixels[rng.integers(0, pixels.size, size=(steps, batch_size))]

    return batches


def stratified_batches(per_region: Sequence[Callable[[int], np.ndarray]]) -> Callable[[int], np.ndarray]:
    """``epoch -> [steps, K·B]``: step s is the concatenation of every region's step-s batch."""
    return lambda epoch: np.concatenate([f(epoch) for f in per_region], axis=1)


def clipped_psnr(pred: np.ndarray, target: np.ndarray) -> float:
    """PSNR (dB, peak 1) of ``clip(pred, 0, 1)`` against ``target`` (any equal shapes)."""
    pred = np.clip(np.asarray(pred, np.float64), 0.0, 1.0)
    mse = float(np.mean((pred - np.asarray(target, np.float64)) ** 2))
    return float("inf") if mse == 0 else float(10.0 * np.log10(1.0 / mse))


def region_tasks(name: str, feats: np.ndarray, rgb: np.ndarray, pixels: Sequence[np.ndarray], *, steps: int,
                 batch_size: int, seed: int) -> list[Task]:
    """One MSE task per region: trains on the region's pixels, evaluates the PSNR on them."""
    tasks = []
    for k, idx in enumerate(pixels):
        def evaluate(predict_x, _idx=idx):
            return {"psnr": clipped_psnr(predict_x(feats)[_idx], rgb[_idx])}

        tasks.append(Task(f"{name}/region {k}", feats, rgb,
                          region_batches(idx, steps=steps, batch_size=batch_size, seed=seed * 1000 + k),
                          "mse", evaluate))
    return tasks


def conditioned_task(name: str, x_cond: np.ndarray, rgb: np.ndarray, tasks: Sequence[Task]) -> Task:
    """The baseline's task on all pixels (input: features + region id), with the tickets' batches stacked."""
    def evaluate(predict_x):
        return {"psnr": clipped_psnr(predict_x(x_cond), rgb)}

    return Task(f"{name}/conditioned", x_cond, rgb, stratified_batches([t.epoch_batches for t in tasks]), "mse",
                evaluate)


def make_apply(spec: ModelSpec) -> Callable:
    """``apply(params, x)``: the dense forward of ``spec`` (for :func:`rtl_jax.routing.routed_apply`)."""
    module = spec.module

    def apply(params, x):
        return module.apply({"params": params}, x)

    return apply


def routed_reconstruction(apply_fn, params, stacked_masks, labels: np.ndarray, feats: np.ndarray,
                          bucket: int = 256) -> np.ndarray:
    """``[pixels, 3]``: every pixel through its region's ticket, grouped by region (dispatch)."""
    out = routing.routed_apply(apply_fn, params, stacked_masks, np.asarray(labels).ravel().astype(np.int32),
                               feats, strategy="dispatch", bucket=bucket)
    return np.asarray(out)


# --------------------------------------------------------------------------- one image
def _milestone(levels, sparsity: float, what: str):
    for lv in levels:
        if round(lv.sparsity, 4) == round(sparsity, 4):
            return lv
    raise ValueError(f"{what}: no level at sparsity {sparsity}; levels at {[round(lv.sparsity, 4) for lv in levels]}")


def run_image(cfg: INRExperiment, rimg: images_lib.RegionImage, seed: int, image_dir: Path) -> dict:
    """RTL and the conditioned IMP baseline on one image; returns rows, curves and reconstructions."""
    h, w = rimg.labels.shape
    k_regions = rimg.num_regions
    if k_regions < 2:
        raise ValueError(f"image {rimg.name!r} has a single region; RTL needs at least 2")
    feats = np.asarray(fourier_features(pixel_grid(h, w), cfg.num_frequencies))
    rgb = rimg.image.reshape(-1, 3).astype(np.float32)
    ids = rimg.labels.ravel().astype(np.int32)
    n_feat = feats.shape[1]
    cond = get_model("inr_mlp_conditioned", num_outputs=3, input_shape=(n_feat + 1,), num_regions=k_regions,
                     embed_dim=cfg.embed_dim, hidden=cfg.hidden)
    spec = get_model("inr_mlp", num_outputs=3, input_shape=(n_feat,), hidden=cfg.hidden)
    cond_v0 = common.theta0(cond, seed, image_dir / "conditioned")
    v0 = {"params": rtl_init_from_conditioned(cond_v0["params"]), "batch_stats": {}}
    prunable = common.prunable_of(spec, v0["params"])
    cond_prunable = common.prunable_of(cond, cond_v0["params"])
    pixels = region_pixel_indices(rimg.labels, k_regions)
    tasks = region_tasks(rimg.name, feats, rgb, pixels, steps=cfg.steps_per_epoch, batch_size=cfg.batch_size,
                         seed=seed)
    rows, recon = [], {"RTL": {}, "IMP": {}}
    t0 = time.perf_counter()
    levels = run_search(spec, v0, prunable, tasks, train_cfg=cfg.search, prune_cfg=cfg.prune,
                        search_cfg=cfg.execution, run_dir=image_dir / "search", seed=seed, log=log)
    t_search = time.perf_counter() - t0
    apply_fn = make_apply(spec)
    wanted = sorted(set(cfg.report_at) | set(cfg.picture_at))
    for s in wanted:
        lv = _milestone(levels, s, "RTL search")
        jr = run_joint(spec, v0, lv.masks, tasks, cfg=cfg.joint, run_dir=image_dir / f"joint_{lv.level:03d}",
                       desc=f"{rimg.name} joint {100 * s:.0f}%", log=log)
        pred = routed_reconstruction(apply_fn, jr.params, lv.masks, rimg.labels, feats)
        union = int(masks_lib.kept_count(masks_lib.union(lv.masks), prunable))
        rows.append({"seed": seed, "image": rimg.name, "method": "RTL", "sparsity": round(s, 4),
                     "psnr": clipped_psnr(pred, rgb), "params": union, "regions": k_regions,
                     "region_psnr": [m["psnr"] for m in jr.metrics]})
        recon["RTL"][round(s, 4)] = np.clip(pred, 0, 1).reshape(h, w, 3)
    t1 = time.perf_counter()
    x_cond = np.asarray(conditioned_inputs(feats, ids, k_regions))
    ctask = conditioned_task(rimg.name, x_cond, rgb, tasks)
    imp = run_imp(cond, cond_v0, cond_prunable, ctask, train_cfg=cfg.imp, prune_cfg=cfg.prune,
                  run_dir=image_dir / "imp", seed=seed, log=log)
    t_imp = time.perf_counter() - t1
    predict = train_lib.make_predict(cond)
    dense_imp = None
    for r in imp:
        s = round(r.sparsity, 4)
        if r.level == 0:
            dense_imp = r.metrics["psnr"]
        if s not in [round(v, 4) for v in wanted]:
            continue
        pred = train_lib.predict_in_batches(predict, r.params, r.batch_stats, r.mask, x_cond)
        rows.append({"seed": seed, "image": rimg.name, "method": "IMP", "sparsity": s,
                     "psnr": clipped_psnr(pred, rgb), "params": r.kept, "regions": k_regions,
                     "region_psnr": [clipped_psnr(pred[p], rgb[p]) for p in pixels]})
        recon["IMP"][s] = np.clip(pred, 0, 1).reshape(h, w, 3)
    np.savez_compressed(image_dir / "reconstructions.npz",
                        **{f"{m}_{_pct(s)}": v for m, d in recon.items() for s, v in d.items()})
    sparsity = np.array([lv.sparsity for lv in levels])
    region_psnr = np.array([[lv.metrics[k]["psnr"] for lv in levels] for k in range(k_regions)])
    similarity = np.stack([collapse_lib.ticket_similarity(lv.masks, prunable, "raw") for lv in levels], axis=1)
    curves = {"sparsity": sparsity.tolist(), "region_psnr": region_psnr.tolist(), "similarity": similarity.tolist(),
              "region_fraction": [float(p.size / ids.size) for p in pixels],
              "dense_imp_psnr": dense_imp, "dense_ticket_psnr": region_psnr[:, 0].tolist()}
    return {"rows": rows, "curves": curves, "recon": recon, "seconds": {"rtl": time.perf_counter() - t0 - t_imp,
                                                                        "search": t_search, "imp": t_imp}}


# --------------------------------------------------------------------------- reports
def collapse_report(curves: dict, names: Sequence[str], drop_db: float) -> list[collapse_lib.TicketWarning]:
    """Collapse detector (skipping the dense level) vs the first ``drop_db`` PSNR drop, per region."""
    return collapse_lib.warning_report(curves["sparsity"], curves["similarity"], curves["region_psnr"], names,
                                       collapse_lib.CollapseConfig(skip=1), drop_db)


def similarity_figure(curves: dict, names: Sequence[str], warnings, path: Path, title: str) -> Path:
    """Per region: PSNR and mask similarity vs sparsity, with the detector's and the PSNR drop's levels."""
    return plots.plot_accuracy_similarity(
        curves["sparsity"], curves["region_psnr"], curves["similarity"], names, path,
        collapse_levels=[w.collapse_index for w in warnings], drop_levels=[w.drop_index for w in warnings],
        title=title, acc_label="region PSNR (dB)")


def reconstruction_figure(images: Sequence[images_lib.RegionImage], recon: dict, rows: list[dict],
                          picture_at: Sequence[float], seed: int, path: Path) -> Path:
    """Rows = images; columns = original | regions | RTL / IMP at each ``picture_at`` sparsity (PSNR in titles)."""
    from matplotlib.figure import Figure

    cols = 2 + 2 * len(picture_at)
    fig = Figure(figsize=(1.7 * cols, 2.15 * len(images)))
    axes = fig.subplots(len(images), cols, squeeze=False)
    psnr = {(r["image"], r["method"], r["sparsity"]): r["psnr"] for r in rows if r["seed"] == seed}
    for i, im in enumerate(images):
        panels = [("original", im.image), (f"regions (K={im.num_regions})", im.labels)]
        for s in picture_at:
            s = round(s, 4)
            for m in ("RTL", "IMP"):
                panels.append((f"{m} {100 * s:.0f}%\n{psnr[(im.name, m, s)]:.2f} dB", recon[im.name][m][s]))
        for j, (title, arr) in enumerate(panels):
            ax = axes[i, j]
            ax.imshow(arr, cmap="tab10" if arr.ndim == 2 else None, interpolation="nearest",
                      vmin=0 if arr.ndim == 2 else None, vmax=9 if arr.ndim == 2 else None)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(title, fontsize=7)
            if j == 0:
                ax.set_ylabel(im.name, fontsize=8)
    fig.suptitle(f"Reconstructions, seed {seed} (RTL: pixel → its region's ticket; IMP: conditioned MLP)",
                 fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path


def _pct(s: float) -> str:
    return f"{100 * s:.0f}"


def table2(rows: list[dict], sparsities: Sequence[float]) -> tuple[list[dict], list[str]]:
    """Table 2 layout: per method the image-mean PSNR (mean ± std over seeds) and mean #params."""
    cols = ["Method"] + [f"PSNR {_pct(s)}" for s in sparsities] + [f"#P {_pct(s)}" for s in sparsities]
    out = []
    seeds = sorted({r["seed"] for r in rows})
    for method, label in (("RTL", "RTL"), ("IMP", "IMP (single model, region-embedding conditioned)")):
        line = {"Method": label}
        for s in sparsities:
            per_seed = [np.mean([r["psnr"] for r in rows if r["method"] == method and r["sparsity"] == round(s, 4)
                                 and r["seed"] == sd]) for sd in seeds]
            line[f"PSNR {_pct(s)}"] = report.fmt_mean_std(per_seed, digits=2)
            kept = [r["params"] for r in rows if r["method"] == method and r["sparsity"] == round(s, 4)]
            line[f"#P {_pct(s)}"] = f"{np.mean(kept) / 1000:.1f}K"
        out.append(line)
    return out, cols


def table6(rows: list[dict], names: Sequence[str], sparsities: Sequence[float]) -> tuple[list[dict], list[str]]:
    """Table 6 layout: per image, RTL and IMP PSNR at each sparsity (mean ± std over seeds)."""
    cols = ["Image", "K"] + [f"{m} {_pct(s)}" for m in ("RTL", "IMP") for s in sparsities] + ["Δ mean"]
    out = []
    for name in names:
        mine = [r for r in rows if r["image"] == name]
        line = {"Image": name, "K": str(mine[0]["regions"])}
        gaps = []
        for m in ("RTL", "IMP"):
            for s in sparsities:
                line[f"{m} {_pct(s)}"] = report.fmt_mean_std(
                    [r["psnr"] for r in mine if r["method"] == m and r["sparsity"] == round(s, 4)], digits=2)
        for s in sparsities:
            gaps.append(np.mean([r["psnr"] for r in mine if r["method"] == "RTL" and r["sparsity"] == round(s, 4)])
                        - np.mean([r["psnr"] for r in mine if r["method"] == "IMP" and r["sparsity"] == round(s, 4)]))
        line["Δ mean"] = f"{np.mean(gaps):+.2f}"
        out.append(line)
    return out, cols


def independent_tickets_psnr(curves: dict, sparsity: float) -> float:
    """Image PSNR of Algorithm 1's K independently trained region models at ``sparsity``, each pixel routed
    to its region's model (the "IMP multiple" reference; not in the paper's INR tables). Exact from the
    region PSNRs: image MSE = Σ_k (region k's pixel fraction) · 10^(−PSNR_k / 10)."""
    i = int(np.argmin(np.abs(np.asarray(curves["sparsity"]) - sparsity)))
    if abs(curves["sparsity"][i] - sparsity) > 1e-3:
        raise ValueError(f"no search level at sparsity {sparsity}; levels at {curves['sparsity']}")
    mse = sum(f * 10.0 ** (-row[i] / 10.0) for f, row in zip(curves["region_fraction"], curves["region_psnr"],
                                                              strict=True))
    return float(10.0 * np.log10(1.0 / mse))


def spearman_psnr_similarity(curves_by_image: dict, sparsity: float) -> tuple[float, int]:
    """Spearman ρ between region PSNR and region similarity at ``sparsity``, pooled over images (Fig. 8P)."""
    from scipy.stats import spearmanr

    psnr, sim = [], []
    for c in curves_by_image.values():
        i = int(np.argmin(np.abs(np.asarray(c["sparsity"]) - sparsity)))
        psnr += [row[i] for row in c["region_psnr"]]
        sim += [row[i] for row in c["similarity"]]
    rho = spearmanr(psnr, sim).statistic if len(psnr) > 2 else float("nan")
    return float(rho), len(psnr)


# --------------------------------------------------------------------------- main
def run_seed(cfg: INRExperiment, seed: int, run_dir: Path, images: Sequence[images_lib.RegionImage]):
    rows, curves, recon, seconds = [], {}, {}, {}
    for im in images:
        res = run_image(cfg, im, seed, run_dir / f"seed_{seed}" / im.name)
        rows += res["rows"]
        curves[im.name] = res["curves"]
        recon[im.name] = res["recon"]
        seconds[im.name] = res["seconds"]
        log(f"seed {seed} {im.name}: " + " ".join(f"{r['method']}@{_pct(r['sparsity'])}={r['psnr']:.2f}"
                                                   for r in res["rows"]))
    return rows, curves, recon, seconds


def main(argv=None) -> int:
    args, cfg, run_dir = common.parse_args_and_config(argv, __doc__.splitlines()[0], "inr",
                                                      full=full_config, quick=quick_config)
    if run_dir is None:
        return 0
    log(f"run directory: {run_dir}")
    t0 = time.perf_counter()
    images = load_images(cfg.images, args.data_dir)
    names = [im.name for im in images]
    if len(set(names)) != len(names):
        raise ValueError(f"image names must be unique, got {names}")
    rows, curves, md_fig, seconds = [], {}, [], {}
    for seed in range(args.seed, args.seed + args.seeds):
        r, c, rec, sec = run_seed(cfg, seed, run_dir, images)
        rows += r
        curves[f"seed_{seed}"] = c
        seconds[f"seed_{seed}"] = sec
        if seed == args.seed:
            p = reconstruction_figure(images, rec, rows, cfg.picture_at, seed, run_dir / "inr_reconstructions.png")
            md_fig.append(f"![reconstructions]({p.name})")
    # Similarity curves and collapse report of the first seed.
    first = curves[f"seed_{args.seed}"]
    coll_md = []
    for im in images:
        c = first[im.name]
        rnames = [f"region {k} ({100 * f:.0f}%)" for k, f in enumerate(c["region_fraction"])]
        warn = collapse_report(c, rnames, cfg.psnr_drop_db)
        p = similarity_figure(c, rnames, warn, run_dir / f"inr_similarity_{im.name}.png",
                              f"{im.name}: region PSNR and mask similarity vs sparsity (seed {args.seed})")
        md_fig.append(f"![similarity {im.name}]({p.name})")
        coll_md.append(f"**{im.name}**\n\n" + collapse_lib.warning_markdown(warn))
    rho = {f"{_pct(s)}": spearman_psnr_similarity(first, s) for s in cfg.report_at}
    report_at = [round(s, 4) for s in cfg.report_at]
    extra_at = [round(s, 4) for s in cfg.picture_at if round(s, 4) not in report_at]
    t2, c2 = table2(rows, report_at + extra_at)
    t6, c6 = table6(rows, names, report_at)
    multi = {"Method": "IMP multiple (K independent region models, routed; not in the paper)"}
    for s in report_at + extra_at:
        multi[f"PSNR {_pct(s)}"] = report.fmt_mean_std(
            [np.mean([independent_tickets_psnr(c, s) for c in per_seed.values()]) for per_seed in curves.values()],
            digits=2)
        multi[f"#P {_pct(s)}"] = "{:.1f}K".format(np.mean(
            [r["regions"] * r["params"] for r in rows if r["method"] == "IMP" and r["sparsity"] == s]) / 1000)
    t2.append(multi)
    seeds = f"{args.seed}..{args.seed + args.seeds - 1}"
    cmd = "python -m experiments.inr " + " ".join(argv if argv is not None else sys.argv[1:])
    total = time.perf_counter() - t0
    md = (f"# INR: RTL (one ticket per region) vs the conditioned IMP baseline\n\nCommand: `{cmd.strip()}`; seeds "
          f"{seeds}; {len(images)} images ({cfg.images.source}, {cfg.images.size}×{cfg.images.size}); "
          f"{total:.0f} s.\n\n## Table 2 layout (mean over images of the image PSNR in dB; ± std over seeds)\n\n"
          + report.markdown_table(t2, c2)
          + "\n\n## Table 6 layout (per image; ± std over seeds)\n\n" + report.markdown_table(t6, c6)
          + "\n\n## Region PSNR vs mask similarity (Spearman ρ over all regions of all images, first seed)\n\n"
          + "\n".join(f"- {s}% sparsity: ρ = {v[0]:.3f} over {v[1]} regions" for s, v in rho.items())
          + "\n\n## Collapse report (first seed; raw mean Jaccard, detector skips the dense level; "
          f"drop = region PSNR {cfg.psnr_drop_db} dB below its dense value)\n\n" + "\n\n".join(coll_md)
          + "\n\n## Figures\n\n" + "\n\n".join(md_fig) + "\n")
    results = {"command": cmd.strip(), "config": config_lib.to_dict(cfg), "run_dir": str(run_dir), "rows": rows,
               "table2": t2, "table6": t6, "curves": curves, "spearman": rho, "seconds_per_image": seconds,
               "seconds": total, "regions": {im.name: im.labels.tolist() for im in images}}
    csv_rows = [{k: v for k, v in r.items() if k != "region_psnr"} for r in rows]
    paths = report.write_results(run_dir, results, md, report.csv_table(csv_rows, list(csv_rows[0])))
    print(md)
    log(f"total {total:.1f}s; results: " + " ".join(str(p) for p in paths.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
