"""Collapse detector, online stopping rule and warning report on synthetic curves with known breaks."""
import dataclasses

import numpy as np
import pytest

from rtl_jax import collapse as C

CFG = C.CollapseConfig()  # z >= 4, |dev| >= 0.05, scale floor 0.01, >= 3 baseline steps, window 6


def step_curve(n: int, at: int, jump: float, slope: float = -0.01, start: float = 0.5) -> np.ndarray:
    """A line with slope ``slope`` per level and a jump of ``jump`` between levels at-1 and at."""
    t = np.arange(n)
    return start + slope * t + np.where(t >= at, jump, 0.0)


def first_online_stop(curve, cfg) -> int | None:
    for t in range(len(curve)):
        if C.should_stop(curve[: t + 1], cfg):
            return t
    return None


def test_fires_at_known_upward_break_with_hand_computed_score():
    y = step_curve(14, at=9, jump=0.3)
    res = C.detect_collapse(np.arange(14) / 14, y, CFG)
    # baseline steps all -0.01: median -0.01, MAD 0 -> scale = floor 0.01; step 9 = 0.29 -> dev 0.30, z = 30
    assert res.fired and res.level_index == 9 and res.direction == "up"
    assert res.level == pytest.approx(9 / 14)
    assert res.score == pytest.approx(30.0)
    assert np.isnan(res.z[:4]).all() and res.z[4] == pytest.approx(0.0)  # first judged step: 1 + min_history


def test_fires_at_known_downward_break():
    # INR-style (paper Fig. 5): stable, then similarity falls towards zero
    y = np.array([0.60, 0.61, 0.60, 0.61, 0.60, 0.61, 0.60, 0.35, 0.15, 0.05])
    res = C.detect_collapse(np.linspace(0.1, 0.95, 10), y, CFG)
    # steps before 7: ±0.01 -> window [+.01 -.01 +.01 -.01 +.01 -.01]: median 0, MAD 0.01 -> scale 0.014826
    assert res.fired and res.level_index == 7 and res.direction == "down"
    assert res.score == pytest.approx(-0.25 / (1.4826 * 0.01))


@pytest.mark.parametrize(
    "name, curve",
    [
        ("linear", 0.9 - 0.04 * np.arange(20)),
        ("chance d/(2-d) vs sparsity", (lambda d: d / (2 - d))(1 - np.linspace(0.0, 0.95, 20))),
        ("chance d/(2-d), geometric IMP schedule", (lambda d: d / (2 - d))(0.8 ** np.arange(20))),
        ("gentle convex rise", 0.3 + 0.5 * np.linspace(0, 1, 20) ** 2),
        ("flat", np.full(20, 0.4)),
    ],
)
def test_does_not_fire_on_smooth_curves(name, curve):
    res = C.detect_collapse(np.arange(len(curve)), curve, CFG)
    assert not res.fired, (name, res)
    assert res.level_index is None and res.direction is None
    assert first_online_stop(curve, CFG) is None


def test_does_not_fire_on_smooth_curve_with_small_noise():
    rng = np.random.default_rng(0)
    for _ in range(20):
        curve = 0.8 - 0.03 * np.arange(16) + rng.normal(0, 0.004, 16)
        assert not C.detect_collapse(np.arange(16), curve, CFG).fired


def test_imp_like_curve_with_dense_level_zero():
    # level 0 is dense (J = 1), then tickets diverge, then collapse: the large first drop sits in the
    # baseline and median/MAD ignore it, so skip=0 and skip=1 agree.
    y = np.array([1.0, 0.62, 0.55, 0.50, 0.46, 0.43, 0.41, 0.40, 0.70, 0.80])
    for skip in (0, 1):
        res = C.detect_collapse(np.arange(10), y, dataclasses.replace(CFG, skip=skip))
        assert (res.fired, res.level_index, res.direction) == (True, 8, "up")
    # skipped levels may be undefined (chance-corrected similarity is NaN at the dense level)
    y_nan = np.concatenate([[np.nan], y[1:]])
    assert C.detect_collapse(np.arange(10), y_nan, dataclasses.replace(CFG, skip=1)).level_index == 8
    assert C.should_stop(y_nan[:9], dataclasses.replace(CFG, skip=1))
    with pytest.raises(ValueError, match=r"non-finite values at level indices \[0\]"):
        C.detect_collapse(np.arange(10), y_nan, CFG)


