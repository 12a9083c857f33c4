"""Label-free detection of subnetwork collapse from mask-similarity curves, and a stopping rule.

The paper (rtl-paper §6) reads collapse off curves: past some sparsity, tickets' masks become highly
overlapping and accuracy falls sharply (CIFAR-10: past 70–80%). Its INR figures disagree on the
direction (similarity rises in Figs. 6–7, falls in Fig. 5), so we detect a sharp change of the
similarity curve in **either** direction (configurable).

Method: robust z-score of first differences against the recent past
----------------------------------------------------------------------
For a similarity curve ``y_0, …, y_{L-1}`` over pruning levels, step ``t`` changes the curve by
``Δ_t = y_t − y_{t−1}``. Its baseline is the previous ``window`` steps (at least ``min_history``):

    center = median(baseline),   scale = max(1.4826 · MAD(baseline), min_scale)
    dev_t  = Δ_t − center,       z_t = dev_t / scale

Level ``t`` is flagged when ``|z_t| ≥ z_threshold`` **and** ``|dev_t| ≥ min_change`` (and the sign of
``dev_t`` matches ``direction``). The detector reports the first flagged level: collapse *begins*
between levels ``t−1`` and ``t``, so ``t−1`` holds the last masks before it.

Why this and not a piecewise-linear change point:

* **Causal, one point at a time.** ``z_t`` uses only levels ``≤ t``, so the online stopping rule
  (:func:`should_stop`, fed one new level per IMP round) fires at exactly the level the offline detector
  reports, with no look-ahead. A two-segment fit needs points after the break before it can see it,
  i.e. more pruning rounds past the onset.
* **Scale-free in the right way.** A smooth curve (linear, or gently convex such as the random-mask
  level ``d/(2−d)``) has first differences that drift slowly; the trailing ``window`` and the robust
  median/MAD follow that drift, so gentle curvature gives small ``|z|``. A break is a step that is
  large *relative to the recent per-level changes*.
* **Robust.** Median/MAD ignore a single odd level in the baseline (for instance the large first drop
  from the dense level 0, where every mask is identical).
* ``min_scale`` keeps a perfectly flat baseline (MAD = 0) from turning tiny noise into huge ``z``;
  ``min_change`` is the smallest absolute jump (in similarity units, e.g. Jaccard) worth calling collapse.

Steps are per **level** (pruning round), not per unit of sparsity: ``levels`` (sparsity, or level index)
are only carried into the results. With a fixed-count schedule the two are proportional; with a
fixed-fraction schedule a level is a fixed step in log-density, which is the scale IMP works on.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Literal

import numpy as np

from rtl_jax import masks as masks_lib
from rtl_jax import similarity as sim_lib
from rtl_jax import tree as tree_lib

Direction = Literal["both", "up", "down"]
_MAD_TO_SIGMA = 1.4826


@dataclasses.dataclass(frozen=True)
class CollapseConfig:
    """Thresholds of the collapse detector (see the module docstring for the method).

    Attributes:
      z_threshold: smallest ``|z|`` (robust z-score of a step against its baseline) that can fire.
      min_change: smallest absolute deviation of a step from the baseline median (similarity units).
      min_scale: floor of the robust scale (similarity units per level); avoids dividing by MAD = 0.
      min_history: number of baseline steps needed before a step can be judged.
      window: number of trailing steps in the baseline; ``None`` uses every earlier step.
      skip: leading levels ignored entirely (e.g. 1 to drop the dense level 0); they may be NaN (the
        chance-corrected similarity is undefined at the dense level).
      direction: "both", "up" (similarity rises faster than its trend) or "down".
    """

    z_threshold: float = 4.0
    min_change: float = 0.05
    min_scale: float = 0.01
    min_history: int = 3
    window: int | None = 6
    skip: int = 0
    direction: Direction = "both"

    def __post_init__(self):
        if not self.z_threshold > 0:
            raise ValueError(f"z_threshold must be > 0, got {self.z_threshold}")
        if not self.min_change >= 0:
            raise ValueError(f"min_change must be >= 0, got {self.min_change}")
        if not self.min_scale > 0:
            raise ValueError(f"min_scale must be > 0, got {self.min_scale}")
        if int(self.min_history) != self.min_history or self.min_history < 2:
            raise ValueError(f"min_history must be an int >= 2, got {self.min_history}")
        if self.window is not None and (int(self.window) != self.window or self.window < self.min_history):
            raise ValueError(f"window must be None or an int >= min_history={self.min_history}, got {self.window}")
        if int(self.skip) != self.skip or self.skip < 0:
            raise ValueError(f"skip must be an int >= 0, got {self.skip}")
        if self.direction not in ("both", "up", "down"):
            raise ValueError(f"direction must be 'both', 'up' or 'down', got {self.direction!r}")


@dataclasses.dataclass(frozen=True)
class CollapseResult:
    """Outcome of :func:`detect_collapse` on one curve.

    Attributes:
      fired: whether a collapse onset was found.
      level_index: index of the first flagged level (collapse happens between ``level_index-1`` and it).
      level: ``levels[level_index]`` (e.g. the sparsity), or ``None``.
      direction: "up" or "down" when fired, else ``None``.
      score: ``z`` at the flagged level; if not fired, the largest ``|z|`` seen (NaN if none was defined).
      z: the causal z-score of every level (NaN where undefined), for plots and reports.
    """

    fired: bool
    level_index: int | None
    level: float | None
    direction: str | None
    score: float
    z: tuple[float, ...]


def _as_curve(similarity, name: str = "similarity", skip: int = 0) -> np.ndarray:
    """1-D float curve; values from index ``skip`` on must be finite (skipped levels may be NaN)."""
    y = np.asarray(similarity, dtype=np.float64)
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one value per level), got shape {y.shape}")
    bad = skip + np.flatnonzero(~np.isfinite(y[skip:]))
    if bad.size:
        raise ValueError(f"{name} has non-finite values at level indices {bad.tolist()}: {y[bad].tolist()}")
    return y


def _as_levels(levels, n: int) -> np.ndarray:
    x = np.asarray(levels, dtype=np.float64)
    if x.ndim != 1 or x.shape[0] != n:
        raise ValueError(f"levels must be 1-D with one entry per level ({n}), got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"levels must be finite, got {x.tolist()}")
    if n > 1 and not np.all(np.diff(x) > 0):
        raise ValueError(f"levels must be strictly increasing, got {x.tolist()}")
    return x


def _step_stats(y: np.ndarray, t: int, cfg: CollapseConfig) -> tuple[float, float]:
    """``(z_t, dev_t)`` of step t, or NaNs when its baseline is too short."""
    first = cfg.skip + 1  # first step whose both ends are kept
    lo = first if cfg.window is None else max(first, t - cfg.window)
    if t < first or t - lo < cfg.min_history:
        return float("nan"), float("nan")
    base = np.diff(y[lo - 1 : t])  # steps lo .. t-1
    center = float(np.median(base))
    scale = max(_MAD_TO_SIGMA * float(np.median(np.abs(base - center))), cfg.min_scale)
    dev = float(y[t] - y[t - 1]) - center
    return dev / scale, dev


def _fires(z: float, dev: float, cfg: CollapseConfig) -> str | None:
    if not np.isfinite(z) or abs(z) < cfg.z_threshold or abs(dev) < cfg.min_change:
        return None
    d = "up" if dev > 0 else "down"
    return d if cfg.direction in ("both", d) else None


def collapse_scores(similarity, cfg: CollapseConfig) -> np.ndarray:
    """Causal robust z-score of every level's step (NaN where undefined), shape ``[L]``."""
    y = _as_curve(similarity, skip=cfg.skip)
    return np.array([_step_stats(y, t, cfg)[0] for t in range(len(y))])


