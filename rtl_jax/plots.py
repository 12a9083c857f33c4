"""Figures of the paper's diagnostics (Fig. 2 and Fig. 3), written as PNG files.

Each ``plot_*`` function writes a PNG and returns its path; the matching ``*_figure`` function returns
the ``matplotlib.figure.Figure`` (for tests, or to save in another format).

Matplotlib's object API only (``matplotlib.figure.Figure``, rendered by the Agg canvas): no pyplot, no
global figure state and no display, so it is safe in tests, threads and headless runs.

* :func:`plot_accuracy_similarity` — Fig. 2: accuracy and mask similarity vs sparsity per ticket, with
  the detected collapse onset (and optionally the accuracy-drop level and the random-mask chance level).
* :func:`plot_jaccard_heatmaps` — Fig. 3E: Jaccard matrices per depth group (also usable for the WordNet
  matrix).
* :func:`plot_alignment` — Fig. 3A–D: Spearman correlation curves vs sparsity or training stage.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

ACC_COLOR = "tab:blue"
SIM_COLOR = "tab:orange"
CHANCE_COLOR = "0.55"
COLLAPSE_COLOR = "tab:red"
DROP_COLOR = "black"


def _save(fig: Figure, path) -> Path:
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot write {path}: directory {path.parent} does not exist")
    if path.suffix.lower() != ".png":
        raise ValueError(f"plots are written as PNG; got path {path}")
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=120)
    return path


def _per_ticket(name: str, v, k: int) -> list:
    if v is None:
        return [None] * k
    v = list(v)
    if len(v) != k:
        raise ValueError(f"{name} has {len(v)} entries for {k} tickets")
    return v


def _level_index(name: str, i, n_levels: int) -> int | None:
    if i is None:
        return None
    if int(i) != i or not 0 <= int(i) < n_levels:
        raise IndexError(f"{name} index {i!r} out of range for {n_levels} levels")
    return int(i)


def plot_accuracy_similarity(sparsity, accuracy, similarity, names: Sequence[str], path, **kwargs) -> Path:
    """Fig. 2: write :func:`accuracy_similarity_figure` to ``path`` (PNG) and return the path."""
    return _save(accuracy_similarity_figure(sparsity, accuracy, similarity, names, **kwargs), path)


def accuracy_similarity_figure(
    sparsity,
    accuracy,
    similarity,
    names: Sequence[str],
    *,
    collapse_levels: Sequence[int | None] | None = None,
    drop_levels: Sequence[int | None] | None = None,
    chance=None,
    layout: Literal["panels", "overlay"] = "panels",
    title: str = "Accuracy and mask similarity vs sparsity",
    acc_label: str = "accuracy",
    sim_label: str = "mean Jaccard to other tickets",
) -> Figure:
    """Fig. 2: accuracy and similarity vs sparsity for each ticket.

    Args:
      sparsity: ``[L]`` fraction removed at each level (plotted in %).
      accuracy, similarity: ``[K, L]`` per ticket and level.
      names: K ticket names (e.g. class names).
      collapse_levels: per ticket, the level *index* where the collapse detector fired (or None).
      drop_levels: per ticket, the level index where accuracy first dropped (or None).
      chance: the random-mask similarity, ``[L]`` or ``[K, L]`` (dashed grey), or None.
      layout: "panels" (one panel per ticket, two y axes) or "overlay" (two panels, all tickets).
    """
    x = 100.0 * np.asarray(sparsity, dtype=np.float64)
    acc = np.asarray(accuracy, dtype=np.float64)
    sim = np.asarray(similarity, dtype=np.float64)
    if x.ndim != 1 or acc.ndim != 2 or acc.shape != sim.shape or acc.shape[1] != x.shape[0]:
        raise ValueError(f"need sparsity [L] and accuracy, similarity [K, L]; got {x.shape}, {acc.shape}, {sim.shape}")
    k, n_levels = acc.shape
    if len(names) != k:
        raise ValueError(f"names has {len(names)} entries for {k} tickets")
    coll = [_level_index("collapse_levels", i, n_levels) for i in _per_ticket("collapse_levels", collapse_levels, k)]
    drop = [_level_index("drop_levels", i, n_levels) for i in _per_ticket("drop_levels", drop_levels, k)]
    ch = None
    if chance is not None:
        ch = np.asarray(chance, dtype=np.float64)
        if ch.shape == (n_levels,):
            ch = np.broadcast_to(ch, (k, n_levels))
        if ch.shape != (k, n_levels):
            raise ValueError(f"chance must be [L] or [K, L] = [{k}, {n_levels}], got {np.shape(chance)}")
    if layout == "panels":
        fig = _panels(x, acc, sim, names, coll, drop, ch, acc_label, sim_label)
    elif layout == "overlay":
        fig = _overlay(x, acc, sim, names, coll, drop, ch, acc_label, sim_label)
    else:
        raise ValueError(f"layout must be 'panels' or 'overlay', got {layout!r}")
    fig.suptitle(title)
    return fig


def _legend_handles(coll, drop, ch, acc_label, sim_label) -> list[Line2D]:
    h = [
        Line2D([], [], color=ACC_COLOR, marker="o", ms=3, label=acc_label),
        Line2D([], [], color=SIM_COLOR, marker="s", ms=3, label=sim_label),
    ]
    if ch is not None:
        h.append(Line2D([], [], color=CHANCE_COLOR, ls="--", label="random-mask chance"))
    if any(c is not None for c in coll):
        h.append(Line2D([], [], color=COLLAPSE_COLOR, ls="--", label="collapse detected"))
    if any(d is not None for d in drop):
        h.append(Line2D([], [], color=DROP_COLOR, ls=":", label="accuracy drop"))
    return h


def _panels(x, acc, sim, names, coll, drop, ch, acc_label, sim_label) -> Figure:
    k = acc.shape[0]
    ncols = min(5, k)
    nrows = math.ceil(k / ncols)
    fig = Figure(figsize=(3.3 * ncols, 2.7 * nrows + 1.1), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False)).ravel()
    lo = np.nanmin(acc)
    hi = np.nanmax(acc)
    pad = 0.05 * max(hi - lo, 1e-3)
    twins = []
    for i, ax in enumerate(axes):
        if i >= k:
            ax.set_visible(False)
            continue
        ax.plot(x, acc[i], color=ACC_COLOR, marker="o", ms=3)
        ax.set_ylim(lo - pad, hi + pad)
        ax.tick_params(axis="y", labelcolor=ACC_COLOR)
        ax.grid(alpha=0.3)
        tw = ax.twinx()
        twins.append(tw)
        tw.plot(x, sim[i], color=SIM_COLOR, marker="s", ms=3)
        if ch is not None:
            tw.plot(x, ch[i], color=CHANCE_COLOR, ls="--", lw=1)
        tw.set_ylim(-0.02, 1.02)
        tw.tick_params(axis="y", labelcolor=SIM_COLOR)
        if i % ncols != ncols - 1 and i != k - 1:
            tw.tick_params(labelright=False)
        else:
            tw.set_ylabel("similarity", color=SIM_COLOR)
        if coll[i] is not None:
            ax.axvline(x[coll[i]], color=COLLAPSE_COLOR, ls="--", lw=1.2)
        if drop[i] is not None:
            ax.axvline(x[drop[i]], color=DROP_COLOR, ls=":", lw=1.2)
        ax.set_title(str(names[i]), fontsize=10)
        if i % ncols == 0:
            ax.set_ylabel(acc_label, color=ACC_COLOR)
        if i >= k - ncols:
            ax.set_xlabel("sparsity (%)")
    fig.legend(handles=_legend_handles(coll, drop, ch, acc_label, sim_label), loc="outside lower center", ncols=5)
    return fig


def _overlay(x, acc, sim, names, coll, drop, ch, acc_label, sim_label) -> Figure:
    k = acc.shape[0]
    fig = Figure(figsize=(12, 4.6), layout="constrained")
    ax_a, ax_s = fig.subplots(1, 2, sharex=True)
    colors = [f"C{i % 10}" for i in range(k)]
    styles = ["-", "--", "-.", ":"]
    for i in range(k):
        ls = styles[(i // 10) % len(styles)]
        ax_a.plot(x, acc[i], color=colors[i], ls=ls, marker="o", ms=3, label=str(names[i]))
        ax_s.plot(x, sim[i], color=colors[i], ls=ls, marker="s", ms=3)
        if coll[i] is not None:
            ax_s.plot(x[coll[i]], sim[i, coll[i]], marker="X", ms=10, color=COLLAPSE_COLOR, mec="white", zorder=5)
        if drop[i] is not None:
            ax_a.plot(x[drop[i]], acc[i, drop[i]], marker="v", ms=9, color=DROP_COLOR, mec="white", zorder=5)
    if ch is not None:
        ax_s.plot(x, ch.mean(axis=0), color=CHANCE_COLOR, ls="--", lw=1.5, label="random-mask chance")
    if any(c is not None for c in coll):
        ax_s.plot([], [], ls="", marker="X", ms=10, color=COLLAPSE_COLOR, label="collapse detected")
    if any(d is not None for d in drop):
        ax_a.plot([], [], ls="", marker="v", ms=9, color=DROP_COLOR, label="accuracy drop")
    ax_a.set(xlabel="sparsity (%)", ylabel=acc_label, title=f"{acc_label} per ticket")
    ax_s.set(xlabel="sparsity (%)", ylabel=sim_label, title=f"{sim_label} per ticket", ylim=(-0.02, 1.02))
    for ax in (ax_a, ax_s):
        ax.grid(alpha=0.3)
    ax_a.legend(fontsize=8, ncols=2 if k > 6 else 1)
    if ch is not None or any(c is not None for c in coll):
        ax_s.legend(fontsize=8)
    return fig


def plot_jaccard_heatmaps(matrices: Mapping[str, np.ndarray], names: Sequence[str], path, **kwargs) -> Path:
    """Fig. 3E: write :func:`jaccard_heatmaps_figure` to ``path`` (PNG) and return the path."""
    return _save(jaccard_heatmaps_figure(matrices, names, **kwargs), path)


def jaccard_heatmaps_figure(
    matrices: Mapping[str, np.ndarray],
    names: Sequence[str],
    *,
    title: str = "Mask Jaccard similarity between tickets",
    value_label: str = "Jaccard",
    annotate: bool | None = None,
) -> Figure:
    """Fig. 3E: one heat map per group (e.g. shallow / middle / deep).

    The diagonal (always 1) is greyed out so that the colour scale shows the off-diagonal structure;
    each panel has its own scale and states its mean off-diagonal value. Cells are annotated with
    values when ``annotate`` is True (default: when K <= 12).
    """
    if not matrices:
        raise ValueError("matrices is empty; expected {group: [K, K]}")
    k = len(names)
    mats = {}
    for g, m in matrices.items():
        m = np.asarray(m, dtype=np.float64)
        if m.shape != (k, k):
            raise ValueError(f"matrix {g!r} has shape {m.shape}; expected ({k}, {k}) for {k} names")
        mats[g] = m
    if annotate is None:
        annotate = k <= 12
    n = len(mats)
    side = max(3.6, 0.42 * k + 1.6)
    fig = Figure(figsize=((side + 1.6) * n, side + 0.7), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, n, squeeze=False)).ravel()
    off = ~np.eye(k, dtype=bool)
    for ax, (g, m) in zip(axes, mats.items(), strict=True):
        shown = np.where(off, m, np.nan)
        vals = m[off]
        vmin, vmax = (float(np.nanmin(vals)), float(np.nanmax(vals))) if k > 1 else (0.0, 1.0)
        if vmax - vmin < 1e-9:
            vmin, vmax = vmin - 0.01, vmax + 0.01
        im = ax.imshow(shown, cmap="viridis", vmin=vmin, vmax=vmax)
        ax.set_facecolor("0.85")
        ax.set_xticks(range(k), [str(s) for s in names], rotation=60, ha="right", fontsize=8)
        ax.set_yticks(range(k), [str(s) for s in names], fontsize=8)
        mean = float(np.nanmean(vals)) if k > 1 else float("nan")
        ax.set_title(f"{g} (mean off-diagonal {mean:.3f})", fontsize=10)
        fig.colorbar(im, ax=ax, shrink=0.8, label=value_label)
        if annotate:
            mid = (vmin + vmax) / 2
            for i in range(k):
                for j in range(k):
                    if i != j:
                        ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=6.5,
                                color="black" if m[i, j] > mid else "white")
    fig.suptitle(title)
    return fig


def plot_alignment(levels, curves: Mapping[str, np.ndarray], path, **kwargs) -> Path:
    """Fig. 3A–D: write :func:`alignment_figure` to ``path`` (PNG) and return the path."""
    return _save(alignment_figure(levels, curves, **kwargs), path)


def alignment_figure(
    levels,
    curves: Mapping[str, np.ndarray],
    *,
    xlabel: str = "sparsity (%)",
    percent: bool = True,
    title: str = "Semantic alignment: Spearman ρ between mask Jaccard and WordNet similarity",
    ylabel: str = "Spearman ρ",
) -> Figure:
    """Fig. 3A–D: one correlation curve per label (e.g. depth group, or "cat / deep").

    ``levels`` are the x values (sparsity fractions shown in % when ``percent``, or training stages with
    ``percent=False``); NaN correlations (undefined levels) leave gaps.
    """
    x = np.asarray(levels, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"levels must be 1-D, got shape {x.shape}")
    if not curves:
        raise ValueError("curves is empty; expected {label: [rho per level]}")
    xs = 100.0 * x if percent else x
    fig = Figure(figsize=(7.5, 4.6), layout="constrained")
    ax = fig.subplots()
    markers = ["o", "s", "^", "D", "v", "P", "X", "*"]
    for i, (label, rho) in enumerate(curves.items()):
        r = np.asarray(rho, dtype=np.float64)
        if r.shape != x.shape:
            raise ValueError(f"curve {label!r} has shape {r.shape}; expected {x.shape} (one value per level)")
        ax.plot(xs, r, marker=markers[i % len(markers)], ms=4, label=str(label))
    ax.axhline(0.0, color="0.5", lw=0.8)
    ax.set(xlabel=xlabel, ylabel=ylabel, ylim=(-1.05, 1.05))
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig
