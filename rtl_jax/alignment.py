"""Semantic alignment of ticket masks with WordNet class similarity (paper Section 5.5, Fig. 3).

The paper correlates mask Jaccard matrices with WordNet path similarity between class names (Spearman
rank correlation), per depth group, across sparsity levels (Fig. 3A) and training stages (Fig. 3B), and
per class over one row of the matrices (Fig. 3C/D). It does not say which entries enter the correlation;
we use the K(K−1)/2 off-diagonal upper-triangle pairs for whole matrices (45 for 10 classes) and the
K−1 off-diagonal entries of one row for a class (rtl-paper §6, "inference").

The WordNet tables are generated offline by ``scripts/make_wordnet_table.py`` (Debian ``wordnet-base``
read with NLTK) and shipped as JSON in ``rtl_jax/resources/`` with their synset choices and provenance;
this module never imports NLTK.

Spearman p-values from ``scipy.stats.spearmanr`` assume independent pairs, which the entries of a
similarity matrix are not (each class appears in K−1 pairs). :func:`mantel_test` gives the matching
permutation test (relabel the classes of one matrix).
"""
from __future__ import annotations

import json
import warnings
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

import numpy as np
from scipy import stats


def _resource_dir():
    """``rtl_jax/resources`` (package data, declared in setup.cfg ``[options.package_data]``)."""
    return resources.files("rtl_jax").joinpath("resources")


# --------------------------------------------------------------------------- WordNet tables
def available_wordnet_tables() -> list[str]:
    """Names of the shipped tables (``wordnet_<name>.json`` in ``rtl_jax/resources``)."""
    files = _resource_dir().iterdir()
    names = [f.name for f in files]
    return sorted(n[len("wordnet_") : -len(".json")] for n in names if n.startswith("wordnet_") and n.endswith(".json"))


def wordnet_table_info(name: str) -> dict[str, Any]:
    """The whole table: class names, synsets (+ definitions, notes), path lengths, matrix, provenance."""
    known = available_wordnet_tables()
    if name not in known:
        raise ValueError(f"unknown WordNet table {name!r}; available: {known}")
    table = json.loads(_resource_dir().joinpath(f"wordnet_{name}.json").read_text())
    k = len(table["class_names"])
    m = np.asarray(table["matrix"], dtype=np.float64)
    if m.shape != (k, k):
        raise ValueError(f"WordNet table {name!r}: matrix shape {m.shape} does not match {k} class names")
    return table


def load_wordnet_table(name: str) -> tuple[list[str], np.ndarray]:
    """``(class_names, [K, K] path-similarity matrix)`` of a shipped table ("cifar10", "fashion_mnist")."""
    table = wordnet_table_info(name)
    return list(table["class_names"]), np.asarray(table["matrix"], dtype=np.float64)


def semantic_matrix(name: str, class_names: Sequence[str]) -> np.ndarray:
    """The table's matrix re-indexed to ``class_names`` (the tickets' order); unknown names raise."""
    names, m = load_wordnet_table(name)
    index = {c: i for i, c in enumerate(names)}
    missing = [c for c in class_names if c not in index]
    if missing:
        raise ValueError(f"class names {missing} are not in WordNet table {name!r} (classes: {names})")
    if len(set(class_names)) != len(class_names):
        raise ValueError(f"class_names has duplicates: {list(class_names)}")
    idx = np.array([index[c] for c in class_names])
    return m[np.ix_(idx, idx)]


# --------------------------------------------------------------------------- correlations
def _square(name: str, a) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"{name} must be a square [K, K] matrix, got shape {a.shape}")
    return a


def _spearman(x: np.ndarray, y: np.ndarray, what: str) -> float:
    """Spearman rho of two vectors; NaN (undefined) if either is constant; raises on non-finite input."""
    for nm, v in (("first", x), ("second", y)):
        if not np.all(np.isfinite(v)):
            raise ValueError(f"{what}: the {nm} input has non-finite values: {v.tolist()}")
    if len(x) < 2:
        raise ValueError(f"{what}: need at least 2 pairs, got {len(x)}")
    if np.all(x == x[0]) or np.all(y == y[0]):
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return float(stats.spearmanr(x, y).statistic)


def upper_pairs(a) -> np.ndarray:
    """The off-diagonal upper-triangle entries ``a[i, j], i < j`` (row-major), length K(K−1)/2."""
    a = _square("matrix", a)
    return a[np.triu_indices(a.shape[0], k=1)]