def detect_collapse(levels, similarity, cfg: CollapseConfig) -> CollapseResult:
    """First level at which the similarity curve changes sharply (see module docstring)."""
    y = _as_curve(similarity, skip=cfg.skip)
    x = _as_levels(levels, len(y))
    zs = []
    for t in range(len(y)):
        z, dev = _step_stats(y, t, cfg)
        zs.append(z)
        d = _fires(z, dev, cfg)
        if d is not None:
            zs += [_step_stats(y, u, cfg)[0] for u in range(t + 1, len(y))]
            return CollapseResult(True, t, float(x[t]), d, z, tuple(zs))
    finite = [abs(z) for z in zs if np.isfinite(z)]
    return CollapseResult(False, None, None, None, max(finite) if finite else float("nan"), tuple(zs))


def detect_collapse_per_ticket(levels, similarity, cfg: CollapseConfig) -> list[CollapseResult]:
    """:func:`detect_collapse` on each row of ``similarity`` ``[K, L]`` (one curve per ticket)."""
    s = np.asarray(similarity, dtype=np.float64)
    if s.ndim != 2:
        raise ValueError(f"similarity must be [K, L] (tickets x levels), got shape {s.shape}")
    return [detect_collapse(levels, row, cfg) for row in s]


def should_stop(similarity_history, cfg: CollapseConfig) -> bool:
    """Online stopping rule: does the **latest** level show a collapse onset?

    ``similarity_history`` holds the similarity of every level so far: ``[t+1]`` for one curve (e.g. the
    mean over tickets), or ``[K, t+1]`` for per-ticket curves, where any ticket firing stops. When it
    returns True, stop pruning and keep the masks of the previous level. Called after each level, it
    first returns True at exactly the level :func:`detect_collapse` reports on the full curve.
    """
    h = np.asarray(similarity_history, dtype=np.float64)
    rows = h[None] if h.ndim == 1 else h
    if rows.ndim != 2 or rows.shape[1] == 0:
        raise ValueError(f"similarity_history must be [t] or [K, t] with t >= 1, got shape {h.shape}")
    for r in rows:
        y = _as_curve(r, "similarity_history", skip=cfg.skip)
        z, dev = _step_stats(y, len(y) - 1, cfg)
        if _fires(z, dev, cfg) is not None:
            return True
    return False


