"""WordNet tables, Spearman over matrix pairs, alignment curves and the Mantel test."""
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from rtl_jax import alignment as A

REPO = Path(__file__).resolve().parents[1]
CIFAR10 = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
FMNIST = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def sym(upper: list[float], k: int, diag: float = 1.0) -> np.ndarray:
    """Symmetric [k, k] matrix from its row-major upper triangle."""
    m = np.full((k, k), diag)
    m[np.triu_indices(k, 1)] = upper
    return np.triu(m) + np.triu(m, 1).T


def test_shipped_tables_are_consistent():
    assert A.available_wordnet_tables() == ["cifar10", "fashion_mnist"]
    for name, classes in (("cifar10", CIFAR10), ("fashion_mnist", FMNIST)):
        names, m = A.load_wordnet_table(name)
        info = A.wordnet_table_info(name)
        assert names == classes and m.shape == (10, 10)
        np.testing.assert_array_equal(m, m.T)
        np.testing.assert_array_equal(np.diag(m), np.ones(10))
        np.testing.assert_allclose(m, 1.0 / (1.0 + np.asarray(info["path_length"])), rtol=1e-15)
        assert len(info["synsets"]) == 10
        prov = info["provenance"]
        assert prov["wordnet_version"] == "3.0" and prov["debian_package"].startswith("wordnet-base ")
        assert prov["generated_by"] == "scripts/make_wordnet_table.py" and prov["nltk_version"]
    names, m = A.load_wordnet_table("cifar10")
    i = {c: k for k, c in enumerate(names)}
    assert m[i["cat"], i["dog"]] == pytest.approx(1 / 5)  # cat -> feline -> carnivore <- canine <- dog
    assert m[i["automobile"], i["truck"]] == pytest.approx(1 / 3)  # both motor vehicles
    assert m[i["cat"], i["dog"]] > m[i["cat"], i["truck"]]
    names, m = A.load_wordnet_table("fashion_mnist")
    assert m[names.index("T-shirt/top"), names.index("Shirt")] == pytest.approx(1 / 2)
    with pytest.raises(ValueError, match="unknown WordNet table 'cifar100'"):
        A.load_wordnet_table("cifar100")


def test_semantic_matrix_reorders_to_ticket_order():
    names, m = A.load_wordnet_table("cifar10")
    sub = A.semantic_matrix("cifar10", ["truck", "cat", "automobile"])
    np.testing.assert_allclose(sub, [[1, m[9, 3], 1 / 3], [m[3, 9], 1, m[3, 1]], [1 / 3, m[1, 3], 1]])
    with pytest.raises(ValueError, match=r"\['lion'\] are not in WordNet table 'cifar10'"):
        A.semantic_matrix("cifar10", ["cat", "lion"])


def test_spearman_upper_hand_computed():
    # K = 3: pairs (01, 02, 12). a = [1, 2, 3], b = [3, 1, 2]: d = [-2, 1, 1], Σd² = 6,
    # rho = 1 - 6·6 / (3·(9 - 1)) = -0.5
    assert A.spearman_upper(sym([1, 2, 3], 3), sym([3, 1, 2], 3)) == pytest.approx(-0.5)
    # K = 4 (6 pairs): ranks of a = [1, 4, 2, 6, 5, 3], b in order: Σd² = 0+4+1+4+0+9 = 18,
    # rho = 1 - 6·18 / (6·35) = 17/35
    a = sym([0.1, 0.4, 0.2, 0.9, 0.5, 0.3], 4)
    b = sym([1, 2, 3, 4, 5, 6], 4)
    assert A.spearman_upper(a, b) == pytest.approx(17 / 35)
    # ties get average ranks: a = [1, 1, 2] -> [1.5, 1.5, 3] vs [1, 2, 3]: Pearson = 1.5 / sqrt(1.5·2) = sqrt(3)/2
    assert A.spearman_upper(sym([1, 1, 2], 3), sym([1, 2, 3], 3)) == pytest.approx(np.sqrt(3) / 2)
    assert A.spearman_upper(a, b) == pytest.approx(stats.spearmanr(A.upper_pairs(a), A.upper_pairs(b)).statistic)


def test_spearman_upper_uses_only_the_upper_triangle():
    a = sym([0.1, 0.4, 0.2, 0.9, 0.5, 0.3], 4)
    b = sym([1, 2, 3, 4, 5, 6], 4)
    a2 = a.copy()
    a2[np.tril_indices(4, -1)] = [9, -3, 7, 0, 5, 2]  # lower triangle and diagonal are ignored
    np.fill_diagonal(a2, [5, 6, 7, 8])
    assert A.spearman_upper(a2, b) == A.spearman_upper(a, b)
    np.testing.assert_array_equal(A.upper_pairs(a2), [0.1, 0.4, 0.2, 0.9, 0.5, 0.3])