def spearman_upper(a, b) -> float:
    """Spearman rank correlation between the off-diagonal upper triangles of two ``[K, K]`` matrices.

    Ties get average ranks (scipy). Returns NaN when one triangle is constant (e.g. all masks dense at
    IMP level 0, where every Jaccard is 1): the correlation is undefined there.
    """
    a = _square("first matrix", a)
    b = _square("second matrix", b)
    if a.shape != b.shape:
        raise ValueError(f"matrices differ in shape: {a.shape} vs {b.shape}")
    if a.shape[0] < 3:
        raise ValueError(f"need K >= 3 for a rank correlation over pairs, got K={a.shape[0]}")
    return _spearman(upper_pairs(a), upper_pairs(b), "spearman_upper")


def class_row_correlation(a, b, class_index: int) -> float:
    """Spearman correlation between row ``class_index`` of two matrices, diagonal excluded (K−1 values).

    Fig. 3C/D: how a class's mask overlap with the other classes follows their semantic similarity.
    """
    a = _square("first matrix", a)
    b = _square("second matrix", b)
    if a.shape != b.shape:
        raise ValueError(f"matrices differ in shape: {a.shape} vs {b.shape}")
    k = a.shape[0]
    if int(class_index) != class_index or not 0 <= class_index < k:
        raise IndexError(f"class_index {class_index!r} out of range for K={k}")
    if k < 3:
        raise ValueError(f"need K >= 3 for a row correlation, got K={k}")
    keep = np.arange(k) != class_index
    return _spearman(a[class_index, keep], b[class_index, keep], f"class_row_correlation(row {class_index})")


def _check_levels(jaccard_by_level: Sequence[Mapping[str, Any]]) -> list[str]:
    if len(jaccard_by_level) == 0:
        raise ValueError("jaccard_by_level is empty")
    groups = list(jaccard_by_level[0])
    if not groups:
        raise ValueError("level 0 has no groups")
    for i, lv in enumerate(jaccard_by_level):
        if list(lv) != groups:
            raise ValueError(f"level {i} has groups {list(lv)}, level 0 has {groups}")
    return groups


def alignment_curve(jaccard_by_level: Sequence[Mapping[str, Any]], semantic) -> dict[str, np.ndarray]:
    """``{group: [rho per level]}``: :func:`spearman_upper` of each level's group Jaccard with ``semantic``.

    ``jaccard_by_level`` is one ``{group: [K, K]}`` per level (sparsity level or training stage), all with
    the same groups. NaN marks levels where the correlation is undefined (constant Jaccard).
    """
    groups = _check_levels(jaccard_by_level)
    return {g: np.array([spearman_upper(lv[g], semantic) for lv in jaccard_by_level]) for g in groups}


def class_row_curve(
    jaccard_by_level: Sequence[Mapping[str, Any]], semantic, class_index: int
) -> dict[str, np.ndarray]:
    """``{group: [row correlation per level]}`` for one class (Fig. 3C/D)."""
    groups = _check_levels(jaccard_by_level)
    return {
        g: np.array([class_row_correlation(lv[g], semantic, class_index) for lv in jaccard_by_level]) for g in groups
    }


def mantel_test(a, b, n_permutations: int, seed: int) -> tuple[float, float]:
    """``(rho, p)``: :func:`spearman_upper` and its two-sided Mantel permutation p-value.

    Each permutation relabels the classes of ``a`` (rows and columns together), which keeps the
    dependence between pairs that share a class. ``p = (1 + #{|rho_perm| >= |rho|}) / (1 + n_permutations)``.
    Raises ``ValueError`` when rho is undefined (a constant triangle).
    """
    if int(n_permutations) != n_permutations or n_permutations < 1:
        raise ValueError(f"n_permutations must be a positive int, got {n_permutations!r}")
    a = _square("first matrix", a)
    rho = spearman_upper(a, b)
    if not np.isfinite(rho):
        raise ValueError("Spearman rho is undefined (a constant upper triangle); no Mantel test possible")
    b_pairs = upper_pairs(b)
    rng = np.random.default_rng(seed)
    k = a.shape[0]
    hits = 0
    for _ in range(int(n_permutations)):
        perm = rng.permutation(k)
        r = _spearman(upper_pairs(a[np.ix_(perm, perm)]), b_pairs, "mantel_test")
        hits += bool(abs(r) >= abs(rho) - 1e-12)
    return rho, (1 + hits) / (1 + int(n_permutations))