# --------------------------------------------------------------------------- validation against accuracy
def accuracy_drop_level(
    levels, accuracy, threshold: float, reference: Literal["initial", "best"] = "initial"
) -> int | None:
    """Index of the first level whose accuracy is more than ``threshold`` below the reference, else None.

    ``reference="initial"``: the first level's accuracy (the dense network for IMP level 0);
    ``"best"``: the best accuracy of the levels before it (a drop from the running maximum).
    ``threshold`` is absolute, in the accuracy's units (e.g. 0.05 = five points of a [0, 1] accuracy).
    """
    acc = _as_curve(accuracy, "accuracy")
    _as_levels(levels, len(acc))
    if not threshold > 0:
        raise ValueError(f"threshold must be > 0, got {threshold}")
    if reference not in ("initial", "best"):
        raise ValueError(f"reference must be 'initial' or 'best', got {reference!r}")
    for t in range(1, len(acc)):
        ref = acc[0] if reference == "initial" else float(np.max(acc[:t]))
        if acc[t] < ref - threshold:
            return t
    return None


#: Possible :attr:`TicketWarning.outcome` values.
OUTCOMES: tuple[str, ...] = ("in_time", "late", "missed", "false_alarm", "no_collapse")


@dataclasses.dataclass(frozen=True)
class TicketWarning:
    """Did the detector warn before a ticket's accuracy dropped?

    ``outcome`` is one of: "in_time" (fired at or before the drop), "late" (fired after it), "missed"
    (accuracy dropped, no firing), "false_alarm" (fired, accuracy never dropped), "no_collapse" (neither).
    ``lead`` is ``drop_index - collapse_index`` in levels (positive = early warning) when both exist.
    """

    name: str
    collapse_index: int | None
    collapse_level: float | None
    direction: str | None
    drop_index: int | None
    drop_level: float | None
    outcome: str
    lead: int | None