def test_thresholds_and_direction_filter():
    flat_then_jump = step_curve(10, at=7, jump=0.04, slope=0.0)
    # z = 0.04 / 0.01 = 4 reaches z_threshold, but |dev| = 0.04 < min_change = 0.05
    res = C.detect_collapse(np.arange(10), flat_then_jump, CFG)
    assert not res.fired and res.score == pytest.approx(4.0)
    assert C.detect_collapse(np.arange(10), flat_then_jump, dataclasses.replace(CFG, min_change=0.04)).fired
    down = step_curve(12, at=8, jump=-0.3)
    assert not C.detect_collapse(np.arange(12), down, dataclasses.replace(CFG, direction="up")).fired
    assert C.detect_collapse(np.arange(12), down, dataclasses.replace(CFG, direction="down")).level_index == 8


def test_online_rule_agrees_with_offline_detection():
    rng = np.random.default_rng(3)
    curves = [step_curve(15, at=a, jump=j) + rng.normal(0, 0.003, 15) for a, j in ((5, 0.2), (9, -0.25), (12, 0.1))]
    for y in curves:
        res = C.detect_collapse(np.arange(15), y, CFG)
        assert res.fired
        assert first_online_stop(y, CFG) == res.level_index
    # [K, t] history: stops when any ticket fires
    hist = np.stack([0.5 - 0.01 * np.arange(10), step_curve(10, at=9, jump=0.3)])
    assert not C.should_stop(hist[:, :9], CFG)
    assert C.should_stop(hist, CFG)
    assert not C.should_stop(hist[0], CFG)


def test_per_ticket_detection_and_scores():
    sims = np.stack([step_curve(12, at=6, jump=0.2), 0.5 - 0.02 * np.arange(12)])
    res = C.detect_collapse_per_ticket(np.arange(12), sims, CFG)
    assert [r.level_index for r in res] == [6, None]
    z = C.collapse_scores(sims[0], CFG)
    assert z.shape == (12,) and z[6] == pytest.approx(res[0].score)


def test_accuracy_drop_level_hand_values():
    lv = np.arange(5)
    acc = [0.90, 0.91, 0.89, 0.84, 0.70]
    assert C.accuracy_drop_level(lv, acc, 0.05) == 3  # 0.84 < 0.90 - 0.05
    assert C.accuracy_drop_level(lv, acc, 0.10) == 4  # 0.70 < 0.80
    acc = [0.80, 0.90, 0.86, 0.84]
    assert C.accuracy_drop_level(lv[:4], acc, 0.05) is None  # never below 0.75
    assert C.accuracy_drop_level(lv[:4], acc, 0.05, reference="best") == 3  # 0.84 < 0.90 - 0.05
    with pytest.raises(ValueError, match="threshold must be > 0"):
        C.accuracy_drop_level(lv[:4], acc, 0.0)


def test_warning_report_outcomes():
    n = 12
    lv = np.linspace(0.2, 0.97, n)
    flat_acc = np.full(n, 0.9)
    drop_at = lambda t: np.where(np.arange(n) >= t, 0.7, 0.9)  # noqa: E731
    smooth = 0.5 - 0.01 * np.arange(n)
    sims = np.stack([step_curve(n, 7, 0.3), step_curve(n, 9, 0.3), smooth, step_curve(n, 6, 0.3), smooth])
    accs = np.stack([drop_at(8), drop_at(8), drop_at(8), flat_acc, flat_acc])
    names = ["a", "b", "c", "d", "e"]
    rep = C.warning_report(lv, sims, accs, names, CFG, acc_threshold=0.05)
    assert [r.outcome for r in rep] == ["in_time", "late", "missed", "false_alarm", "no_collapse"]
    assert [r.lead for r in rep] == [1, -1, None, None, None]
    assert rep[0].collapse_index == 7 and rep[0].drop_index == 8 and rep[0].drop_level == pytest.approx(lv[8])
    md = C.warning_markdown(rep)
    assert f"| a | {lv[7]:.3f} (7) | up | {lv[8]:.3f} (8) | in_time | 1 |" in md
    assert md.splitlines()[-1] == "in_time: 1, late: 1, missed: 1, false_alarm: 1, no_collapse: 1"
    with pytest.raises(ValueError, match="names has 2 entries for 5 tickets"):
        C.warning_report(lv, sims, accs, names[:2], CFG, acc_threshold=0.05)


def test_config_and_input_validation():
    with pytest.raises(ValueError, match="z_threshold"):
        C.CollapseConfig(z_threshold=0)
    with pytest.raises(ValueError, match="window must be None or an int >= min_history=3"):
        C.CollapseConfig(window=2)
    with pytest.raises(ValueError, match="direction"):
        C.CollapseConfig(direction="sideways")
    with pytest.raises(ValueError, match="strictly increasing"):
        C.detect_collapse([0.0, 0.5, 0.5], [0.1, 0.2, 0.3], CFG)
    with pytest.raises(ValueError, match=r"non-finite values at level indices \[1\]"):
        C.detect_collapse([0, 1, 2], [0.1, np.nan, 0.3], CFG)
    with pytest.raises(ValueError, match="one entry per level"):
        C.detect_collapse([0, 1], [0.1, 0.2, 0.3], CFG)
    with pytest.raises(ValueError, match=r"\[K, L\]"):
        C.detect_collapse_per_ticket([0, 1], [0.1, 0.2], CFG)
    assert hash(CFG) == hash(C.CollapseConfig())  # frozen, hashable (usable as a static jit argument)


def test_detector_fires_from_masks_alone():
    """Random nested masks per ticket (similarity near chance) until level 7, then all tickets share a mask."""
    import jax.numpy as jnp

    from rtl_jax import similarity as S

    rng = np.random.default_rng(0)
    n, k, levels = 4000, 4, 11
    orders = [rng.permutation(n) for _ in range(k)]
    common = rng.permutation(n)
    sim = []
    for lv in range(levels):
        keep = int(round(n * 0.8**lv))
        rows = []
        for t in range(k):
            order = common if lv >= 7 else orders[t]
            m = np.zeros(n, bool)
            m[order[:keep]] = True
            rows.append(m)
        jac = S.jaccard_matrix({"w": jnp.asarray(np.stack(rows))}, {"w": True})
        sim.append(float(S.mean_offdiagonal(jac)))
    sparsity = 1 - 0.8 ** np.arange(levels)
    res = C.detect_collapse(sparsity, sim, dataclasses.replace(CFG, skip=1))
    assert (res.fired, res.level_index, res.direction) == (True, 7, "up")
    assert first_online_stop(np.array(sim), dataclasses.replace(CFG, skip=1)) == 7


# --------------------------------------------------------------------------- stopping rule (make_stop_rule)
@dataclasses.dataclass
class FakeLevel:
    """What the stop rule reads from a rtl_jax.search.SearchLevel."""

    level: int
    sparsity: float
    masks: dict


def _stacked(rows, n_bias=2):
    """Stacked mask {"w": rows (prunable), "b": all True (not prunable)} and its prunable tree."""
    import jax.numpy as jnp

    w = np.asarray(rows, bool)
    return {"w": jnp.asarray(w), "b": jnp.ones((w.shape[0], n_bias), bool)}, {"w": True, "b": False}


