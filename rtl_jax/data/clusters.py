"""Class → cluster tables for the cluster-ticket experiments, and label-free clusters from embeddings.

* :data:`CIFAR100_CLUSTERS`: the paper's 8 CIFAR-100 clusters (App. B, Table 5; rtl-paper.md §7.3), written
  with the dataset's canonical fine class names (:data:`CIFAR100_FINE_NAMES`, alphabetical, the order of
  ``fine_label_names`` in ``cifar-100-python/meta`` and of TFDS ``cifar100``'s ``label``). The paper built
  them from CLIP text embeddings of the class names → UMAP → HDBSCAN with unreported hyper-parameters;
  they are deliberately imperfect (dinosaur is aquatic, crab/lobster/mushroom sit with reptiles & insects,
  tank is a vehicle) and are reproduced here as printed.
* :data:`FASHION_MNIST_COARSE`: 4 coarse Fashion-MNIST clusters (tops; bottoms/dresses; footwear; bags),
  the offline stand-in for the CIFAR-100 cluster experiment.
* :func:`cluster_table` turns ``{cluster name: class names}`` into the ``table[c] = cluster`` tuple that
  :func:`rtl_jax.data.partition_by_table` and ``SubsetConfig(kind="table")`` take, after checking that
  the clusters cover every class exactly once (:func:`validate_cluster_classes`).
* :func:`cluster_classes_from_embeddings`: clusters without cluster labels. Embedding (documented choice):
  flatten the training images, project onto their first ``dim`` principal components (PCA fit on the
  training images, ``svd_solver="full"``), and embed each class as the mean of its images' projections;
  then k-means (scikit-learn, ``n_init=10``, ``random_state=seed``) groups the class embeddings. The
  class labels are used only to group images into classes (as the paper's text embeddings of class names
  do); no cluster label is used. Cluster ids are renumbered by their smallest class index, so the result
  is deterministic in ``seed`` and independent of k-means' arbitrary label order.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

#: The 100 CIFAR-100 fine class names in the dataset's canonical (alphabetical) order.
CIFAR100_FINE_NAMES: tuple[str, ...] = (
    "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle", "bottle",
    "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar", "cattle",
    "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch", "crab", "crocodile", "cup", "dinosaur",
    "dolphin", "elephant", "flatfish", "forest", "fox", "girl", "hamster", "house", "kangaroo", "keyboard",
    "lamp", "lawn_mower", "leopard", "lion", "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain",
    "mouse", "mushroom", "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree",
    "plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road", "rocket",
    "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake", "spider",
    "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank", "telephone", "television", "tiger",
    "tractor", "train", "trout", "tulip", "turtle", "wardrobe", "whale", "willow_tree", "wolf", "woman", "worm",
)

#: The paper's Table 5: 8 CIFAR-100 clusters (sizes 9, 28, 22, 15, 8, 9, 4, 5), in the paper's order.
CIFAR100_CLUSTERS: dict[str, tuple[str, ...]] = {
    "aquatic animals": ("aquarium_fish", "dinosaur", "dolphin", "flatfish", "ray", "seal", "shark", "trout",
                        "whale"),
    "people & objects": ("baby", "bed", "bicycle", "bottle", "bowl", "boy", "bridge", "can", "castle", "chair",
                         "clock", "couch", "cup", "girl", "house", "keyboard", "lamp", "man", "plain", "plate",
                         "road", "rocket", "skyscraper", "table", "telephone", "television", "wardrobe", "woman"),
    "mammals": ("bear", "beaver", "camel", "cattle", "chimpanzee", "elephant", "fox", "hamster", "kangaroo",
                "leopard", "lion", "mouse", "otter", "porcupine", "possum", "rabbit", "raccoon", "shrew", "skunk",
                "squirrel", "tiger", "wolf"),
    "reptiles & insects": ("bee", "beetle", "butterfly", "caterpillar", "cockroach", "crab", "crocodile", "lizard",
                           "lobster", "mushroom", "snail", "snake", "spider", "turtle", "worm"),
    "vehicles": ("bus", "lawn_mower", "motorcycle", "pickup_truck", "streetcar", "tank", "tractor", "train"),
    "natural scenes": ("cloud", "forest", "maple_tree", "mountain", "oak_tree", "palm_tree", "pine_tree", "sea",
                       "willow_tree"),
    "fruits": ("apple", "orange", "pear", "sweet_pepper"),
    "flowers": ("orchid", "poppy", "rose", "sunflower", "tulip"),
}

#: Fashion-MNIST class names as the dataset names them (``rtl_jax.data.fashion_mnist.CLASS_NAMES``).
FASHION_MNIST_NAMES: tuple[str, ...] = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)

#: 4 coarse Fashion-MNIST clusters (platform-notes §3): the stand-in for the CIFAR-100 clusters.
FASHION_MNIST_COARSE: dict[str, tuple[str, ...]] = {
    "tops": ("T-shirt/top", "Pullover", "Coat", "Shirt"),
    "bottoms/dresses": ("Trouser", "Dress"),
    "footwear": ("Sandal", "Sneaker", "Ankle boot"),
    "bags": ("Bag",),
}


def validate_cluster_classes(clusters: Mapping[str, Sequence[str]], class_names: Sequence[str]) -> None:
    """Check that ``clusters`` covers every name of ``class_names`` exactly once.

    Raises ``ValueError`` naming the problem: no clusters, an empty cluster, duplicate class names in
    ``class_names``, a class in two clusters (or twice in one), an unknown class, or missing classes.
    """
    if not clusters:
        raise ValueError("clusters is empty: give at least one cluster")
    names = list(class_names)
    dup_names = sorted({n for n in names if names.count(n) > 1})
    if dup_names:
        raise ValueError(f"class_names has duplicate names {dup_names}")
    known = set(names)
    seen: dict[str, str] = {}
    for cluster, members in clusters.items():
        if isinstance(members, str):
            raise ValueError(f"cluster {cluster!r} must be a sequence of class names, got the string {members!r}")
        if len(members) == 0:
            raise ValueError(f"cluster {cluster!r} is empty")
        for m in members:
            if m not in known:
                raise ValueError(f"cluster {cluster!r} names unknown class {m!r}")
            if m in seen:
                raise ValueError(f"class {m!r} is in cluster {seen[m]!r} and again in cluster {cluster!r}")
            seen[m] = cluster
    missing = [n for n in names if n not in seen]
    if missing:
        raise ValueError(f"{len(missing)} classes are in no cluster: {missing}")


def cluster_table(clusters: Mapping[str, Sequence[str]],
                  class_names: Sequence[str]) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """``(table, cluster_names)``: ``table[c]`` is the cluster index (in ``clusters``' order) of class
    ``class_names[c]``. Validated first (:func:`validate_cluster_classes`)."""
    validate_cluster_classes(clusters, class_names)
    index = {m: i for i, members in enumerate(clusters.values()) for m in members}
    return tuple(index[n] for n in class_names), tuple(clusters)


def cifar100_table() -> tuple[tuple[int, ...], tuple[str, ...]]:
    """The paper's Table 5 as ``(table over the 100 canonical fine classes, the 8 cluster names)``."""
    return cluster_table(CIFAR100_CLUSTERS, CIFAR100_FINE_NAMES)


def fashion_mnist_coarse_table() -> tuple[tuple[int, ...], tuple[str, ...]]:
    """The 4 coarse Fashion-MNIST clusters as ``(table over the 10 classes, cluster names)``."""
    return cluster_table(FASHION_MNIST_COARSE, FASHION_MNIST_NAMES)


def check_class_names(expected: Sequence[str], actual: Sequence[str], *, what: str) -> None:
    """Raise ``ValueError`` when a dataset's class names differ from the names a table was written for
    (so a table is never applied to a differently ordered label set)."""
    expected, actual = tuple(expected), tuple(actual)
    if expected != actual:
        diff = [(i, e, a) for i, (e, a) in enumerate(zip(expected, actual, strict=False)) if e != a][:5]
        raise ValueError(f"{what}: dataset class names differ from the table's ({len(actual)} vs {len(expected)} "
                         f"names; first differences (index, table, dataset): {diff})")


def class_mean_embeddings(x: np.ndarray, y: np.ndarray, num_classes: int, *, dim: int) -> np.ndarray:
    """``[num_classes, dim]``: each class's mean of the images' first ``dim`` principal components.

    PCA is fit on all of ``x`` (flattened, float64, centred; exact SVD, so deterministic). Raises
    ``ValueError`` for mismatched lengths, labels outside ``0..num_classes-1``, a class without images, or
    ``dim`` outside ``1..min(N, D)``.
    """
    x = np.asarray(x)
    y = np.asarray(y)
    if x.ndim < 2 or y.ndim != 1 or len(x) != len(y):
        raise ValueError(f"x must be [N, ...] and y [N] with equal N, got shapes {x.shape} and {y.shape}")
    if num_classes < 1 or y.min() < 0 or y.max() >= num_classes:
        raise ValueError(f"labels must lie in 0..{num_classes - 1}, got range {y.min()}..{y.max()}")
    empty = sorted(set(range(num_classes)) - set(np.unique(y).tolist()))
    if empty:
        raise ValueError(f"classes {empty} have no images; cannot embed them")
    flat = x.reshape(len(x), -1).astype(np.float64)
    if not 1 <= dim <= min(flat.shape):
        raise ValueError(f"dim must be in 1..{min(flat.shape)} (N={flat.shape[0]}, D={flat.shape[1]}), got {dim}")
    from sklearn.decomposition import PCA

    z = PCA(n_components=dim, svd_solver="full").fit_transform(flat)
    return np.stack([z[y == c].mean(axis=0) for c in range(num_classes)])


def canonical_cluster_ids(labels: Sequence[int]) -> tuple[int, ...]:
    """Renumber cluster ids by first appearance (cluster of class 0 becomes 0, the next new one 1, ...)."""
    order: dict[int, int] = {}
    for lab in labels:
        order.setdefault(int(lab), len(order))
    return tuple(order[int(lab)] for lab in labels)


def kmeans_table(embeddings: np.ndarray, num_clusters: int, *, seed: int) -> tuple[int, ...]:
    """k-means (``n_init=10``, ``random_state=seed``) of one embedding row per class → canonical table."""
    embeddings = np.asarray(embeddings, np.float64)
    if embeddings.ndim != 2:
        raise ValueError(f"embeddings must be [num_classes, dim], got shape {embeddings.shape}")
    if not 1 <= num_clusters <= len(embeddings):
        raise ValueError(f"num_clusters must be in 1..{len(embeddings)} (the number of classes), got {num_clusters}")
    from sklearn.cluster import KMeans

    labels = KMeans(n_clusters=num_clusters, n_init=10, random_state=seed).fit_predict(embeddings)
    table = canonical_cluster_ids(labels)
    if len(set(table)) != num_clusters:
        raise ValueError(f"k-means found {len(set(table))} non-empty clusters, asked for {num_clusters} "
                         "(duplicate class embeddings?)")
    return table


def cluster_classes_from_embeddings(x: np.ndarray, y: np.ndarray, num_classes: int, num_clusters: int, *,
                                    dim: int = 32, seed: int = 0) -> tuple[int, ...]:
    """Label-free class clusters: k-means over per-class means of PCA-``dim`` image features.

    Returns ``table`` with ``table[c]`` = cluster of class ``c``, ids ``0..num_clusters-1`` numbered by
    their smallest class; deterministic in ``seed`` (see the module docstring for the embedding).
    """
    emb = class_mean_embeddings(x, y, num_classes, dim=dim)
    return kmeans_table(emb, num_clusters, seed=seed)