def warning_report(
    levels,
    similarity,
    accuracy,
    names: Sequence[str],
    cfg: CollapseConfig,
    acc_threshold: float,
    reference: Literal["initial", "best"] = "initial",
) -> list[TicketWarning]:
    """Per ticket: where the detector fires, where accuracy first drops, and whether it warned in time.

    ``similarity`` and ``accuracy`` are ``[K, L]`` (tickets x levels); ``names`` has K entries.
    """
    x = np.asarray(levels, dtype=np.float64)
    sim = np.asarray(similarity, dtype=np.float64)
    acc = np.asarray(accuracy, dtype=np.float64)
    if sim.ndim != 2 or acc.shape != sim.shape:
        raise ValueError(f"similarity and accuracy must both be [K, L]; got {sim.shape} and {acc.shape}")
    if len(names) != sim.shape[0]:
        raise ValueError(f"names has {len(names)} entries for {sim.shape[0]} tickets")
    out = []
    for name, s_row, a_row in zip(names, sim, acc, strict=True):
        res = detect_collapse(x, s_row, cfg)
        drop = accuracy_drop_level(x, a_row, acc_threshold, reference)
        if res.fired and drop is not None:
            outcome = "in_time" if res.level_index <= drop else "late"
        elif drop is not None:
            outcome = "missed"
        else:
            outcome = "false_alarm" if res.fired else "no_collapse"
        out.append(
            TicketWarning(
                name=str(name),
                collapse_index=res.level_index,
                collapse_level=res.level,
                direction=res.direction,
                drop_index=drop,
                drop_level=None if drop is None else float(x[drop]),
                outcome=outcome,
                lead=None if (drop is None or not res.fired) else drop - res.level_index,
            )
        )
    return out


def warning_markdown(report: Sequence[TicketWarning], level_name: str = "sparsity", fmt: str = "{:.3f}") -> str:
    """Markdown table of a :func:`warning_report`, with a closing line counting outcomes."""

    def f(v):
        return "–" if v is None else fmt.format(v)

    lines = [
        f"| ticket | collapse {level_name} (level) | direction | accuracy-drop {level_name} (level) "
        "| outcome | lead (levels) |",
        "|---|---|---|---|---|---|",
    ]
    for r in report:
        ci = "" if r.collapse_index is None else f" ({r.collapse_index})"
        di = "" if r.drop_index is None else f" ({r.drop_index})"
        lines.append(
            f"| {r.name} | {f(r.collapse_level)}{ci} | {r.direction or '–'} | {f(r.drop_level)}{di} | "
            f"{r.outcome} | {'–' if r.lead is None else r.lead} |"
        )
    counts = {o: sum(r.outcome == o for r in report) for o in OUTCOMES}
    lines.append("")
    lines.append(", ".join(f"{k}: {v}" for k, v in counts.items()))
    return "\n".join(lines)


# --------------------------------------------------------------------------- stopping rule for Algorithm 1
#: Which per-ticket similarity feeds the stopping rule (see :func:`ticket_similarity`).
SIMILARITY_KINDS: tuple[str, ...] = ("raw", "chance_corrected")
#: How per-ticket curves combine in the stopping rule: any ticket firing stops, or the mean curve fires.
REDUCTIONS: tuple[str, ...] = ("any", "mean")


def both_dense(stacked, prunable, paths=None) -> np.ndarray:
    """``[K, K]`` bool: tickets i and j both keep every prunable weight (of the layers ``paths``; default all).

    There the chance-corrected similarity is undefined (``J = Jc = 1``). Decided from exact integer counts:
    the float chance level of two dense masks can round to slightly above or below 1.
    """
    kept = {p: np.asarray(v) for p, v in masks_lib.kept_count_per_layer(stacked, prunable, stacked=True).items()}
    sizes = sim_lib.leaf_sizes(stacked, prunable)
    paths = list(kept) if paths is None else list(paths)
    unknown = [p for p in paths if p not in kept]
    if unknown:
        raise ValueError(f"paths {unknown} are not prunable leaves; prunable leaves: {list(kept)}")
    dense = np.all([kept[p] == sizes[p] for p in paths], axis=0)
    return dense[:, None] & dense[None, :]


def restrict_prunable(prunable, layers: Sequence[str]):
    """``prunable`` with only the leaves at ``layers`` (e.g. one depth group) left prunable.

    Raises ``ValueError`` naming the entries of ``layers`` that are not prunable paths, and for an empty
    ``layers``.
    """
    layers = list(layers)
    if not layers:
        raise ValueError("layers is empty; expected prunable paths such as 'head/kernel'")
    known = [p for p, is_p in tree_lib.flatten_with_paths(prunable) if is_p is True]
    unknown = [p for p in layers if p not in known]
    if unknown:
        raise ValueError(f"layers {unknown} are not prunable paths; prunable paths: {known}")
    chosen = set(layers)
    return tree_lib.map_with_path(lambda p, is_p: bool(is_p) and p in chosen, prunable)