def test_spearman_undefined_and_errors():
    assert np.isnan(A.spearman_upper(np.ones((4, 4)), sym([1, 2, 3, 4, 5, 6], 4)))  # all masks dense
    with pytest.raises(ValueError, match="non-finite"):
        A.spearman_upper(sym([1, np.nan, 3], 3), sym([1, 2, 3], 3))
    with pytest.raises(ValueError, match="differ in shape"):
        A.spearman_upper(np.eye(3), np.eye(4))
    with pytest.raises(ValueError, match="square"):
        A.spearman_upper(np.ones((3, 4)), np.ones((3, 4)))
    with pytest.raises(ValueError, match="K >= 3"):
        A.spearman_upper(np.eye(2), np.eye(2))


def test_class_row_correlation_hand_computed():
    # row 0 without the diagonal: a = [0.3, 0.1, 0.2] (ranks 3, 1, 2), b = [0.5, 0.9, 0.1] (ranks 2, 3, 1)
    # d = [1, -2, 1], Σd² = 6 -> rho = 1 - 36/24 = -0.5
    a = sym([0.3, 0.1, 0.2, 0.0, 0.0, 0.0], 4)
    b = sym([0.5, 0.9, 0.1, 0.0, 0.0, 0.0], 4)
    assert A.class_row_correlation(a, b, 0) == pytest.approx(-0.5)
    with pytest.raises(IndexError, match="class_index 4 out of range for K=4"):
        A.class_row_correlation(a, b, 4)


def test_alignment_curves_over_levels():
    sem = sym([1, 2, 3, 4, 5, 6], 4)
    levels = [
        {"shallow": np.ones((4, 4)), "deep": sym([0.1, 0.4, 0.2, 0.9, 0.5, 0.3], 4)},
        {"shallow": sym([6, 5, 4, 3, 2, 1], 4), "deep": sem * 0.1},
    ]
    curves = A.alignment_curve(levels, sem)
    assert list(curves) == ["shallow", "deep"]
    assert np.isnan(curves["shallow"][0]) and curves["shallow"][1] == pytest.approx(-1.0)
    np.testing.assert_allclose(curves["deep"], [17 / 35, 1.0])
    rows = A.class_row_curve(levels, sem, 0)  # row 0 of deep: [0.1, 0.4, 0.2] vs [1, 2, 3] -> 0.5, then 1
    np.testing.assert_allclose(rows["deep"], [0.5, 1.0])
    with pytest.raises(ValueError, match="level 1 has groups"):
        A.alignment_curve([{"a": sem}, {"b": sem}], sem)
    with pytest.raises(ValueError, match="empty"):
        A.alignment_curve([], sem)


def test_mantel_test():
    rng = np.random.default_rng(0)
    a = sym(list(rng.random(15)), 6)
    rho, p = A.mantel_test(a, a * 2 + 1, n_permutations=199, seed=0)
    # only relabellings that keep every pair's rank reach |rho| = 1 (the identity, with prob. 1/720)
    assert rho == pytest.approx(1.0) and p < 0.02
    rho2, p2 = A.mantel_test(a, sym(list(rng.random(15)), 6), n_permutations=199, seed=0)
    assert p2 >= 1 / 200 and -1 <= rho2 <= 1
    assert A.mantel_test(a, a * 2 + 1, n_permutations=199, seed=0) == (rho, p)  # seeded
    with pytest.raises(ValueError, match="undefined"):
        A.mantel_test(np.ones((4, 4)), sym([1, 2, 3, 4, 5, 6], 4), n_permutations=10, seed=0)


def _load_script():
    spec = importlib.util.spec_from_file_location("make_wordnet_table", REPO / "scripts" / "make_wordnet_table.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_lexnames_parser_on_a_synthetic_man_page(tmp_path):
    script = _load_script()
    kinds = ["adj.all", "adj.pert", "adv.all"] + [f"noun.x{i}" for i in 3 + np.arange(26)] + [
        f"verb.y{i}" for i in range(15)] + ["adj.ppl"]
    man = tmp_path / "lexnames.5WN"
    man.write_text(".TS\n" + "".join(f"{i:02d}\t{n}\tdescription {i}\n" for i, n in enumerate(kinds)) + ".TE\n")
    lines = script.lexnames_from_man(man).splitlines()
    assert len(lines) == 45 and lines[0] == "00\tadj.all\t3" and lines[3] == "03\tnoun.x3\t1"
    assert lines[29] == "29\tverb.y0\t2" and lines[44] == "44\tadj.ppl\t3"
    man.write_text("00\tadj.all\tall\n")
    with pytest.raises(ValueError, match="expected lexicographer files 00..44"):
        script.lexnames_from_man(man)


def test_shipped_tables_regenerate_identically(tmp_path):
    """Runs only where nltk and Debian's wordnet-base are installed (not project dependencies)."""
    pytest.importorskip("nltk")
    if not Path("/usr/share/wordnet/data.noun").is_file():
        pytest.skip("Debian package wordnet-base is not installed")
    _load_script().main(["--out", str(tmp_path)])
    for name in ("cifar10", "fashion_mnist"):
        new = json.loads((tmp_path / f"wordnet_{name}.json").read_text())
        old = A.wordnet_table_info(name)
        assert new["synsets"] == old["synsets"] and new["matrix"] == old["matrix"]