def test_ticket_similarity_hand_values():
    # J01 = 2/4, J02 = 0/6, J12 = 1/5; every density 1/2 -> chance 1/3 -> corrected = 1.5 J - 0.5
    stacked, pr = _stacked([[1, 1, 1, 0, 0, 0], [1, 1, 0, 1, 0, 0], [0, 0, 0, 1, 1, 1]])
    np.testing.assert_allclose(C.ticket_similarity(stacked, pr, "raw"), [0.25, 0.35, 0.1], rtol=1e-6)
    np.testing.assert_allclose(C.ticket_similarity(stacked, pr, "chance_corrected"), [-0.125, 0.025, -0.35],
                               rtol=1e-5, atol=1e-7)
    dense, pr = _stacked(np.ones((3, 6)))
    np.testing.assert_array_equal(C.ticket_similarity(dense, pr, "raw"), [1.0, 1.0, 1.0])
    assert np.isnan(C.ticket_similarity(dense, pr, "chance_corrected")).all()  # J = Jc = 1 at the dense level
    with pytest.raises(ValueError, match="use must be one of"):
        C.ticket_similarity(stacked, pr, "iou")
    one, pr = _stacked([[1, 0, 1, 0, 1, 0]])
    with pytest.raises(ValueError, match="at least 2 tickets, got K=1"):
        C.ticket_similarity(one, pr, "raw")


# Two tickets over 100 weights: ticket 0 keeps [0, c), ticket 1 keeps [c - o, 2c - o): overlap o, union 60,
# so J = o / 60: 1 (dense), then 0.6, 0.5, 0.4, 0.3, 0.2 (steps of -0.1) and a jump back to 0.6 at level 6.
KEEP_OVERLAP = [(48, 36), (45, 30), (42, 24), (39, 18), (36, 12), (48, 36)]


def _fake_levels():
    n = 100
    levels = [FakeLevel(0, 0.0, _stacked(np.ones((2, n)))[0])]
    for i, (c, o) in enumerate(KEEP_OVERLAP, start=1):
        rows = np.zeros((2, n), bool)
        rows[0, :c] = True
        rows[1, c - o: 2 * c - o] = True
        levels.append(FakeLevel(i, 1 - c / n, _stacked(rows)[0]))  # the rule never reads .sparsity
    return levels, {"w": True, "b": False}


def test_stop_rule_raw_fires_at_the_jump():
    levels, pr = _fake_levels()
    np.testing.assert_allclose([C.ticket_similarity(lv.masks, pr, "raw")[0] for lv in levels],
                               [1.0, 0.6, 0.5, 0.4, 0.3, 0.2, 0.6], rtol=1e-6)
    cfg = dataclasses.replace(CFG, skip=1)
    for reduce in ("any", "mean"):
        rule = C.make_stop_rule(pr, cfg, use="raw", reduce=reduce)
        # steps 2..5 are -0.1 (z = 0 at step 5, the first judged one); step 6 is +0.4: dev 0.5, z = 0.5 / 0.01
        assert [rule(levels[: t + 1]) for t in range(7)] == [False] * 6 + [True]
    res = C.detect_collapse([lv.level for lv in levels],
                            [C.ticket_similarity(lv.masks, pr, "raw")[0] for lv in levels], cfg)
    assert (res.level_index, res.direction) == (6, "up") and res.score == pytest.approx(50.0, rel=1e-4)


def test_stop_rule_chance_corrected_matches_hand_curve():
    levels, pr = _fake_levels()
    cfg = dataclasses.replace(CFG, skip=1)
    rule = C.make_stop_rule(pr, cfg)  # default: chance-corrected, any ticket
    # by hand: densities d = c / 100, chance Jc = d / (2 - d), corrected (J - Jc) / (1 - Jc)
    hand = [np.nan]
    for c, o in KEEP_OVERLAP:
        d, j = c / 100, o / 60
        jc = d / (2 - d)
        hand.append((j - jc) / (1 - jc))
    got = [C.ticket_similarity(lv.masks, pr, "chance_corrected") for lv in levels]
    np.testing.assert_allclose([g[0] for g in got[1:]], hand[1:], rtol=1e-5)
    np.testing.assert_allclose([g[1] for g in got[1:]], hand[1:], rtol=1e-5)  # symmetric pair
    assert hand[5] == pytest.approx(-0.025, abs=1e-3) and hand[6] == pytest.approx(0.4154, abs=1e-4)
    decisions = [rule(levels[: t + 1]) for t in range(7)]
    assert decisions == [C.should_stop(np.array(hand[: t + 1]), cfg) for t in range(7)]
    assert decisions == [False] * 6 + [True]


