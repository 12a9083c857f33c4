"""experiments.analyze (and experiments.collapse_study) on a tiny real search: sklearn digits, 10 class tickets."""
import json
import shutil

import jax
import numpy as np
import pytest

from experiments import analyze, collapse_study
from rtl_jax import alignment as align_lib
from rtl_jax import collapse as collapse_lib

STUDY_ARGS = ["--set", "data.name=digits", "--set", "search.epochs=1", "--set", "search.batch_size=32",
              "--set", "prune.amount=0.5", "--set", "prune.target_sparsity=0.75", "--set", "prune.milestones=[]",
              "--mantel-permutations", "0", "--no-progress"]
FASHION = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A finished collapse study (offline search + online search with the stop rule + analysis): 3 levels."""
    work = tmp_path_factory.mktemp("runs")
    assert collapse_study.main(STUDY_ARGS + ["--workdir", str(work)]) == 0
    (run_dir,) = work.iterdir()
    return run_dir


def _json(path):
    return json.loads(path.read_text())


def _metrics(run_dir, level):
    return _json(run_dir / "seed_0" / "search" / f"level_{level:03d}" / "metrics.json")


def test_study_writes_analysis_with_sane_numbers(run):
    out = run / "analysis" / "seed_0"
    res = _json(out / "analysis.json")
    for f in res["figures"]:
        assert (out / f).stat().st_size > 10_000, f
    assert set(res["figures"]) >= {"fig2_panels_raw.png", "fig2_panels_chance_corrected.png",
                                   "fig2_overlay_chance_corrected.png", "similarity_by_depth.png"}
    levels = res["levels"]
    assert [lv["level"] for lv in levels] == [0, 1, 2]
    np.testing.assert_allclose([lv["sparsity"] for lv in levels], [0.0, 0.5, 0.75], atol=1e-4)
    assert res["names"] == [str(d) for d in range(10)]
    assert res["depth_groups"] == {"shallow": ["Dense_0/kernel"], "middle": ["Dense_1/kernel"],
                                   "deep": ["head/kernel"]}
    for lv in levels:
        # the masks keep exactly the planned share of prunable weights, every ticket
        np.testing.assert_allclose(lv["density"], [1.0 - lv["sparsity"]] * 10, atol=1e-4)
        assert lv["accuracy"] == pytest.approx([m["ba"] for m in _metrics(run, lv["level"])["metrics"]], rel=1e-6)
    dense = levels[0]
    assert np.all(np.asarray(dense["jaccard"]) == 1.0) and dense["mean_similarity"] == [1.0] * 10
    assert dense["mean_corrected"] == [None] * 10  # undefined at the dense level (NaN -> null)
    for lv in levels[1:]:
        sim = np.asarray(lv["mean_similarity"])
        assert np.all(sim < 1.0) and np.all(sim > np.asarray(lv["mean_chance"]))  # IMP masks overlap above chance
        jac = np.asarray(lv["jaccard"])
        np.testing.assert_array_equal(jac, jac.T)
        np.testing.assert_allclose(sim, (jac.sum(1) - 1.0) / 9, rtol=1e-6)
    assert res["alignment"] is None and "no WordNet table for dataset 'digits'" in res["alignment_note"]
    assert res["heatmap_levels"] == [1, 2]  # nothing fired: the last level, and the one closest to 50%


def test_accuracy_drop_and_warning_report_match_metrics(run):
    res = _json(run / "analysis" / "seed_0" / "analysis.json")
    thr = 0.05
    ba = np.array([[m["ba"] for m in _metrics(run, lv)["metrics"]] for lv in range(3)]).T  # [K, L]
    for use in ("raw", "chance_corrected"):
        det = res["detection"][use]
        assert det["available"] and len(det["tickets"]) == 10
        for k, t in enumerate(det["tickets"]):
            drops = [lv for lv in (1, 2) if ba[k, lv] < ba[k, 0] - thr]
            assert t["drop_index"] == (drops[0] if drops else None)
            # 3 levels with skip=1 leave no step with min_history=3 earlier steps: the detector cannot fire
            assert t["collapse_index"] is None and np.isnan(np.array(t["z"], float)).all()
            assert t["outcome"] == ("missed" if drops else "no_collapse")
        assert det["stop_level_any"] is None and det["stop_level_mean"] is None
    md = (run / "analysis" / "seed_0" / "analysis.md").read_text()
    assert "## Collapse detection from masks alone" in md and "![fig2_panels_raw.png](fig2_panels_raw.png)" in md
    summary = (run / "analysis" / "analysis.md").read_text()
    assert "[seed_0/analysis.md](seed_0/analysis.md)" in summary


def test_study_results_and_online_search(run):
    results = _json(run / "results.json")
    (seed,) = results["seeds"]
    assert seed["levels"] == 3 and seed["total_prunable"] == 64 * 300 + 300 * 100 + 100 * 10
    online = seed["online"]
    assert online["levels_run"] == 3 and online["stopped_at_level"] is None and online["agree"] is True
    assert not (run / "seed_0" / "search_online" / "STOPPED").exists()
    # the online search is the same computation as the offline one
    for lv in range(3):
        a = _metrics(run, lv)["metrics"]
        b = _json(run / "seed_0" / "search_online" / f"level_{lv:03d}" / "metrics.json")["metrics"]
        assert a == b
    assert "| 0 | 3 |" in (run / "results.md").read_text()


def test_partial_and_stopped_runs(run, tmp_path):
    part = tmp_path / "partial"
    shutil.copytree(run, part, ignore=shutil.ignore_patterns("analysis", "search_online"))
    (part / "seed_0" / "search" / "level_002" / "DONE").unlink()  # level 2 "still running"
    (part / "seed_0" / "search" / "STOPPED").write_text(json.dumps({"level": 1, "reason": "stop_rule"}))
    args = ["--mantel-permutations", "0", "--figures", "none"]
    assert analyze.main([str(part), "--out", str(tmp_path / "a"), *args]) == 0
    res = _json(tmp_path / "a" / "seed_0" / "analysis.json")
    assert len(res["levels"]) == 2 and res["stopped"] == {"level": 1, "reason": "stop_rule"}
    assert res["heatmap_levels"] == [1] and res["figures"] == [] and not list((tmp_path / "a").rglob("*.png"))
    assert "ended by a stop rule after level 1" in (tmp_path / "a" / "seed_0" / "analysis.md").read_text()
    (part / "seed_0" / "search" / "level_001" / "DONE").unlink()  # a gap: only level 0 counts
    shutil.copytree(part / "seed_0", part / "seed_1")  # a second seed: figures only for the first one
    assert analyze.main([str(part), "--out", str(tmp_path / "b"), "--mantel-permutations", "0",
                         "--figures", "first"]) == 0
    res = _json(tmp_path / "b" / "seed_0" / "analysis.json")
    assert len(res["levels"]) == 1 and res["heatmap_levels"] == [0]
    assert res["figures"] == ["fig2_panels_raw.png", "fig2_panels_chance_corrected.png",
                              "fig2_overlay_chance_corrected.png", "similarity_by_depth.png",
                              "fig3e_heatmaps_level_000.png"]
    for f in res["figures"]:  # single-point curves still plot
        assert (tmp_path / "b" / "seed_0" / f).stat().st_size > 10_000
    assert _json(tmp_path / "b" / "seed_1" / "analysis.json")["figures"] == []
    assert [s["seed"] for s in _json(tmp_path / "b" / "analysis.json")["seeds"]] == [0, 1]


def test_alignment_with_a_wordnet_table(run, tmp_path):
    """Force the Fashion-MNIST table onto the 10 digit tickets (names relabelled) to check the alignment path."""
    opts = analyze.AnalysisOptions(wordnet="fashion_mnist", classes=("Shirt",), mantel_permutations=19)
    res = analyze.analyze_seed(run, 0, tmp_path / "al", options=opts, names=FASHION, dataset_name="digits",
                               spec=None)
    al = res["alignment"]
    assert al["table"] == "fashion_mnist" and set(al["curves"]) == {"shallow", "middle", "deep", "global"}
    sem = align_lib.semantic_matrix("fashion_mnist", FASHION)
    for g in ("shallow", "middle", "deep"):
        assert np.isnan(al["curves"][g][0])  # dense level: every Jaccard is 1, rho undefined
        for i in (1, 2):
            jac = np.asarray(res["levels"][i]["groups"][g]["jaccard"])
            assert al["curves"][g][i] == pytest.approx(align_lib.spearman_upper(jac, sem))
    assert list(al["mantel"]) == ["1", "2"]
    p = al["mantel"]["2"]["global"]["p"]
    assert 1 / 20 <= p <= 1.0 and round(p * 20) == pytest.approx(p * 20)  # (1 + hits) / (1 + 19)
    for f in ("fig3a_alignment.png", "wordnet_similarity.png", "fig3cd_alignment_Shirt.png"):
        assert (tmp_path / "al" / f).stat().st_size > 10_000
    with pytest.raises(ValueError, match=r"class names \['0'"):
        analyze.analyze_seed(run, 0, tmp_path / "bad", options=opts, dataset_name="digits")


def test_cli_errors(run, tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json not found"):
        analyze.main([str(tmp_path)])
    with pytest.raises(IndexError, match=r"heat-map levels \[7\] out of range: the run has 3 finished levels"):
        analyze.main([str(run), "--out", str(tmp_path / "o"), "--heatmap-levels", "1,7"])
    with pytest.raises(ValueError, match="no field|unknown|not a field"):
        analyze.main([str(run), "--out", str(tmp_path / "o"), "--detector", "threshold=3"])
    with pytest.raises(ValueError, match="metric 'f1' missing"):
        analyze.main([str(run), "--out", str(tmp_path / "o"), "--metric", "f1", "--mantel-permutations", "0"])


def test_helpers_hand_values(tmp_path):
    assert analyze.depth_groups_for(["a", "b", "c", "d"]) == {"shallow": ["a", "b"], "middle": ["c"], "deep": ["d"]}
    assert analyze.depth_groups_for(["a", "b"]) == {"shallow": ["a"], "deep": ["b"]}
    assert analyze.depth_groups_for(["a"]) == {"all": ["a"]}
    sp = [0.0, 0.2, 0.36, 0.488, 0.5904, 0.6723]
    assert analyze.choose_heatmap_levels(sp, 5, None) == [3, 4]  # before the collapse; closest to 50%
    assert analyze.choose_heatmap_levels(sp, None, None) == [3, 5]
    assert analyze.choose_heatmap_levels(sp, 4, None) == [3]
    assert analyze.choose_heatmap_levels(sp, 5, (2, 0, 2)) == [0, 2]
    np.testing.assert_allclose(analyze._to_log_density([0.0, 90.0, 99.0]), [0.0, 1.0, 2.0], atol=1e-12)
    np.testing.assert_allclose(analyze._from_log_density([1.0, 2.0]), [90.0, 99.0])
    # online vs offline: a firing at the last level cannot stop run_search (the rule is not consulted there)
    d = tmp_path / "online"
    d.mkdir()
    assert collapse_study.online_comparison(4, 5, [None] * 5, d)["agree"] is True
    levels = [type("L", (), {"sparsity": s})() for s in sp]
    (d / "STOPPED").write_text(json.dumps({"level": 3, "reason": "stop_rule"}))
    cmp = collapse_study.online_comparison(3, 6, levels[:4], d)
    assert (cmp["agree"], cmp["kept_level"], cmp["kept_sparsity"]) == (True, 2, 0.36)
    assert collapse_study.online_comparison(2, 6, levels[:4], d)["agree"] is False
    assert collapse_lib.CollapseConfig(skip=1) == collapse_study.CollapseStudy().detector


def test_stop_layers_picks_a_depth_group():
    from rtl_jax import masks
    from rtl_jax.models import get_model

    spec = get_model("lenet_300_100", num_outputs=10, input_shape=(8, 8, 1), hidden=(8, 4), prune_head=True)
    params = spec.init(jax.random.key(0))["params"]
    pr = masks.select_prunable(params, spec.prunable_include, spec.prunable_exclude, verbose=False)
    assert collapse_study.stop_layers("", spec, pr) is None
    assert collapse_study.stop_layers("deep", spec, pr) == ["head/kernel"]
    assert collapse_study.stop_layers("shallow", spec, pr) == ["Dense_0/kernel"]
    with pytest.raises(ValueError, match=r"stop.group 'last' is not a depth group of this model: \['deep'"):
        collapse_study.stop_layers("last", spec, pr)
