"""Class → cluster tables (the paper's Table 5, Fashion-MNIST coarse clusters) and label-free k-means clusters."""
import numpy as np
import pytest

from rtl_jax.data import clusters, partition_by_table
from rtl_jax.data.fashion_mnist import CLASS_NAMES as FMNIST_CLASS_NAMES


def test_cifar100_fine_names_are_canonical():
    names = clusters.CIFAR100_FINE_NAMES
    assert len(names) == 100 and len(set(names)) == 100
    assert list(names) == sorted(names)  # the dataset's label order is alphabetical
    assert names[0] == "apple" and names[1] == "aquarium_fish" and names[99] == "worm"
    assert names.index("maple_tree") == 47 and names.index("tank") == 85 and names.index("woman") == 98


def test_table5_covers_every_class_once():
    table, names = clusters.cifar100_table()
    assert names == ("aquatic animals", "people & objects", "mammals", "reptiles & insects", "vehicles",
                     "natural scenes", "fruits", "flowers")
    assert len(table) == 100
    assert [table.count(k) for k in range(8)] == [9, 28, 22, 15, 8, 9, 4, 5]  # the paper's cluster sizes
    fine = clusters.CIFAR100_FINE_NAMES
    # the paper's deliberate imperfections, and a few ordinary members
    assert table[fine.index("dinosaur")] == 0 and table[fine.index("tank")] == 4
    assert table[fine.index("crab")] == 3 and table[fine.index("lobster")] == 3 and table[fine.index("mushroom")] == 3
    assert table[:4] == (6, 0, 1, 2)  # apple fruits, aquarium_fish aquatic, baby people, bear mammals
    assert table[-1] == 3 and table[-2] == 1  # worm, woman
    part = partition_by_table(np.arange(100), table, names)
    assert part.sizes().tolist() == [9, 28, 22, 15, 8, 9, 4, 5]


def test_fashion_mnist_coarse_table():
    assert clusters.FASHION_MNIST_NAMES == FMNIST_CLASS_NAMES
    table, names = clusters.fashion_mnist_coarse_table()
    assert names == ("tops", "bottoms/dresses", "footwear", "bags")
    assert table == (0, 1, 0, 1, 0, 2, 0, 2, 3, 2)


@pytest.mark.parametrize(
    "table, match",
    [
        ({"a": ("x", "y"), "b": ("z",)}, r"1 classes are in no cluster: \['w'\]"),
        ({"a": ("x", "y", "w"), "b": ("z", "x")}, r"class 'x' is in cluster 'a' and again in cluster 'b'"),
        ({"a": ("x", "x", "y", "w", "z")}, r"class 'x' is in cluster 'a' and again in cluster 'a'"),
        ({"a": ("x", "y", "w", "z", "v")}, r"unknown class 'v'"),
        ({"a": ("x", "y", "w", "z"), "b": ()}, r"cluster 'b' is empty"),
        ({"a": "xywz"}, r"cluster 'a' must be a sequence of class names"),
        ({}, r"clusters is empty"),
    ],
)
def test_cluster_table_validation_names_the_problem(table, match):
    with pytest.raises(ValueError, match=match):
        clusters.cluster_table(table, ("w", "x", "y", "z"))


def test_cluster_table_order_and_duplicate_class_names():
    table, names = clusters.cluster_table({"late": ("z", "w"), "early": ("x", "y")}, ("w", "x", "y", "z"))
    assert table == (0, 1, 1, 0) and names == ("late", "early")
    with pytest.raises(ValueError, match=r"duplicate names \['x'\]"):
        clusters.cluster_table({"a": ("x",)}, ("x", "x"))


def test_check_class_names():
    clusters.check_class_names(("a", "b"), ("a", "b"), what="t")
    with pytest.raises(ValueError, match=r"t: dataset class names differ.*\(1, 'b', 'c'\)"):
        clusters.check_class_names(("a", "b"), ("a", "c"), what="t")


def test_canonical_cluster_ids():
    assert clusters.canonical_cluster_ids([5, 5, 2, 7, 2]) == (0, 0, 1, 2, 1)
    assert clusters.canonical_cluster_ids(np.array([1, 0, 1])) == (0, 1, 0)


def test_class_mean_embeddings_by_hand():
    # four points on the x axis, centred at 3: PCA-1 coordinates are ±(-3, -1, 1, 3); class means ±(-2, 2)
    x = np.array([[0.0, 0.0], [2.0, 0.0], [4.0, 0.0], [6.0, 0.0]])
    emb = clusters.class_mean_embeddings(x, np.array([0, 0, 1, 1]), 2, dim=1)
    assert emb.shape == (2, 1)
    np.testing.assert_allclose(np.abs(emb[:, 0]), [2.0, 2.0])
    assert emb[0, 0] == pytest.approx(-emb[1, 0])
    with pytest.raises(ValueError, match=r"classes \[2\] have no images"):
        clusters.class_mean_embeddings(x, np.array([0, 0, 1, 1]), 3, dim=1)
    with pytest.raises(ValueError, match=r"dim must be in 1..2 \(N=4, D=2\), got 3"):
        clusters.class_mean_embeddings(x, np.array([0, 0, 1, 1]), 2, dim=3)
    with pytest.raises(ValueError, match=r"labels must lie in 0..1"):
        clusters.class_mean_embeddings(x, np.array([0, 0, 1, 2]), 2, dim=1)


def test_kmeans_table_groups_separated_points():
    emb = np.array([[10.0, 10.0], [0.0, 0.0], [10.0, 11.0], [0.0, 1.0], [0.0, 0.5], [10.0, 10.5]])
    for seed in (0, 1, 7):
        assert clusters.kmeans_table(emb, 2, seed=seed) == (0, 1, 0, 1, 1, 0)
    assert clusters.kmeans_table(emb, 1, seed=0) == (0,) * 6
    with pytest.raises(ValueError, match=r"num_clusters must be in 1..6"):
        clusters.kmeans_table(emb, 7, seed=0)


def test_cluster_classes_from_embeddings_on_images():
    # 6 classes of 5 "images" 4x4: classes 0, 3, 4 bright on the left half, classes 1, 2, 5 on the right
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(6), 5)
    x = rng.normal(0.0, 0.05, (30, 4, 4, 1))
    left = np.isin(y, [0, 3, 4])
    x[left, :, :2] += 1.0
    x[~left, :, 2:] += 1.0
    table = clusters.cluster_classes_from_embeddings(x, y, 6, 2, dim=3, seed=0)
    assert table == (0, 1, 1, 0, 0, 1)
    assert clusters.cluster_classes_from_embeddings(x, y, 6, 2, dim=3, seed=5) == table