def test_stop_rule_validation():
    levels, pr = _fake_levels()
    with pytest.raises(ValueError, match="needs cfg.skip >= 1"):
        C.make_stop_rule(pr, CFG, use="chance_corrected")
    with pytest.raises(ValueError, match="use must be one of"):
        C.make_stop_rule(pr, CFG, use="jaccard")
    with pytest.raises(ValueError, match="reduce must be one of"):
        C.make_stop_rule(pr, CFG, use="raw", reduce="all")
    with pytest.raises(ValueError, match="cfg must be a CollapseConfig"):
        C.make_stop_rule(pr, {"z_threshold": 4}, use="raw")
    rule = C.make_stop_rule(pr, CFG, use="raw")
    with pytest.raises(ValueError, match="at least one finished level"):
        rule([])
    assert rule(levels[:1]) is False  # the dense level alone never stops


def test_both_dense_makes_corrected_similarity_undefined_at_the_dense_level():
    import jax.numpy as jnp

    # layer sizes where the float32 chance level of two dense masks is not exactly 1
    stacked = {"a": jnp.ones((3, 1000), bool), "b": jnp.ones((3, 300, 100), bool)}
    pr = {"a": True, "b": True}
    stacked["b"] = stacked["b"].at[2, 0, 0].set(False)  # ticket 2 drops one weight of layer b
    expected = np.array([[1, 1, 0], [1, 1, 0], [0, 0, 0]], bool)
    np.testing.assert_array_equal(C.both_dense(stacked, pr), expected)
    np.testing.assert_array_equal(C.both_dense(stacked, pr, ["a"]), np.ones((3, 3), bool))
    with pytest.raises(ValueError, match=r"paths \['c'\] are not prunable leaves"):
        C.both_dense(stacked, pr, ["c"])
    # one dense 1000-weight layer: float32 chance = 1 + 1.2e-7, so (J - Jc) / (1 - Jc) alone would give 1.0
    dense = {"a": jnp.ones((2, 1000), bool)}
    assert np.isnan(C.ticket_similarity(dense, {"a": True}, "chance_corrected")).all()


def test_stop_rule_restricted_to_layers():
    """Layer "w" has the jump at level 6; layer "v" keeps identical masks in both tickets (J = 1, flat)."""
    import jax.numpy as jnp

    levels, _ = _fake_levels()
    pr = {"w": True, "v": True, "b": False}
    for i, lv in enumerate(levels):
        v = np.zeros((2, 50), bool)
        v[:, : 50 - 5 * i] = True
        lv.masks = {**lv.masks, "v": jnp.asarray(v)}
    cfg = dataclasses.replace(CFG, skip=1)
    on_w = C.make_stop_rule(pr, cfg, use="raw", layers=["w"])
    on_v = C.make_stop_rule(pr, cfg, use="raw", layers=["v"])
    assert [on_w(levels[: t + 1]) for t in range(7)] == [False] * 6 + [True]
    assert not any(on_v(levels[: t + 1]) for t in range(7))
    np.testing.assert_array_equal(C.ticket_similarity(levels[6].masks, pr, "raw", layers=["v"]), [1.0, 1.0])
    # over both layers: (36 + 20) / (60 + 20) at level 6
    assert C.ticket_similarity(levels[6].masks, pr, "raw")[0] == pytest.approx(56 / 80)
    assert C.restrict_prunable(pr, ["v"]) == {"w": False, "v": True, "b": False}
    with pytest.raises(ValueError, match=r"layers \['b'\] are not prunable paths"):
        C.make_stop_rule(pr, cfg, use="raw", layers=["b"])
    with pytest.raises(ValueError, match="layers is empty"):
        C.restrict_prunable(pr, [])