def ticket_similarity(stacked, prunable, use: Literal["raw", "chance_corrected"],
                      layers: Sequence[str] | None = None) -> np.ndarray:
    """Each ticket's mean similarity to the other tickets at one level, from masks alone, ``[K]`` float64.

    ``use="raw"``: the paper's score, mean global Jaccard to the other tickets (rtl-paper §6).
    ``use="chance_corrected"`` (an extension): the mean over the other tickets of ``(J - Jc) / (1 - Jc)``,
    where ``Jc`` is the Jaccard of random masks with the same per-layer densities
    (:func:`rtl_jax.similarity.chance_jaccard_matrix`); NaN where both tickets are fully dense
    (:func:`both_dense`), e.g. at IMP level 0. Needs K >= 2 tickets (``ValueError`` otherwise).
    ``layers``: compute over these prunable layers only (e.g. the deep group), default all.
    """
    if use not in SIMILARITY_KINDS:
        raise ValueError(f"use must be one of {list(SIMILARITY_KINDS)}, got {use!r}")
    if layers is not None:
        prunable = restrict_prunable(prunable, layers)
    jac = sim_lib.jaccard_matrix(stacked, prunable)
    k = int(np.shape(jac)[0])
    if k < 2:
        raise ValueError(f"ticket similarity needs at least 2 tickets, got K={k}")
    if use == "raw":
        return np.asarray(sim_lib.mean_similarity(jac), dtype=np.float64)
    cor = np.asarray(sim_lib.chance_corrected(jac, sim_lib.chance_jaccard_matrix(stacked, prunable)), np.float64)
    cor = np.where(both_dense(stacked, prunable), np.nan, cor)
    off = ~np.eye(k, dtype=bool)
    return cor[off].reshape(k, k - 1).mean(axis=1)


def make_stop_rule(
    prunable,
    cfg: CollapseConfig,
    *,
    use: Literal["raw", "chance_corrected"] = "chance_corrected",
    reduce: Literal["any", "mean"] = "any",
    layers: Sequence[str] | None = None,
):
    """A ``stop_rule(levels) -> bool`` for :func:`rtl_jax.search.run_search` (Algorithm 1).

    ``levels`` is the list of finished levels so far (objects with a stacked bool ``.masks``, e.g.
    :class:`rtl_jax.search.SearchLevel`), level 0 (dense) first. The rule computes every level's per-ticket
    similarity (:func:`ticket_similarity`, masks only, no labels) and applies :func:`should_stop` to the
    ``[K, levels]`` history (``reduce="any"``: stop when any ticket's curve fires) or to the mean curve over
    tickets (``reduce="mean"``). It returns True at exactly the level :func:`detect_collapse` flags on the
    same curves offline; the caller then keeps the masks of the previous level. ``layers`` restricts the
    similarity to some prunable layers (e.g. a depth group; validated here).

    The chance-corrected similarity is undefined (NaN) at the dense level 0, so ``use="chance_corrected"``
    requires ``cfg.skip >= 1`` (``ValueError`` here, before any pruning).
    """
    if use not in SIMILARITY_KINDS:
        raise ValueError(f"use must be one of {list(SIMILARITY_KINDS)}, got {use!r}")
    if reduce not in REDUCTIONS:
        raise ValueError(f"reduce must be one of {list(REDUCTIONS)}, got {reduce!r}")
    if not isinstance(cfg, CollapseConfig):
        raise ValueError(f"cfg must be a CollapseConfig, got {type(cfg).__name__}")
    if layers is not None:
        prunable = restrict_prunable(prunable, layers)
    if use == "chance_corrected" and cfg.skip < 1:
        raise ValueError(
            "use='chance_corrected' needs cfg.skip >= 1: the chance-corrected similarity is undefined (NaN) at "
            f"the dense level 0; got skip={cfg.skip}"
        )

    def stop_rule(levels) -> bool:
        if len(levels) == 0:
            raise ValueError("stop_rule needs at least one finished level")
        history = np.stack([ticket_similarity(lv.masks, prunable, use) for lv in levels], axis=1)  # [K, t]
        return should_stop(history.mean(axis=0) if reduce == "mean" else history, cfg)

    return stop_rule
