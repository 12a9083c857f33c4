"""Figures: titles, axis labels and legends are present; PNGs are written and non-trivial."""
import numpy as np
import pytest
from matplotlib import image as mpimg

from rtl_jax import plots as P

NAMES = ["cat", "dog", "truck"]
SPARSITY = 1 - 0.8 ** np.arange(8)
ACC = np.stack([np.linspace(0.9, 0.6, 8), np.linspace(0.92, 0.5, 8), np.full(8, 0.88)])
SIM = np.stack([np.linspace(1.0, 0.4, 8), np.linspace(1.0, 0.5, 8), np.linspace(1.0, 0.3, 8)])
CHANCE = (lambda d: d / (2 - d))(1 - SPARSITY)


def check_png(path, min_bytes=10_000):
    assert path.is_file() and path.stat().st_size > min_bytes
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    img = mpimg.imread(path)
    assert img.ndim == 3 and img.shape[0] > 200 and img.shape[1] > 300
    assert img[..., :3].std() > 0.05  # not a blank canvas
    return img


def axis_texts(fig):
    axes = [a for a in fig.axes if a.get_visible()]
    return {a.get_xlabel() for a in axes}, {a.get_ylabel() for a in axes}, {a.get_title() for a in axes}


def legend_texts(fig):
    legends = list(fig.legends) + [a.get_legend() for a in fig.axes if a.get_legend() is not None]
    return [t.get_text() for lg in legends for t in lg.get_texts()]


def test_accuracy_similarity_panels(tmp_path):
    fig = P.accuracy_similarity_figure(SPARSITY, ACC, SIM, NAMES, collapse_levels=[5, None, 6],
                                       drop_levels=[6, 7, None], chance=CHANCE)
    assert fig.get_suptitle() == "Accuracy and mask similarity vs sparsity"
    xl, yl, titles = axis_texts(fig)
    assert "sparsity (%)" in xl and {"accuracy", "similarity"} <= yl and set(NAMES) <= titles
    assert legend_texts(fig) == ["accuracy", "mean Jaccard to other tickets", "random-mask chance",
                                 "collapse detected", "accuracy drop"]
    # the collapse marker of ticket 0 sits at sparsity[5] (in %)
    vlines = [ln.get_xdata()[0] for ln in fig.axes[0].get_lines() if ln.get_linestyle() == "--"]
    assert vlines == [pytest.approx(100 * SPARSITY[5])]
    path = P.plot_accuracy_similarity(SPARSITY, ACC, SIM, NAMES, tmp_path / "fig2.png", collapse_levels=[5, None, 6])
    check_png(path)


def test_accuracy_similarity_overlay(tmp_path):
    fig = P.accuracy_similarity_figure(SPARSITY, ACC, SIM, NAMES, collapse_levels=[5, None, 6], layout="overlay")
    xl, yl, titles = axis_texts(fig)
    assert xl == {"sparsity (%)"} and yl == {"accuracy", "mean Jaccard to other tickets"}
    assert set(NAMES) <= set(legend_texts(fig)) and "collapse detected" in legend_texts(fig)
    check_png(P.plot_accuracy_similarity(SPARSITY, ACC, SIM, NAMES, tmp_path / "o.png", layout="overlay"))


def test_accuracy_similarity_errors(tmp_path):
    with pytest.raises(ValueError, match="names has 2 entries for 3 tickets"):
        P.accuracy_similarity_figure(SPARSITY, ACC, SIM, NAMES[:2])
    with pytest.raises(IndexError, match="collapse_levels index 8 out of range for 8 levels"):
        P.accuracy_similarity_figure(SPARSITY, ACC, SIM, NAMES, collapse_levels=[8, None, None])
    with pytest.raises(ValueError, match="chance must be"):
        P.accuracy_similarity_figure(SPARSITY, ACC, SIM, NAMES, chance=CHANCE[:3])
    with pytest.raises(ValueError, match="layout"):
        P.accuracy_similarity_figure(SPARSITY, ACC, SIM, NAMES, layout="grid")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        P.plot_accuracy_similarity(SPARSITY, ACC, SIM, NAMES, tmp_path / "missing" / "f.png")
    with pytest.raises(ValueError, match="PNG"):
        P.plot_accuracy_similarity(SPARSITY, ACC, SIM, NAMES, tmp_path / "f.pdf")


def test_jaccard_heatmaps(tmp_path):
    rng = np.random.default_rng(0)
    mats = {}
    for g, base in (("shallow", 0.86), ("middle", 0.5), ("deep", 0.31)):
        m = base + 0.05 * rng.random((3, 3))
        m = (m + m.T) / 2
        np.fill_diagonal(m, 1.0)
        mats[g] = m
    fig = P.jaccard_heatmaps_figure(mats, NAMES)
    titles = [a.get_title() for a in fig.axes]
    mean_deep = mats["deep"][~np.eye(3, dtype=bool)].mean()
    assert f"deep (mean off-diagonal {mean_deep:.3f})" in titles
    assert [a.get_ylabel() for a in fig.axes if a.get_label() == "<colorbar>"] == ["Jaccard"] * 3
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == NAMES
    assert sum(len(a.texts) for a in fig.axes) == 3 * 6  # annotated off-diagonal cells
    check_png(P.plot_jaccard_heatmaps(mats, NAMES, tmp_path / "fig3e.png"))
    with pytest.raises(ValueError, match="matrix 'deep' has shape"):
        P.jaccard_heatmaps_figure({"deep": np.eye(4)}, NAMES)


def test_alignment_plot(tmp_path):
    curves = {"shallow": np.array([np.nan, 0.3, 0.5, 0.2]), "deep": np.array([np.nan, 0.1, 0.4, 0.6])}
    fig = P.alignment_figure([0.0, 0.2, 0.36, 0.49], curves)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "sparsity (%)" and ax.get_ylabel() == "Spearman ρ" and ax.get_title()
    assert legend_texts(fig) == ["shallow", "deep"]
    np.testing.assert_allclose(ax.get_lines()[0].get_xdata(), [0, 20, 36, 49])
    check_png(P.plot_alignment([0.0, 0.2, 0.36, 0.49], curves, tmp_path / "fig3a.png"), min_bytes=5_000)
    fig = P.alignment_figure([1, 2, 3, 4], curves, percent=False, xlabel="epoch")
    assert fig.axes[0].get_xlabel() == "epoch"
    with pytest.raises(ValueError, match=r"curve 'shallow' has shape \(4,\); expected \(2,\)"):
        P.alignment_figure([0.0, 0.5], curves)
